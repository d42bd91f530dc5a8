import Foundation
import Synchronization
import Testing

/// `berth serve` killed with SIGKILL at random moments while clients push (monolithic and chunked
/// uploads, manifests), delete tags and the collector runs, then restarted on the same data, round
/// after round (BERTH_CRASH_ROUNDS, 4 by default): everything acknowledged and not deleted is served
/// byte for byte, the metadata database passes its consistency check and every stored blob its
/// digest, and the uploads the crashes left are reclaimed by upload purging.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: Interop.berthBinary) && !TestBackend.scaled, "needs the built berth binary; not rerun on the scaled backends"))
struct CrashLoopTests {
    static let rounds = Int(ProcessInfo.processInfo.environment["BERTH_CRASH_ROUNDS"] ?? "") ?? 4
    /// The collector every 300 ms with a 3 s grace; sessions older than 2 s purged every 200 ms.
    static let settings = [
        "REGISTRY_BERTH_GC_INTERVAL": "300ms", "REGISTRY_BERTH_GC_GRACE": "3s",
        "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE": "2s", "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_INTERVAL": "200ms",
    ]

    /// What the clients were told: tags acknowledged, tags whose delete was sent (acknowledged or not).
    final class Ledger: Sendable {
        private let state = Mutex<(added: [String: Fixtures.Image], deleting: Set<String>)>(([:], []))
        func added(_ tag: String, _ image: Fixtures.Image) { state.withLock { _ = $0.added[tag] = image } }
        func deleting(_ tag: String) { state.withLock { _ = $0.deleting.insert(tag) } }
        var snapshot: (added: [String: Fixtures.Image], deleting: Set<String>) { state.withLock { $0 } }
    }

    static func chunkedPush(_ http: HTTP, _ blob: [UInt8]) async throws -> Bool {
        guard let location = try await http.send(.POST, "/v2/crash/app/blobs/uploads/").header("Location") else { return false }
        let half = blob.count / 2
        let patch = try await http.send(.PATCH, location, headers: [("Content-Range", "0-\(half - 1)")], body: Array(blob[..<half]))
        guard patch.status == 202, let next = patch.header("Location") else { return false }
        let put = try await http.send(
            .PUT, "\(next)\(next.contains("?") ? "&" : "?")digest=\(Fixtures.digest(blob))",
            headers: [("Content-Range", "\(half)-\(blob.count - 1)")], body: Array(blob[half...]))
        return put.status == 201
    }

    /// One client's work until the server dies: pushes (monolithic or chunked), or deletes of older tags.
    static func work(_ http: HTTP, worker: Int, round: Int, older: [String], ledger: Ledger) async {
        var number = 0
        while !Task.isCancelled {
            number += 1
            do {
                if worker == 2 {
                    // Two deletes a round, so most of what earlier rounds pushed is still checked.
                    guard number <= 2, let tag = older.randomElement() else { return }
                    ledger.deleting(tag)
                    _ = try await http.send(.DELETE, "/v2/crash/app/manifests/\(tag)")
                    try await Task.sleep(for: .milliseconds(100))
                    continue
                }
                let image = Fixtures.image(layers: 2, layerSize: Int.random(in: 10_000...400_000))
                for blob in [image.config] + image.layers {
                    if worker == 0 { try await http.pushBlob("crash/app", blob) } else if !(try await chunkedPush(http, blob)) { break }
                }
                let tag = "r\(round)-w\(worker)-\(number)"
                if try await http.pushManifest("crash/app", tag, image.manifest).status == 201 { ledger.added(tag, image) }
            } catch {
                return  // the server is gone
            }
        }
    }

    static func checkServed(_ http: HTTP, _ expected: [String: Fixtures.Image]) async throws {
        for (tag, image) in expected {
            let manifest = try await http.get("/v2/crash/app/manifests/\(tag)")
            #expect(manifest.status == 200 && manifest.body == image.manifest, "\(tag): \(manifest.status)")
            for blob in [image.config] + image.layers {
                let reply = try await http.get("/v2/crash/app/blobs/\(Fixtures.digest(blob))")
                #expect(reply.status == 200 && reply.body == blob, "\(tag): blob \(reply.status)")
            }
        }
    }

    @Test func killedAtRandomMomentsLosesNothingAcknowledged() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-crash-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var expected: [String: Fixtures.Image] = [:]
        var acknowledged = 0
        for round in 0..<Self.rounds {
            let server = try await ServerProcess(root: root, environment: Self.settings)
            let http = HTTP(base: server.base)
            try await Self.checkServed(http, expected)
            let ledger = Ledger()
            let older = Array(expected.keys)
            let workers = (0..<3).map { worker in Task { await Self.work(http, worker: worker, round: round, older: older, ledger: ledger) } }
            // Killed at a random moment once the round has something acknowledged (bounded wait:
            // a loaded machine may take a while for the first push).
            for _ in 0..<200 where ledger.snapshot.added.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            try await Task.sleep(for: .milliseconds(Int.random(in: 100...1200)))
            server.kill()
            for worker in workers { worker.cancel() }
            for worker in workers { await worker.value }
            let (added, deleting) = ledger.snapshot
            acknowledged += added.count
            expected.merge(added) { _, new in new }
            for tag in deleting { expected.removeValue(forKey: tag) }
        }
        #expect(acknowledged >= Self.rounds && !expected.isEmpty, "pushes acknowledged: \(acknowledged), still tagged: \(expected.count)")

        // The last restart: everything served, every upload the crashes left purged.
        let server = try await ServerProcess(root: root, environment: Self.settings)
        let http = HTTP(base: server.base)
        try await Self.checkServed(http, expected)
        let uploads = root.appendingPathComponent("uploads").path
        var left = (try? FileManager.default.contentsOfDirectory(atPath: uploads)) ?? []
        for _ in 0..<50 where !left.isEmpty {
            try await Task.sleep(for: .milliseconds(200))
            left = (try? FileManager.default.contentsOfDirectory(atPath: uploads)) ?? []
        }
        #expect(left.isEmpty, "uploads left: \(left.count)")
        server.kill()

        // Offline: the metadata database is consistent and every blob matches its digest.
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let config = berth.path("config.yml")
        try Data("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: \(root.path)\n".utf8).write(to: URL(fileURLWithPath: config))
        let verified = try await berth.run(["garbage-collect", "--config", config, "--dry-run", "--verify"])
        #expect(verified.status == 0 && verified.stdout.contains("metadata database is consistent"), "\(verified.stdout)\(verified.stderr)")
    }
}
