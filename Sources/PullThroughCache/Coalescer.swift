import Synchronization

/// One operation per key at a time: callers asking for a key while its operation runs share its
/// result instead of starting their own. The operation runs in a task of its own, so the caller
/// that started it going away (a client disconnecting) does not cancel it for the others.
final class Coalescer<Value: Sendable>: Sendable {
    private let running = Mutex<[String: Task<Value, any Error>]>([:])

    /// `operation`'s result for `key`; `joined` is called when the caller joins one under way.
    /// The operation should look for a stored result first: a caller that arrives just after the
    /// previous operation ended starts a new one.
    func value(_ key: String, joined: () -> Void, _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let (task, started) = running.withLock { tasks -> (Task<Value, any Error>, Bool) in
            if let task = tasks[key] { return (task, false) }
            let task = Task { [self] in
                defer { finished(key) }
                return try await operation()
            }
            tasks[key] = task
            return (task, true)
        }
        if !started { joined() }
        return try await task.value
    }

    private func finished(_ key: String) {
        _ = running.withLock { $0.removeValue(forKey: key) }
    }
}
