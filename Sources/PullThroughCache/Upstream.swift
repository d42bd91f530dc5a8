import Foundation
import OCI
import RegistryClient
import Synchronization

/// One upstream registry as the cache talks to it: the client (its own credentials, tokens cached
/// per scope by the client's session), the rate-limit circuit, the remembered 404s and when each
/// cached tag was last checked. All of it lives in memory: after a restart every tag is checked
/// once more and the circuit starts closed.
final class Upstream: Sendable {
    let settings: UpstreamSettings
    let client: RegistryClient
    private let observer: any CacheObserver
    private let notFoundTTL: Duration
    private let state = Mutex(State())

    private struct State {
        /// No request goes upstream before this instant (a 429's `Retry-After`).
        var closedUntil: ContinuousClock.Instant?
        var notFound: [String: ContinuousClock.Instant] = [:]
        var checked: [String: ContinuousClock.Instant] = [:]
    }

    /// The upstream answered 404: the caller words it for what it asked.
    struct NotFound: Error {}

    /// 60 s when a 429 names no `Retry-After` (Docker Hub's limits reset by the hour; asking
    /// again every second would only extend them).
    static let defaultRetryAfter = 60

    init(_ settings: UpstreamSettings, cache: CacheSettings, observer: any CacheObserver) throws {
        self.settings = settings
        self.observer = observer
        notFoundTTL = cache.notFoundTTL
        var options = ClientOptions()
        options.credentials = settings.credentials
        options.scheme = settings.url.scheme
        // The cache answers clients that are waiting: an upstream that fails is reported (and
        // cached content served) now, not after a round of backoff.
        options.retryTimes = 0
        options.responseTimeout = cache.upstreamTimeout
        options.idleReadTimeout = cache.idleReadTimeout
        options.realmsNearRegistryOnly = true
        client = try RegistryClient(registry: settings.host, options: options)
    }

    var name: String { settings.host }

    /// Runs one upstream request unless the circuit is open, and sorts its failure into what the
    /// cache acts on: `NotFound`, `CacheError.rateLimited` or `CacheError.upstreamUnavailable`.
    func request<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        if let seconds = secondsClosed() { throw CacheError.rateLimited(upstream: name, retryAfter: seconds) }
        do {
            let value = try await operation()
            observer.upstreamRequest(upstream: name, outcome: "2xx")
            return value
        } catch let error as ClientError {
            switch error {
            case .status(_, 404, _, _):
                observer.upstreamRequest(upstream: name, outcome: "404")
                throw NotFound()
            case .rateLimited(_, let retryAfter):
                observer.upstreamRequest(upstream: name, outcome: "429")
                let seconds = retryAfter ?? Self.defaultRetryAfter
                openCircuit(for: seconds)
                throw CacheError.rateLimited(upstream: name, retryAfter: seconds)
            case .status(_, let status, _, _):
                observer.upstreamRequest(upstream: name, outcome: status >= 500 ? "5xx" : status >= 300 && status < 400 ? "3xx" : "4xx")
                throw CacheError.upstreamUnavailable(upstream: name, reason: error.description)
            case .authentication:
                observer.upstreamRequest(upstream: name, outcome: "4xx")
                throw CacheError.upstreamUnavailable(upstream: name, reason: error.description)
            case .transport(_, let why):
                observer.upstreamRequest(upstream: name, outcome: Self.isTimeout(why) ? "timeout" : "error")
                throw CacheError.upstreamUnavailable(upstream: name, reason: why)
            case .digestMismatch, .sizeMismatch, .invalidResponse:
                observer.upstreamRequest(upstream: name, outcome: "error")
                throw CacheError.upstreamUnavailable(upstream: name, reason: error.description)
            }
        } catch let error as NotFound {
            observer.upstreamRequest(upstream: name, outcome: "404")
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            observer.upstreamRequest(upstream: name, outcome: "error")
            throw CacheError.upstreamUnavailable(upstream: name, reason: "\(error)")
        }
    }

    private static func isTimeout(_ why: String) -> Bool {
        let lowered = why.lowercased()
        return lowered.contains("timed out") || lowered.contains("timeout") || lowered.contains("deadline")
    }

    // MARK: the rate-limit circuit

    /// Seconds until the circuit closes, or nil when requests may go.
    func secondsClosed() -> Int? {
        let now = ContinuousClock.now
        let (remaining, closedNow) = state.withLock { state -> (Duration?, Bool) in
            guard let until = state.closedUntil else { return (nil, false) }
            if until <= now {
                state.closedUntil = nil
                return (nil, true)
            }
            return (until - now, false)
        }
        if closedNow { observer.circuit(upstream: name, open: false) }
        return remaining.map { max(Int(($0 / .seconds(1)).rounded(.up)), 1) }
    }

    private func openCircuit(for seconds: Int) {
        let until = ContinuousClock.now + .seconds(seconds)
        state.withLock { $0.closedUntil = max($0.closedUntil ?? until, until) }
        observer.circuit(upstream: name, open: true)
    }

    // MARK: remembered 404s

    func isKnownMissing(_ key: String) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let until = state.notFound[key] else { return false }
            if until <= now { state.notFound[key] = nil }
            return until > now
        }
    }

    func rememberMissing(_ key: String) {
        guard notFoundTTL > .zero else { return }
        let now = ContinuousClock.now
        state.withLock { state in
            // Expired entries go whenever the table grows large, so it stays bounded by traffic.
            if state.notFound.count > 10_000 { state.notFound = state.notFound.filter { $0.value > now } }
            state.notFound[key] = now + notFoundTTL
        }
    }

    func forgetMissing(_ key: String) { state.withLock { _ = $0.notFound.removeValue(forKey: key) } }

    // MARK: tag freshness

    /// Whether a cached tag was checked within `tagrecheck`.
    func isFresh(_ key: String) -> Bool {
        guard settings.tagRecheck > .zero else { return false }
        let now = ContinuousClock.now
        return state.withLock { state in state.checked[key].map { now - $0 < settings.tagRecheck } ?? false }
    }

    func markChecked(_ key: String) {
        let now = ContinuousClock.now
        state.withLock { state in
            if state.checked.count > 100_000 { state.checked = state.checked.filter { now - $0.value < settings.tagRecheck } }
            state.checked[key] = now
        }
    }
}
