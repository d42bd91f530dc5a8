import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Testing

/// `http.tls.certificate`/`key`: the registry over HTTPS, with a throwaway self-signed certificate.
@Suite(.enabled(if: Interop.enabled("openssl"), "openssl is not installed"))
struct TLSTests {
    @Test func servesOverTLSIncludingLargeBlobs() async throws {
        let openssl = try Interop.tool("openssl")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let made = try await Interop.run(
            openssl,
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert])
        #expect(made.status == 0)

        let server = try await TestServer.start {
            $0.tlsCertificate = cert
            $0.tlsKey = key
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        do {
            let data = Fixtures.random(1 << 20)
            let digest = Fixtures.digest(data)
            var push = HTTPClientRequest(url: "https://127.0.0.1:\(server.port)/v2/team/app/blobs/uploads/?digest=\(digest)")
            push.method = .POST
            push.body = .bytes(ByteBuffer(bytes: data))
            #expect(try await client.execute(push, timeout: .seconds(30)).status.code == 201)
            let pull = try await client.execute(
                HTTPClientRequest(url: "https://127.0.0.1:\(server.port)/v2/team/app/blobs/\(digest)"), timeout: .seconds(30))
            #expect(pull.status.code == 200)
            let body = try await pull.body.collect(upTo: 2 << 20)
            #expect(Array(body.readableBytesView) == data)
        } catch {
            try? await client.shutdown()
            await server.cleanup()
            throw error
        }
        try await client.shutdown()
        await server.cleanup()
    }

    /// `--cert-dir` trusts a private CA's `*.crt`; without it, or with `--tls-verify` left on against
    /// plain HTTP, the command fails with one line.
    @Test func certDirectoriesAreTrustedAndVerificationIsTheDefault() async throws {
        let openssl = try Interop.tool("openssl")
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let certs = berth.path("certs")
        try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
        let cert = "\(certs)/registry.crt"
        let key = berth.path("key.pem")
        let made = try await Interop.run(
            openssl,
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert])
        #expect(made.status == 0, "\(made.stderr)")
        let server = try await TestServer.start {
            $0.tlsCertificate = cert
            $0.tlsKey = key
        }
        do {
            let layout = berth.home.appendingPathComponent("layout")
            _ = try await OCILayoutFixture.standard(at: layout)
            let image = "docker://127.0.0.1:\(server.port)/team/app:v1"
            let untrusted = try await berth.run(["copy", "--retry-times", "0", "oci:\(layout.path):v1", image])
            #expect(untrusted.status == 1 && untrusted.stderr.hasPrefix("berth: ") && untrusted.stderr.split(separator: "\n").count == 1, "\(untrusted.stderr)")
            try await berth.succeed(["copy", "-q", "--dest-cert-dir", certs, "oci:\(layout.path):v1", image])
            try await berth.succeed(["inspect", "--cert-dir", certs, image])
            try await berth.succeed(["inspect", "--tls-verify=false", image])
        } catch {
            await server.cleanup()
            throw error
        }
        await server.cleanup()
        try await withServer { plain, _ in
            let refused = try await berth.run(["inspect", "--retry-times", "0", "docker://127.0.0.1:\(plain.port)/team/app:v1"])
            #expect(refused.status == 1 && refused.stderr.hasPrefix("berth: "), "\(refused.stderr)")
        }
    }
}
