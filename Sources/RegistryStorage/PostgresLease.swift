import Foundation
import PostgresNIO

extension PostgresClient {
    /// Runs `body` on one of the pool's connections, waiting at most `limit` for one, then
    /// throwing `unavailable`. With the database unreachable the pool waits for it to come back —
    /// and does not always notice a cancelled wait — so every request would wait with it; bounded,
    /// they fail with 503 at once and the pool keeps reconnecting. `body` runs only while the
    /// caller is still waiting: a connection that arrives after the limit is released unused.
    func withConnection<T: Sendable>(
        within limit: Duration, unavailable: @escaping @Sendable () -> any Error, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withoutActuallyEscaping(body) { body in
            let attempt = LeaseAttempt<T>(body)
            let timer = Task {
                try? await Task.sleep(for: limit)
                attempt.abandon(unavailable())
            }
            defer { timer.cancel() }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    attempt.wait(continuation)
                    Task {
                        do {
                            try await self.withConnection { connection in await attempt.run(on: connection) }
                        } catch {
                            attempt.abandon(error)
                        }
                    }
                }
            } onCancel: {
                attempt.abandon(CancellationError())
            }
        }
    }
}

/// One wait for a connection: it ends either with the pool handing one over (the body runs, its
/// result answers) or with the caller giving up (timeout, cancellation, a pool error) — whichever
/// comes first, once. The body is dropped as soon as the outcome is known, so it never outlives
/// the caller's `withoutActuallyEscaping`.
private final class LeaseAttempt<T: Sendable>: @unchecked Sendable {
    private enum State {
        case waiting(((PostgresConnection) async throws -> T)?, CheckedContinuation<T, any Error>?)
        case running(CheckedContinuation<T, any Error>?)
        case over
    }

    // Unchecked: `state` is only touched under `lock`, and the closure taken out of it is called
    // by the one task that took it.
    private let lock = NSLock()
    private var state: State

    init(_ body: @escaping (PostgresConnection) async throws -> T) {
        state = .waiting(body, nil)
    }

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let abandoned = lock.withLock { () -> Bool in
            guard case .waiting(let body, _) = state else { return true }
            state = .waiting(body, continuation)
            return false
        }
        if abandoned { continuation.resume(throwing: CancellationError()) }
    }

    /// Runs the body on `connection` unless the caller gave up meanwhile.
    func run(on connection: PostgresConnection) async {
        guard let result = await runBody(on: connection) else { return }
        finish(result)
    }

    /// The body's result; its own frame, so the closure is released before the caller resumes.
    private func runBody(on connection: PostgresConnection) async -> Result<T, any Error>? {
        let body = lock.withLock { () -> ((PostgresConnection) async throws -> T)? in
            guard case .waiting(let body, let continuation) = state else { return nil }
            state = .running(continuation)
            return body
        }
        guard let body else { return nil }
        do { return .success(try await body(connection)) } catch { return .failure(error) }
    }

    private func finish(_ result: Result<T, any Error>) {
        let continuation = lock.withLock { () -> CheckedContinuation<T, any Error>? in
            guard case .running(let continuation) = state else { return nil }
            state = .over
            return continuation
        }
        continuation?.resume(with: result)
    }

    /// Gives up while still waiting for a connection; once the body runs, its result answers.
    func abandon(_ error: any Error) {
        let continuation = lock.withLock { () -> CheckedContinuation<T, any Error>? in
            guard case .waiting(_, let continuation) = state else { return nil }
            state = .over
            return continuation
        }
        continuation?.resume(throwing: error)
    }
}
