import AsyncHTTPClient
import Foundation
import NIOCore
import ObjectStorage
import RegistryServer
import RegistryStorage
import TestSupport

/// moto's S3 server on a free loopback port, one per test process, started on first use. It
/// runs under a Python parent that exits when its stdin closes, so the server goes away with
/// the test process however that ends. Each test gets a bucket of its own.
actor MotoS3 {
    static let shared = MotoS3()
    static let credentials = AWSCredentials(accessKey: "AKIDBERTHTEST", secretKey: "berth-test-secret")

    /// The launch, kept so the server (and its pipe) lives as long as the test process.
    private var starting: Task<(url: URL, server: Supervised), any Error>?

    /// Whether S3 tests run: always with BERTH_REQUIRE_INTEROP=1, else when moto's server is installed.
    static var enabled: Bool { Interop.required || Interop.path(of: "moto_server") != nil }

    /// The server's URL, started on first use; callers arriving while it starts wait for the
    /// same start (the actor is re-entrant across the launch's suspension).
    func url() async throws -> URL {
        if let starting { return try await starting.value.url }
        let launch = Task { () async throws -> (url: URL, server: Supervised) in
            let server = try await Supervised.launch(
                python: """
                    import logging, sys
                    from moto.server import ThreadedMotoServer
                    # Not a line per request; an exception's traceback (moto's 500s) still shows.
                    logging.getLogger("werkzeug").setLevel(logging.ERROR)
                    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
                    server.start()
                    print(server.get_host_and_port()[1], flush=True)
                    sys.stdin.read()
                    server.stop()
                    """, showErrors: true)
            // The port, or nothing when moto is missing.
            guard let port = Int(server.firstLine) else { throw TestFailure("moto's S3 server did not start (pip install 'moto[server]')") }
            return (URL(string: "http://127.0.0.1:\(port)")!, server)
        }
        starting = launch
        return try await launch.value.url
    }

    /// A new, empty bucket.
    func bucket() async throws -> (endpoint: URL, bucket: String) {
        let endpoint = try await url()
        let name = "berth-\(UUID().uuidString.lowercased().prefix(18))"
        let reply = try await HTTP(base: endpoint.absoluteString).send(.PUT, "/\(name)")
        guard reply.status == 200 else { throw TestFailure("creating bucket \(name): \(reply.status) \(reply.text)") }
        return (endpoint, name)
    }

    /// `storage.s3` settings for a new bucket, or for `existing` (5 MiB parts, the smallest S3 allows).
    func settings(rootDirectory: String = "/berth", bucket existing: String? = nil) async throws -> S3StorageSettings {
        let (endpoint, bucket): (URL, String)
        if let existing { (endpoint, bucket) = (try await url(), existing) } else { (endpoint, bucket) = try await self.bucket() }
        return S3StorageSettings(
            location: S3Location(endpoint: endpoint, region: "us-east-1", bucket: bucket, pathStyle: true),
            credentials: Self.credentials, rootDirectory: rootDirectory, chunkSize: S3StorageSettings.minimumChunkSize)
    }
}
