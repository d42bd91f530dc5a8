import AsyncHTTPClient
import Foundation
import ObjectStorage
import RegistryServer
import RegistryStorage
import TestSupport
import Synchronization
import Testing

/// Backends failing under load: PostgreSQL stopped and started again, S3 answering 500s for a
/// while. Requests fail with 503 and a spec error body while a backend is gone (they do not hang),
/// readiness names it, service resumes by itself, and nothing a client was told is stored is lost
/// or damaged.
/// Each test picks its backends, so the suite runs in the first pass of `scripts/test` only.
@Suite(.serialized, .enabled(if: !TestBackend.scaled && ((MotoS3.enabled && PostgresCluster.installed) || Interop.required)))
struct FaultTests {
    /// Pushes images one after another until `stop` says so; returns those acknowledged (201).
    /// A request that gets no answer at all (the HTTP client's 60 s read timeout) is recorded as
    /// an issue: a backend failing must cost an error answer, never a hung request.
    static func pushUntilStopped(
        _ http: HTTP, worker: Int, counting count: Counter = Counter(), stop: @escaping @Sendable () -> Bool
    ) async -> [(String, Fixtures.Image)] {
        var acknowledged: [(String, Fixtures.Image)] = []
        var number = 0
        while !stop() && number < 500 {
            number += 1
            let image = Fixtures.image(layers: 2, layerSize: 64 << 10)
            let tag = "w\(worker)-\(number)"
            do {
                if try await http.push(image, to: "load/app", as: tag).status == 201 {
                    acknowledged.append((tag, image))
                    count.add()
                }
            } catch let error as HTTPClientError where error == .readTimeout || error == .deadlineExceeded {
                Issue.record("push \(tag) got no answer: \(error)")
            } catch {
                // A failed request (an error answer, a refused body) is what an outage costs.
            }
        }
        return acknowledged
    }

