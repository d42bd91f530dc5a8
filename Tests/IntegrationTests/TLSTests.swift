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
}
