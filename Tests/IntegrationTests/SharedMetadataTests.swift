import Foundation
import TestSupport
import Testing

/// Two servers on one PostgreSQL database: what one writes, the other serves at once, its read
/// cache invalidated by the change feed (LISTEN/NOTIFY).
@Suite(.enabled(if: PostgresCluster.installed || Interop.required))
struct SharedMetadataTests {
    @Test func aMovedOrDeletedTagIsSeenByTheOtherServer() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-shared-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let database = try await TestBackend.database(for: root)
        let a = try await TestServer.start(root: root) { $0.postgres = database }
        let b = try await TestServer.start(root: root) { $0.postgres = database }
        defer { Task { await a.stop(); await b.stop() } }
        let writer = HTTP(a), reader = HTTP(b)
        let first = Fixtures.image(layers: 1), second = Fixtures.image(layers: 1)
        #expect(try await writer.push(first, to: "team/app", as: "v1").status == 201)
        // Read twice on the other server: the second answer comes from its cache.
        for _ in 0..<2 { #expect(try await reader.get("/v2/team/app/manifests/v1").body == first.manifest) }
        #expect(try await writer.push(second, to: "team/app", as: "v1").status == 201)
        #expect(try await seen(reader, "/v2/team/app/manifests/v1") { $0.body == second.manifest })
        #expect(try await reader.get("/v2/team/app/tags/list").json["tags"] as? [String] == ["v1"])
        #expect(try await writer.send(.DELETE, "/v2/team/app/manifests/v1").status == 202)
        #expect(try await seen(reader, "/v2/team/app/manifests/v1") { $0.status == 404 })
        #expect(try await seen(reader, "/v2/team/app/tags/list") { ($0.json["tags"] as? [String]) == [] })
    }

    @Test func aBrokenFeedTurnsCachingOffUntilItIsBack() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-shared-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let database = try await TestBackend.database(for: root)
        let a = try await TestServer.start(root: root) { $0.postgres = database }
        let b = try await TestServer.start(root: root) { $0.postgres = database }
        defer { Task { await a.stop(); await b.stop() } }
        let writer = HTTP(a), reader = HTTP(b)
        let images = (0..<3).map { _ in Fixtures.image(layers: 1) }
        #expect(try await writer.push(images[0], to: "team/app", as: "v1").status == 201)
        for _ in 0..<2 { #expect(try await reader.get("/v2/team/app/manifests/v1").body == images[0].manifest) }
        // Both servers' LISTEN connections are cut (as a database restart or a proxy would).
        try await Interop.shell(
            "psql -h 127.0.0.1 -p \(database.port) -U berth -d \(database.database) -qAtc "
                + "\"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()\" >/dev/null")
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await writer.push(images[1], to: "team/app", as: "v1").status == 201)
        #expect(try await seen(reader, "/v2/team/app/manifests/v1") { $0.body == images[1].manifest })
        // The feed comes back by itself (a second later): both servers listen again.
        var listening = ""
        for _ in 0..<40 where listening != "2" {
            try await Task.sleep(for: .milliseconds(100))
            listening = try await Interop.run(
                "/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(database.port), "-U", "berth", "-d", database.database, "-qAtc",
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"]
            ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(listening == "2")
        for _ in 0..<2 { #expect(try await reader.get("/v2/team/app/manifests/v1").body == images[1].manifest) }
        #expect(try await writer.push(images[2], to: "team/app", as: "v1").status == 201)
        #expect(try await seen(reader, "/v2/team/app/manifests/v1") { $0.body == images[2].manifest })
    }

    /// Whether `path` answers as `expected` within a second (notifications arrive at commit, a
    /// fraction of a millisecond on loopback; the bound is for a loaded machine).
    func seen(_ http: HTTP, _ path: String, _ expected: (Reply) -> Bool) async throws -> Bool {
        for _ in 0..<20 {
            if expected(try await http.get(path)) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
