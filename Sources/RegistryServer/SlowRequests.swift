import Foundation
import Hummingbird
import Logging
import Synchronization

/// The requests in flight, so that one still unanswered after `limit` is logged (once, as a
/// warning) while it goes on: a request that hangs names its route even if it never ends. A
/// request costs an insert and a removal under a lock; one task started with the server looks
/// them over every quarter of `limit`, rather than a timer per request.
final class SlowRequests: Sendable {
    let limit: Duration
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var next: UInt64 = 0
        var running: [UInt64: (began: ContinuousClock.Instant, request: Request)] = [:]
    }

    init(limit: Duration, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    /// Registers a request (kept as it is: it is described only if it turns out slow); its token for `end`.
    func begin(_ request: Request) -> UInt64 {
        let began = ContinuousClock.now
        return state.withLock { state in
            state.next += 1
            state.running[state.next] = (began, request)
            return state.next
        }
    }

    func end(_ token: UInt64) { _ = state.withLock { $0.running.removeValue(forKey: token) } }

    /// Logs the requests older than `limit` (each once) until cancelled.
    func watch() async {
        var reported = Set<UInt64>()
        while !Task.isCancelled {
            try? await Task.sleep(for: limit / 4)
            let now = ContinuousClock.now
            let slow = state.withLock { state in state.running.filter { now - $0.value.began >= limit } }
            for (token, running) in slow.sorted(by: { $0.key < $1.key }) where !reported.contains(token) {
                logger.warning("\(running.request.method) \(running.request.uri.path): still unanswered after \(limit)")
            }
            reported = Set(slow.keys)
        }
    }
}
