import Synchronization
import Testing

@testable import RegistryStorage

/// The gate commits share and the collector holds alone: shared holders overlap, the exclusive
/// one waits for them and keeps later commits out until it is done.
struct BlobGateTests {
    /// Who is inside the gate at once, and the most seen together.
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
        var most: Int { state.withLock { $0.most } }
        var order: [String] { state.withLock { $0.order } }
    }

    @Test func commitsOverlap() async throws {
        let gate = BlobGate()
        let seen = Occupancy()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    await gate.holding(exclusive: false) {
                        seen.enter("commit \(i)")
                        try? await Task.sleep(for: .milliseconds(100))
                        seen.leave()
                    }
                }
            }
        }
        #expect(seen.most > 1)
    }

    @Test func theCollectorIsAloneAndCommitsArrivingAfterItWait() async throws {
        let gate = BlobGate()
        let seen = Occupancy()
        let (firstInside, signal) = AsyncStream<Void>.makeStream()
        let first = Task {
            await gate.holding(exclusive: false) {
                seen.enter("first commit")
                signal.yield()
                try? await Task.sleep(for: .milliseconds(300))
                seen.leave()
            }
        }
        for await _ in firstInside { break }
        let collector = Task {
            await gate.holding(exclusive: true) {
                seen.enter("collector")
                try? await Task.sleep(for: .milliseconds(100))
                seen.leave()
            }
        }
        // The later commit comes once the collector waits (bounded: 10 s).
        for _ in 0..<1000 where await gate.queued == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await gate.queued == 1)
        let later = Task {
            await gate.holding(exclusive: false) {
                seen.enter("later commit")
                seen.leave()
            }
        }
        await first.value
        await collector.value
        await later.value
        #expect(seen.order == ["first commit", "collector", "later commit"])
        #expect(seen.most == 1)
    }
}
