import Foundation
import OCI
import TestSupport
import Testing

/// Three `berth serve` processes on one S3 bucket (moto) and one PostgreSQL database, behind
/// HAProxy balancing every request round robin with no stickiness: one registry.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: Interop.berthBinary) && (Interop.required || Interop.path(of: "haproxy") != nil)))
struct ReplicaTests {
    /// The replicas' ports, the balancer's, and the processes to stop.
    final class Cluster: @unchecked Sendable {
        // Built and torn down by one test at a time.
        var replicas: [Spawned] = []
        var ports: [Int] = []
        var balancer: Spawned?
        var balancerPort = 0
        let work: URL

        init() { work = FileManager.default.temporaryDirectory.appendingPathComponent("berth-replicas-\(UUID().uuidString)") }

        /// SIGTERM to each, its exit awaited (then SIGKILL) without holding a thread of the
        /// cooperative pool, which the rest of the suite's servers need.
        func stop() async {
            for process in replicas + [balancer].compactMap({ $0 }) { await process.stop() }
            if ProcessInfo.processInfo.environment["BERTH_KEEP_REPLICAS"] == nil { try? FileManager.default.removeItem(at: work) }
        }
    }

    func withCluster(_ body: (Cluster) async throws -> Void) async throws {
        let cluster = Cluster()
        try await withCleanup {
            try await run(cluster, body)
        } cleanup: {
            await cluster.stop()
        }
    }

