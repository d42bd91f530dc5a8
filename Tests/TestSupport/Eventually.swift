/// Whether `condition` comes to hold, asked every `every` for at most `within`: for what another
/// process, replica or background task does a little later. The bounds are for a machine running
/// the whole suite on two cores, where "a little later" can be seconds.
public func eventually(
    within: Duration = .seconds(30), every: Duration = .milliseconds(100), _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + within
    while true {
        if try await condition() { return true }
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: every)
    }
}
