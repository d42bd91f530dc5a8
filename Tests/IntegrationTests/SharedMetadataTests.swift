import AsyncHTTPClient
import Foundation
import NIOCore
import RegistryServer
import RegistryStorage
import TestSupport
import Testing

/// Two servers on one PostgreSQL database: what one writes, the other serves at once, its read
/// cache invalidated by the change feed (LISTEN/NOTIFY).
@Suite(.enabled(if: PostgresCluster.installed || Interop.required))
struct SharedMetadataTests {
    /// Two servers on one root and one fresh database, stopped and removed afterwards.
    func withTwoServers(
        webhooks: [WebhookEndpoint] = [], _ body: (TestServer, TestServer, PostgresSettings) async throws -> Void
    ) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-shared-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let database = try await TestBackend.database(for: root)
        // The collector runs when a test says so, not on its own schedule.
        let configure = { (config: inout ServerConfig) in
            config.postgres = database
            config.webhooks = webhooks
            config.garbageCollection = nil
        }
        let a = try await TestServer.start(root: root, configure)
        let b = try await TestServer.start(root: root, configure)
        try await withCleanup {
            try await body(a, b, database)
        } cleanup: {
            await a.stop()
            await b.stop()
        }
    }

    @Test func aMovedOrDeletedTagIsSeenByTheOtherServer() async throws {
        try await withTwoServers { (a: TestServer, b: TestServer, _: PostgresSettings) async throws in
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
    }

    @Test func aPatchForAnUploadAnotherServerIsWritingIsRefused() async throws {
        try await withTwoServers { (a: TestServer, b: TestServer, database: PostgresSettings) async throws in
            var location = try #require(try await HTTP(a).send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            let id = try #require(location.split(separator: "?")[0].split(separator: "/").last.map(String.init))
            let data = Fixtures.random(3 << 20)
            // A PATCH on server a whose body arrives slowly: the first MiB, then a pause.
            let (stream, feed) = AsyncStream.makeStream(of: ByteBuffer.self)
            var request = HTTPClientRequest(url: a.base + location)
            request.method = .PATCH
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.body = .stream(stream, length: .known(Int64(2 << 20)))
            let slow = Task { try await HTTP.client.execute(request, timeout: .seconds(60)) }
            feed.yield(ByteBuffer(bytes: data[0..<(1 << 20)]))
            // Bounded wait until server a has marked the session as its own.
            var marked = false
            for _ in 0..<100 where !marked {
                let row = try await Interop.run(
                    "/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(database.port), "-U", "berth", "-d", database.database, "-qAtc",
                    "SELECT busy_until IS NOT NULL FROM uploads WHERE id = '\(id)'"])
                marked = row.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "t"
                if !marked { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(marked)
            let refused = try await HTTP(b).send(.PATCH, location, headers: [("Content-Type", "application/octet-stream")], body: Array(data[(2 << 20)...]))
            #expect(refused.status == 400 && refused.errorCode == "BLOB_UPLOAD_INVALID", "\(refused.status) \(refused.text)")

            feed.yield(ByteBuffer(bytes: data[(1 << 20)..<(2 << 20)]))
            feed.finish()
            let first = try await slow.value
            #expect(first.status == .accepted)
            location = try #require(first.headers.first(name: "Location"))
            // Done on a: the session continues on b, and closes on a with every byte in order.
            let second = try await HTTP(b).send(.PATCH, location, headers: [("Content-Type", "application/octet-stream")], body: Array(data[(2 << 20)...]))
            #expect(second.status == 202 && second.header("Range") == "0-\(data.count - 1)", "\(second.status) \(second.text)")
            let last = try #require(second.header("Location"))
            let put = try await HTTP(a).send(.PUT, "\(last)\(last.contains("?") ? "&" : "?")digest=\(Fixtures.digest(data))")
            #expect(put.status == 201, "\(put.status) \(put.text)")
        }
    }

    @Test func aBrokenFeedTurnsCachingOffUntilItIsBack() async throws {
        try await withTwoServers { a, b, database in
            let writer = HTTP(a), reader = HTTP(b)
            let images = (0..<3).map { _ in Fixtures.image(layers: 1) }
            #expect(try await writer.push(images[0], to: "team/app", as: "v1").status == 201)
            for _ in 0..<2 { #expect(try await reader.get("/v2/team/app/manifests/v1").body == images[0].manifest) }
            // Both servers' LISTEN connections are cut (as a database restart or a proxy would).
            try await Interop.shell(
                "psql -h 127.0.0.1 -p \(database.port) -U berth -d \(database.database) -qAtc "
                    + "\"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database() AND pid <> pg_backend_pid()\" >/dev/null")
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await writer.push(images[1], to: "team/app", as: "v1").status == 201)
            #expect(try await seen(reader, "/v2/team/app/manifests/v1") { $0.body == images[1].manifest })
            // The feed comes back by itself (a second later): both servers listen again.
            var listening = ""
            for _ in 0..<40 where listening != "2" {
                try await Task.sleep(for: .milliseconds(100))
                listening = try await Interop.run(
                    "/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(database.port), "-U", "berth", "-d", database.database, "-qAtc",
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()"]
                ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            #expect(listening == "2")
            for _ in 0..<2 { #expect(try await reader.get("/v2/team/app/manifests/v1").body == images[1].manifest) }
            #expect(try await writer.push(images[2], to: "team/app", as: "v1").status == 201)
            #expect(try await seen(reader, "/v2/team/app/manifests/v1") { $0.body == images[2].manifest })
        }
    }

    @Test func eachWebhookEventIsDeliveredOnceByOneServer() async throws {
        let receiver = WebhookTests.Receiver()
        try await withScriptedServer({ request, _ in try await receiver.handle(request) }) { port in
            var endpoint = WebhookEndpoint(name: "all", url: "http://127.0.0.1:\(port)/all")
            endpoint.timeout = .seconds(20)  // no resend because a loaded machine answered slowly
            try await withTwoServers(webhooks: [endpoint]) { a, b, _ in
                for n in 0..<10 { try await HTTP(n % 2 == 0 ? a : b).push(Fixtures.image(layers: 1), to: "team/app", as: "v\(n)") }
                let pushes = (0..<10).map { "push team/app v\($0) application/vnd.oci.image.manifest.v1+json" }
                for _ in 0..<100 where !Set(receiver.actions("/all")).isSuperset(of: pushes) { try await Task.sleep(for: .milliseconds(100)) }
                try await Task.sleep(for: .milliseconds(600))  // both servers' loops get their chance to send again
                let received = receiver.actions("/all")
                for push in pushes { #expect(received.filter { $0 == push }.count == 1, "\(push): \(received)") }
                #expect(receiver.instanceIDs.withLock { $0.count } == 2, "events were queued by both servers")
            }
        }
    }

    @Test func garbageCollectionOnTwoServersAtOnceDeletesEachBlobOnce() async throws {
        try await withTwoServers { a, b, _ in
            for n in 0..<4 { _ = try await HTTP(a).pushBlob("team/app", Fixtures.random(100 + n)) }
            let later = Date().addingTimeInterval(5)
            async let first = a.registry.metadata.asSoleRunner("garbage collection") { try await a.registry.collectGarbage(grace: 0, now: later) }
            async let second = b.registry.metadata.asSoleRunner("garbage collection") { try await b.registry.collectGarbage(grace: 0, now: later) }
            let reports = [try await first, try await second].compactMap { $0 }
            #expect(reports.flatMap(\.blobs).count == 4, "\(reports)")
            #expect(try await a.registry.statistics().blobs == 0)
        }
    }

    @Test func readinessNamesPostgreSQLWhileItIsUnreachableAndRecovers() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-ready-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let database = try await TestBackend.database(for: root)
        let server = try await TestServer.start(root: root) {
            $0.postgres = database
            $0.debugAddress = ("127.0.0.1", 0)
        }
        let debug = HTTP(base: "http://127.0.0.1:\(try #require(server.debugPort))")
        // Bounded, as OperationsEndpointTests: under the whole second pass on two cores the first
        // probe of storage and database can miss its deadline (seen once).
        #expect(try await FaultTests.readyAgain(debug))
        func sql(_ statement: String) async throws {
            try await Interop.shell("psql -h 127.0.0.1 -p \(database.port) -U berth -d postgres -qAtc \"\(statement)\" >/dev/null")
        }
        // The database refuses connections and every open one is cut.
        try await sql("ALTER DATABASE \(database.database) WITH ALLOW_CONNECTIONS false")
        try await sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database.database)'")
        let down = try await debug.get("/readyz")
        #expect(down.status == 503 && down.text.contains("database not answering (PostgreSQL \(database.location))"), "\(down.text)")
        try await sql("ALTER DATABASE \(database.database) WITH ALLOW_CONNECTIONS true")
        var status = 503
        for _ in 0..<60 where status != 200 {
            try await Task.sleep(for: .milliseconds(250))
            status = try await debug.get("/readyz").status
        }
        #expect(status == 200, "service resumes by itself")
        await server.stop()
    }

    /// Whether `path` answers as `expected` within 10 s (notifications arrive at commit, a
    /// fraction of a millisecond on loopback; the bound is for a machine running the whole suite,
    /// where one second was seen to be too short for a request or two).
    func seen(_ http: HTTP, _ path: String, _ expected: (Reply) -> Bool) async throws -> Bool {
        try await eventually(within: .seconds(10), every: .milliseconds(50)) { expected(try await http.get(path)) }
    }
}