    private func run(_ cluster: Cluster, _ body: (Cluster) async throws -> Void) async throws {
        try FileManager.default.createDirectory(at: cluster.work, withIntermediateDirectories: true)
        let s3 = try await MotoS3.shared.settings()
        let database = try await PostgresCluster.shared.database()
        for n in 0..<3 {
            let port = try freePort()
            let config = cluster.work.appendingPathComponent("replica-\(n).yml")
            try Data("""
                version: 0.1
                log:
                  level: error
                storage:
                  s3:
                    region: us-east-1
                    regionendpoint: \(s3.location.endpoint.absoluteString)
                    bucket: \(s3.location.bucket)
                    rootdirectory: /berth
                    chunksize: 5242880
                \(database.yaml)http:
                  addr: 127.0.0.1:\(port)
                berth:
                  database:
                    path: \(cluster.work.path)/unused-\(n).sqlite
                """.utf8).write(to: config)
            let log = cluster.work.appendingPathComponent("replica-\(n).log")
            let logFile = open(log.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            defer { close(logFile) }
            let process = try Spawn.start(
                Interop.berthBinary, ["serve", "--config", config.path],
                environment: ["AWS_ACCESS_KEY_ID": "AKIDREPLICA", "AWS_SECRET_ACCESS_KEY": "replica-secret", "PATH": "/usr/bin:/bin"], stderr: logFile)
            cluster.replicas.append(process)
            cluster.ports.append(port)
        }
        for port in cluster.ports { try await waitUp(port) }
        cluster.balancerPort = try freePort()
        let haproxyConfig = cluster.work.appendingPathComponent("haproxy.cfg")
        try Data("""
            defaults
              mode http
              timeout connect 5s
              timeout client 10m
              timeout server 10m
              retries 3
              option redispatch
            frontend registry
              bind 127.0.0.1:\(cluster.balancerPort)
              default_backend replicas
            backend replicas
              balance roundrobin
            \(cluster.ports.enumerated().map { "  server r\($0.offset) 127.0.0.1:\($0.element)" }.joined(separator: "\n"))

            """.utf8).write(to: haproxyConfig)
        cluster.balancer = try Spawn.start(try Interop.tool("haproxy"), ["-db", "-f", haproxyConfig.path])
        try await waitUp(cluster.balancerPort)
        try await body(cluster)
    }

    /// Until the port accepts connections (a plain connect: the HTTP client would wait out its
    /// connect timeout on a refused port), then until `/v2/` answers.
    func waitUp(_ port: Int) async throws {
        for _ in 0..<150 {
            if let socket = try? RawSocket(port: port) {
                socket.close()
                guard try await HTTP(base: "http://127.0.0.1:\(port)").get("/v2/").status == 200 else { break }
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("nothing answers on port \(port)")
    }

    @Test func skopeoThroughTheBalancerAndUploadsTagsDeletesAcrossReplicas() async throws {
        try await withCluster { cluster in
            let skopeo = try Interop.tool("skopeo")
            var layout = try OCILayoutFixture(at: cluster.work.appendingPathComponent("src"))
            let image = try await layout.image(architecture: "amd64", layerCount: 3)
            layout.tag("v1", image, mediaType: MediaType.ociManifest)
            try layout.writeIndex()
            let registry = "docker://127.0.0.1:\(cluster.balancerPort)/team/app"
            let push = try await Interop.run(skopeo, ["copy", "--dest-tls-verify=false", "oci:\(layout.directory.path):v1", "\(registry):v1"])
            #expect(push.status == 0, "\(push.stderr)")
            let out = cluster.work.appendingPathComponent("out").path
            let pull = try await Interop.run(skopeo, ["copy", "--src-tls-verify=false", "\(registry):v1", "oci:\(out):v1"])
            #expect(pull.status == 0, "\(pull.stderr)")
            // The same bytes back: skopeo wrote the manifest under the digest it pushed.
            #expect(FileManager.default.fileExists(atPath: "\(out)/blobs/sha256/\(Digest.of(image).encoded)"))
            let replicas = cluster.ports.map { HTTP(base: "http://127.0.0.1:\($0)") }
            for replica in replicas { #expect(try await replica.get("/v2/team/app/manifests/v1").body == image) }

            // One chunked upload: POST on the first, a PATCH on each of the others, PUT on the first.
            let chunks = [Fixtures.random(5 << 20 + 3), Fixtures.random(70_000), Fixtures.random(11)]
            let data = chunks.flatMap { $0 }
            var location = try #require(try await replicas[0].send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            var offset = 0
            for (replica, chunk) in zip([replicas[1], replicas[2]], chunks.prefix(2)) {
                let patch = try await replica.send(.PATCH, location, headers: [("Content-Range", "\(offset)-\(offset + chunk.count - 1)")], body: chunk)
                #expect(patch.status == 202)
                offset += chunk.count
                location = try #require(patch.header("Location"))
            }
            let put = try await replicas[0].send(.PUT, "\(location)\(location.contains("?") ? "&" : "?")digest=\(Fixtures.digest(data))", body: chunks[2])
            #expect(put.status == 201)
            for replica in replicas { #expect(try await replica.send(.HEAD, "/v2/team/app/blobs/\(Fixtures.digest(data))").header("Content-Length") == String(data.count)) }

            // A tag moved on one replica is read on the others; a delete is seen everywhere.
            let moved = Fixtures.image(layers: 1)
            for replica in replicas { _ = try await replica.get("/v2/team/app/manifests/v1") }
            #expect(try await replicas[1].push(moved, to: "team/app", as: "v1").status == 201)
            for replica in replicas { #expect(try await eventually(within: .seconds(10), every: .milliseconds(50)) { try await replica.get("/v2/team/app/manifests/v1").body == moved.manifest }) }
            #expect(try await replicas[2].send(.DELETE, "/v2/team/app/manifests/v1").status == 202)
            for replica in replicas { #expect(try await eventually(within: .seconds(10), every: .milliseconds(50)) { try await replica.get("/v2/team/app/manifests/v1").status == 404 }) }
        }
    }

    @Test func aReplicaKilledDuringParallelPushesLosesNothingAcknowledged() async throws {
        try await withCluster { cluster in
            let balancer = HTTP(base: "http://127.0.0.1:\(cluster.balancerPort)")
            let images = (0..<12).map { _ in Fixtures.image(layers: 2, layerSize: 300_000) }
            let acknowledged = try await withThrowingTaskGroup(of: Fixtures.Image?.self) { group in
                for (n, image) in images.enumerated() {
                    group.addTask {
                        if n == 4 {
                            // Mid-way through the pushes, one replica dies without a word.
                            cluster.replicas[2].signal(SIGKILL)
                        }
                        let reply = try? await balancer.push(image, to: "team/app", as: "t\(n)")
                        return reply?.status == 201 ? image : nil
                    }
                }
                return try await group.reduce(into: [Fixtures.Image]()) { if let image = $1 { $0.append(image) } }
            }
            #expect(!acknowledged.isEmpty)
            // The survivors took the concurrent first pushes into one repository without a crash
            // (their logs stay in the work directory with BERTH_KEEP_REPLICAS=1).
            #expect(cluster.replicas[0].isRunning && cluster.replicas[1].isRunning)
            // Everything a client was told is stored is whole on the survivors, blob by blob.
            for port in cluster.ports.prefix(2) {
                let replica = HTTP(base: "http://127.0.0.1:\(port)")
                for image in acknowledged {
                    #expect(try await replica.get("/v2/team/app/manifests/\(image.digest)").body == image.manifest)
                    for blob in [image.config] + image.layers {
                        let head = try await replica.send(.HEAD, "/v2/team/app/blobs/\(Fixtures.digest(blob))")
                        #expect(head.status == 200 && head.header("Content-Length") == String(blob.count))
                    }
                }
            }
        }
    }
}