    /// Whether `/readyz` turns 200 again by itself (bounded: 20 s).
    static func readyAgain(_ debug: HTTP) async throws -> Bool {
        for _ in 0..<80 {
            if try await debug.get("/readyz").status == 200 { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return false
    }

    /// Every acknowledged image is served whole: manifest by tag, every blob's bytes.
    static func checkIntact(_ http: HTTP, _ pushed: [(String, Fixtures.Image)]) async throws {
        for (tag, image) in pushed {
            let manifest = try await http.get("/v2/load/app/manifests/\(tag)")
            #expect(manifest.status == 200 && manifest.body == image.manifest, "\(tag): \(manifest.status)")
            for blob in [image.config] + image.layers {
                let reply = try await http.get("/v2/load/app/blobs/\(Fixtures.digest(blob))")
                #expect(reply.status == 200 && reply.body == blob, "\(tag): blob \(reply.status)")
            }
        }
    }

    @Test func postgresStoppedMidLoadCostsFailedRequestsNotData() async throws {
        let cluster = PostgresCluster()
        let database = try await cluster.database()
        var settings = PostgresSettings(host: "127.0.0.1", user: "berth", database: database.name)
        settings.port = database.port
        settings.sslMode = .disable
        settings.maxOpen = 8
        // Short enough to see the 503 soon, long enough for a fresh cluster on a loaded machine.
        settings.connectTimeout = .seconds(5)
        let bucket = try await MotoS3.shared.settings()
        let server = try await TestServer.start { config in
            config.postgres = settings
            config.s3 = bucket
            config.redirect = false
            config.debugAddress = ("127.0.0.1", 0)
        }
        try await withCleanup {
            let http = HTTP(server), debug = HTTP(base: "http://127.0.0.1:\(try #require(server.debugPort))")
            let stopped = Flag(), acknowledged = Counter()
            let workers = (0..<3).map { worker in Task { await Self.pushUntilStopped(http, worker: worker, counting: acknowledged, stop: stopped.get) } }
            // Some pushes acknowledged before the outage (bounded wait: a loaded machine is slow).
            for _ in 0..<300 where acknowledged.value < 6 { try await Task.sleep(for: .milliseconds(100)) }
            #expect(acknowledged.value >= 6)

            try await cluster.stop()
            // While it is down: a spec error with 503, not a wait for the database to come back.
            let started = ContinuousClock.now
            let down = try await http.get("/v2/load/app/tags/list")
            #expect(down.status == 503 && down.errorCode == "UNAVAILABLE", "\(down.status) \(down.text)")
            #expect(ContinuousClock.now - started < .seconds(30), "bounded by connecttimeout, not by the HTTP client's timeout")
            let ready = try await debug.get("/readyz")
            #expect(ready.status == 503 && ready.text.contains("database"), "\(ready.text)")
            try await Task.sleep(for: .seconds(1))

            try await cluster.restart()
            #expect(try await Self.readyAgain(debug), "service resumes by itself")
            let after = Fixtures.image(layers: 1)
            #expect(try await http.push(after, to: "load/app", as: "after-restart").status == 201)
            try await Task.sleep(for: .seconds(2))
            stopped.set()
            var pushed: [(String, Fixtures.Image)] = [("after-restart", after)]
            for worker in workers { pushed += await worker.value }
            try await Self.checkIntact(http, pushed)
            let tags = try await http.get("/v2/load/app/tags/list").json["tags"] as? [String] ?? []
            #expect(Set(pushed.map(\.0)).isSubset(of: Set(tags)))
        } cleanup: {
            await server.cleanup()
        }
    }

    @Test func s3Answering500sSlowsPushesAndCorruptsNothing() async throws {
        let moto = try await MotoS3.shared.settings()
        let proxy = try await FaultyS3Proxy(upstream: moto.location.endpoint)
        var bucket = moto
        bucket.location.endpoint = proxy.endpoint
        let server = try await TestServer.start { config in
            config.s3 = bucket
            config.redirect = false
            config.debugAddress = ("127.0.0.1", 0)
        }
        try await withCleanup {
            let http = HTTP(server), debug = HTTP(base: "http://127.0.0.1:\(try #require(server.debugPort))")

            // A few failures in a row: the retries absorb them and the push succeeds.
            try await proxy.fail(next: 4)
            // Small enough for single-object writes: moto itself has answered 500 to a multipart
            // UploadPart under the full suite's load, which no retry count can absorb.
            let absorbed = Fixtures.image(layers: 1, layerSize: 1 << 20)
            #expect(try await http.push(absorbed, to: "load/app", as: "absorbed").status == 201)
            #expect(try await proxy.failures() >= 4)
            try await Self.checkIntact(http, [("absorbed", absorbed)])

            // S3 failing for longer than the retries last: 503 with a spec error, readiness names it.
            try await proxy.failAll()
            let refused = Fixtures.image(layers: 1)
            let blob = try await http.send(.POST, "/v2/load/app/blobs/uploads/?digest=\(Fixtures.digest(refused.layers[0]))", body: refused.layers[0])
            #expect(blob.status == 503 && blob.errorCode == "UNAVAILABLE", "\(blob.status) \(blob.text)")
            let ready = try await debug.get("/readyz")
            #expect(ready.status == 503 && ready.text.contains("storage"), "\(ready.text)")
            let stopped = Flag()
            let workers = (0..<2).map { worker in Task { await Self.pushUntilStopped(http, worker: worker, stop: stopped.get) } }
            try await Task.sleep(for: .seconds(2))
            try await proxy.heal()
            #expect(try await Self.readyAgain(debug), "service resumes by itself")
            try await Task.sleep(for: .seconds(2))
            stopped.set()
            var pushed: [(String, Fixtures.Image)] = [("absorbed", absorbed)]
            for worker in workers { pushed += await worker.value }
            #expect(try await http.push(refused, to: "load/app", as: "refused-then-retried").status == 201)
            pushed.append(("refused-then-retried", refused))
            try await Self.checkIntact(http, pushed)
        } cleanup: {
            await server.cleanup()
        }
    }
}

/// A count tasks add to and others read.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// A flag one task sets and others read.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    @Sendable func get() -> Bool { value.withLock { $0 } }
}
