import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PullThroughCache
import RegistryServer
import RegistryStorage
import TestSupport

/// `berth serve` in this process on a free loopback port with a temporary root; `stop()` ends it.
final class TestServer: Sendable {
    let root: URL
    let port: Int
    /// The `http.debug.addr` listener's port, when configured.
    let debugPort: Int?
    /// The server's registry, for tests that drive maintenance directly.
    let registry: Registry
    /// The server's pull-through cache, when configured.
    let cache: PullThroughCache?
    private let task: Task<Void, any Error>

    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts a server; `configure` may change the config (the root and the address are set already).
    static func start(
        root existing: URL? = nil, logger custom: Logger? = nil, _ configure: (inout ServerConfig) -> Void = { _ in }
    ) async throws -> TestServer {
        let root = existing ?? FileManager.default.temporaryDirectory.appendingPathComponent("berth-test-\(UUID().uuidString)")
        var config = ServerConfig()
        config.rootDirectory = root.path
        config.host = "127.0.0.1"
        config.port = 0
        config.logLevel = .warning
        if TestBackend.postgres { config.postgres = try await TestBackend.database(for: root) }
        if TestBackend.s3 {
            config.s3 = try await TestBackend.bucket(for: root)
            // The suite reads blob bodies; the redirects have tests of their own (S3StorageTests).
            config.redirect = false
        }
        configure(&config)
        var logger = custom ?? Logger(label: "berth.test")
        if custom == nil { logger.logLevel = .warning }
        let server: RegistryHTTPServer
        do { server = try await RegistryHTTPServer(config: config, logger: logger) } catch {
            // A server that cannot start leaves no root of ours behind.
            if existing == nil { try? FileManager.default.removeItem(at: root) }
            throw error
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let (debugPorts, debugContinuation) = AsyncStream.makeStream(of: Int.self)
        let task = Task {
            // A server that fails to start ends the stream, so the wait below ends with its error.
            defer { continuation.finish() }
            try await server.run(onListening: { port in continuation.yield(port) }, onDebugListening: { port in debugContinuation.yield(port) })
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            // A server that fails to start (a missing bucket, bad keys) leaves no root of ours behind.
            if existing == nil { try? FileManager.default.removeItem(at: root) }
            try await task.value
            throw TestFailure("server did not start")
        }
        var debugPort: Int?
        if config.debugAddress != nil {
            var debugIterator = debugPorts.makeAsyncIterator()
            debugPort = await debugIterator.next()
        }
        return TestServer(root: root, port: port, debugPort: debugPort, registry: server.registry, cache: server.cache, task: task)
    }

    private init(root: URL, port: Int, debugPort: Int?, registry: Registry, cache: PullThroughCache?, task: Task<Void, any Error>) {
        self.root = root
        self.port = port
        self.debugPort = debugPort
        self.registry = registry
        self.cache = cache
        self.task = task
    }

    /// Stops serving; the root stays so a restart can reuse it. `cleanup()` removes it.
    func stop() async {
        task.cancel()
        _ = await task.result
    }

    func cleanup() async {
        await stop()
        try? FileManager.default.removeItem(at: root)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP exchange's result, body collected.
struct Reply {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first(name: name) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    /// The spec error code of the first error in the body.
    var errorCode: String? { ((json["errors"] as? [[String: Any]])?.first?["code"]) as? String }
}

/// A small HTTP client over AsyncHTTPClient that never follows redirects.
struct HTTP {
    /// Shared by every test, which run in parallel: enough connections per host for the
    /// concurrency tests' 32 simultaneous pushes, and a connect timeout (which also bounds the
    /// wait for a pooled connection) long enough for two busy cores.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(30), read: .seconds(60)))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    let base: String

    init(_ server: TestServer) { base = server.base }
    init(base: String) { self.base = base }

    func send(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws -> Reply {
        let url = path.hasPrefix("http") ? path : base + path
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await Self.client.execute(request, timeout: .seconds(120))
        var collected = try await response.body.collect(upTo: 1 << 30)
        return Reply(
            status: Int(response.status.code), headers: response.headers,
            body: collected.readBytes(length: collected.readableBytes) ?? [])
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Reply { try await send(.GET, path, headers: headers) }
    func head(_ path: String) async throws -> Reply { try await send(.HEAD, path) }
    func delete(_ path: String) async throws -> Reply { try await send(.DELETE, path) }

    /// Pushes a blob with a single monolithic POST and returns its digest string.
    @discardableResult
    func pushBlob(_ repo: String, _ data: [UInt8]) async throws -> String {
        let digest = Fixtures.digest(data)
        let r = try await send(.POST, "/v2/\(repo)/blobs/uploads/?digest=\(digest)", body: data)
        guard r.status == 201 else { throw TestFailure("blob push answered \(r.status): \(r.text)") }
        return digest
    }

    /// Pushes a manifest and returns the reply.
    @discardableResult
    func pushManifest(_ repo: String, _ reference: String, _ body: [UInt8], type: String = "application/vnd.oci.image.manifest.v1+json")
        async throws -> Reply
    {
        try await send(.PUT, "/v2/\(repo)/manifests/\(reference)", headers: [("Content-Type", type)], body: body)
    }
}

/// Runs `body` against a fresh server, stopping and removing it afterwards.
func withServer(
    _ configure: (inout ServerConfig) -> Void = { _ in }, _ body: (TestServer, HTTP) async throws -> Void
) async throws {
    let server = try await TestServer.start(configure)
    try await withCleanup {
        try await body(server, HTTP(server))
    } cleanup: {
        await server.cleanup()
    }
}

/// Which backends the suite runs on: files and SQLite, or with BERTH_TEST_BACKEND=s3-postgres (as
/// the second pass of `scripts/test` sets) blobs in moto's S3, a bucket per server root, and
/// metadata in PostgreSQL, a database per server root.
enum TestBackend {
    static let scaled = ProcessInfo.processInfo.environment["BERTH_TEST_BACKEND"] == "s3-postgres"
    static var postgres: Bool { scaled }
    static var s3: Bool { scaled }

    /// The root's bucket: created on first use and named in the root, like its database.
    static func bucket(for root: URL) async throws -> S3StorageSettings {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let marker = root.appendingPathComponent("test-bucket")
        if let saved = try? String(contentsOf: marker, encoding: .utf8) {
            return try await MotoS3.shared.settings(bucket: saved)
        }
        let settings = try await MotoS3.shared.settings()
        try settings.location.bucket.write(to: marker, atomically: true, encoding: .utf8)
        return settings
    }

    /// The root's database: created on first use and named in the root, so a server restarted on
    /// the same root finds its metadata again.
    static func database(for root: URL) async throws -> PostgresSettings {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let marker = root.appendingPathComponent("test-database")
        let name: String
        if let saved = try? String(contentsOf: marker, encoding: .utf8) {
            name = saved
        } else {
            name = try await PostgresCluster.shared.database().name
            try name.write(to: marker, atomically: true, encoding: .utf8)
        }
        var settings = PostgresSettings(host: "127.0.0.1", user: "berth", database: name)
        settings.port = try await PostgresCluster.shared.database(named: name).port
        settings.sslMode = .disable
        // Dozens of servers run at once in the suite: a few connections each, closed when idle,
        // and a long wait for one (a request waits at most connecttimeout before answering 503;
        // on two cores running the whole suite, 10 s was sometimes not enough).
        settings.maxOpen = 4
        settings.maxIdleTime = .seconds(5)
        settings.connectTimeout = .seconds(60)
        return settings
    }

    /// A config.yml for a `berth` command opening the root's storage and metadata (on the suite's
    /// backends unless told).
    static func configYAML(for root: URL, s3: Bool = s3, postgres: Bool = postgres) async throws -> String {
        var yaml = "version: 0.1\nstorage:\n  redirect:\n    disable: true\n"
        if s3 {
            let settings = try await bucket(for: root)
            yaml += """
                  s3:
                    regionendpoint: \(settings.location.endpoint.absoluteString)
                    region: \(settings.location.region)
                    bucket: \(settings.location.bucket)
                    rootdirectory: \(settings.rootDirectory)
                    forcepathstyle: true
                    accesskey: \(MotoS3.credentials.accessKey)
                    secretkey: \(MotoS3.credentials.secretKey)
                    chunksize: \(settings.chunkSize)

                """
        } else {
            yaml += "  filesystem:\n    rootdirectory: \(root.path)\n"
        }
        if s3 && !postgres { yaml += "berth:\n  database:\n    path: \(root.path)/metadata.sqlite\n" }
        guard postgres else { return yaml }
        return yaml + (try await PostgresCluster.shared.database(named: try await database(for: root).database).yaml)
    }
}
