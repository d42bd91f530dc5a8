import Foundation
import NIOCore
import OCI
import RegistryClient
import Testing
import TestSupport

/// The registry client against `berth serve` (plain HTTP on loopback) and against Debian's docker-registry.
@Suite struct RegistryClientTests {
    func client(_ port: Int) throws -> RegistryClient {
        var options = ClientOptions()
        options.tlsVerify = false
        options.retryDelay = .milliseconds(10)
        return try RegistryClient(registry: "127.0.0.1:\(port)", options: options)
    }

    /// Pushes an image through the client and reads everything back, verified.
    func roundTrip(_ client: RegistryClient) async throws {
        let repo = try RepositoryName(parsing: "team/client")
        let image = Fixtures.image(layers: 2, layerSize: 200_000)
        try await client.ping()
        for blob in [image.config] + image.layers {
            let digest = Digest.of(blob)
            #expect(try await client.blobSize(repo, digest) == nil)
            try await client.pushBlob(repo, digest, size: Int64(blob.count)) { Chunked(bytes: blob) }
            #expect(try await client.blobSize(repo, digest) == Int64(blob.count))
            var fetched: [UInt8] = []
            try await client.fetchBlob(repo, digest, size: Int64(blob.count)) { fetched += $0.readableBytesView }
            #expect(fetched == blob)
        }
        let tag = try Tag(parsing: "v1")
        let pushed = try await client.putManifest(repo, .tag(tag), mediaType: MediaType.ociManifest, bytes: image.manifest)
        #expect(pushed.description == image.digest)
        let byTag = try await client.manifest(repo, .tag(tag))
        #expect(byTag.bytes == image.manifest && byTag.digest == pushed && byTag.mediaType == MediaType.ociManifest)
        #expect(try await client.manifest(repo, .digest(pushed)).bytes == image.manifest)
        try await client.putManifest(repo, .tag(try Tag(parsing: "v2")), mediaType: MediaType.ociManifest, bytes: image.manifest)
        #expect(try await client.tags(repo).sorted() == ["v1", "v2"])

        let other = try RepositoryName(parsing: "team/mounted")
        #expect(try await client.mount(Digest.of(image.config), into: other, from: repo))
        #expect(try await client.blobSize(other, Digest.of(image.config)) == Int64(image.config.count))

        try await client.deleteManifest(repo, pushed)
        do {
            _ = try await client.manifest(repo, .tag(tag))
            Issue.record("manifest still there after delete")
        } catch let error as ClientError {
            #expect(error.isNotFound)
        }
    }

    @Test func roundTripAgainstBerth() async throws {
        try await withServer { server, _ in try await roundTrip(client(server.port)) }
    }

    @Test(.enabled(if: Interop.enabled("docker-registry"), "docker-registry is not installed (apt-get install docker-registry)"))
    func roundTripAgainstDockerRegistry() async throws {
        let registry = try await DockerRegistryProcess()
        defer { registry.stop() }
        try await roundTrip(client(registry.port))
    }

    @Test func aCorruptedBlobIsRejected() async throws {
        try await withServer { server, http in
            let data = Fixtures.random(300_000)
            let digest = try Digest(parsing: try await http.pushBlob("team/app", data))
            var corrupted = data
            corrupted[150_000] ^= 0xff
            try await StoredBlobs.overwrite(server, digest.description, with: corrupted)
            await #expect(throws: ClientError.digestMismatch(expected: digest, actual: Digest.of(corrupted))) {
                try await client(server.port).fetchBlob(try RepositoryName(parsing: "team/app"), digest) { _ in }
            }
        }
    }

    @Test func errorsNameTheURLAndTheCode() async throws {
        try await withServer { server, _ in
            do {
                _ = try await client(server.port).manifest(try RepositoryName(parsing: "no/such"), .tag(try Tag(parsing: "v1")))
                Issue.record("expected an error")
            } catch let error as ClientError {
                #expect(error.description == "http://127.0.0.1:\(server.port)/v2/no/such/manifests/v1: manifest unknown (404)")
            }
        }
    }
}

/// Bytes as an async sequence of 64 KiB buffers, re-creatable for each request.
struct Chunked: AsyncSequence, Sendable {
    let bytes: [UInt8]
    struct AsyncIterator: AsyncIteratorProtocol {
        let bytes: [UInt8]
        var offset = 0
        mutating func next() async throws -> ByteBuffer? {
            guard offset < bytes.count else { return nil }
            let end = Swift.min(offset + 65536, bytes.count)
            defer { offset = end }
            return ByteBuffer(bytes: bytes[offset..<end])
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes) }
}

/// Debian's `docker-registry` (CNCF distribution 2.8) on a free loopback port with a temporary root.
final class DockerRegistryProcess: @unchecked Sendable {
    private(set) var process: Spawned?
    let port: Int
    let root: URL

    /// `extraConfig` is YAML appended to the template (e.g. an `auth:` section).
    init(extraConfig: String = "") async throws {
        let binary = try Interop.tool("docker-registry")
        port = try freePort()
        root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-distribution-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let config = root.appendingPathComponent("config.yml")
        let template = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("testdata/docker-registry.yml")
        let yaml = try String(contentsOf: template, encoding: .utf8)
            .replacingOccurrences(of: "@ROOT@", with: "\(root.path)/data")
            .replacingOccurrences(of: "@PORT@", with: String(port))
        try Data((yaml + extraConfig.replacingOccurrences(of: "@ROOT@", with: root.path)).utf8).write(to: config)
        process = try Spawn.start(binary, ["serve", config.path])
        let http = HTTP(base: "http://127.0.0.1:\(port)")
        // Bounded at 30 s (startup is quick; the whole suite running beside it is not).
        for _ in 0..<600 {
            if let status = (try? await http.get("/v2/"))?.status, status == 200 || status == 401 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw TestFailure("docker-registry did not come up on port \(port)")
    }

    /// Stops the registry and removes its storage.
    func stop() {
        terminate()
        try? FileManager.default.removeItem(at: root)
    }

    /// Stops the registry, keeping its storage (under `root/data`).
    func terminate() {
        guard let process, process.isRunning else { return }
        process.signal(SIGTERM)
        if process.wait(timeout: .seconds(10)) == nil {
            process.signal(SIGKILL)
            _ = process.wait(timeout: .seconds(10))
        }
    }
}
