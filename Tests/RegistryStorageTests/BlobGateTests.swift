import Synchronization
import TestSupport
import Testing

@testable import RegistryStorage

/// The gate commits share and the collector holds alone: shared holders overlap, the exclusive
/// one waits for them and keeps later commits out until it is done. Each step waits for the one
/// before it (bounded), so a loaded machine changes how long the test takes, not what it sees.
struct BlobGateTests {
    /// Who is inside the gate at once, the most seen together, and the order they came in.
    final class Occupancy: Sendable {
        private let state = Mutex((inside: 0, most: 0, order: [String]()))
        func enter(_ name: String) {
            state.withLock {
                $0.inside += 1
                $0.most = max($0.most, $0.inside)
                $0.order.append(name)
            }
        }
        func leave() { state.withLock { $0.inside -= 1 } }
        var inside: Int { state.withLock { $0.inside } }
        var most: Int { state.withLock { $0.most } }
        var order: [String] { state.withLock { $0.order } }
    }

    @Test func commitsAreInsideTogether() async throws {
        let gate = BlobGate()
        let seen = Occupancy()
        // The first stays until the second is in too: with a gate of one holder at a time, the
        // second never gets in and the first gives up after 10 s.
        let first = Task {
            try await gate.holding(exclusive: false) {
                seen.enter("first")
                _ = try await eventually(within: .seconds(10), every: .milliseconds(10)) { seen.inside == 2 }
                seen.leave()
            }
        }
        _ = try await eventually(within: .seconds(10), every: .milliseconds(10)) { seen.inside == 1 }
        let second = Task {
            await gate.holding(exclusive: false) {
                seen.enter("second")
                seen.leave()
            }
        }
        try await first.value
        await second.value
        #expect(seen.most == 2)
    }

    @Test func theCollectorIsAloneAndCommitsArrivingAfterItWait() async throws {
        let gate = BlobGate()
        let seen = Occupancy()
        let (release, releasing) = AsyncStream<Void>.makeStream()
        let first = Task {
            await gate.holding(exclusive: false) {
                seen.enter("first commit")
                for await _ in release { break }
                seen.leave()
            }
        }
        _ = try await eventually(within: .seconds(10), every: .milliseconds(10)) { seen.inside == 1 }
        let collector = Task {
            await gate.holding(exclusive: true) {
                seen.enter("collector")
                seen.leave()
            }
        }
        _ = try await eventually(within: .seconds(10), every: .milliseconds(10)) { await gate.queued == 1 }
        let later = Task {
            await gate.holding(exclusive: false) {
                seen.enter("later commit")
                seen.leave()
            }
        }
        _ = try await eventually(within: .seconds(10), every: .milliseconds(10)) { await gate.queued == 2 }
        #expect(await gate.queued == 2, "the collector and the later commit wait while the first commit is inside")
        releasing.yield()
        await first.value
        await collector.value
        await later.value
        #expect(seen.order == ["first commit", "collector", "later commit"])
        #expect(seen.most == 1)
    }
}
