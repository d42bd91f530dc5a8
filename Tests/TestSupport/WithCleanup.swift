/// Runs `body`, then `cleanup` however `body` ended: what `defer` does, for clean-ups that must
/// await (stopping a server, removing a user), which a `defer` block cannot.
public func withCleanup<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
    let result: T
    do { result = try await body() } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}
