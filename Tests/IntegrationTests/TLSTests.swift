import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import TestSupport
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
            // Deadlines for a hang, not for speed: under the PostgreSQL + S3 pass on two cores a
            // 1 MiB push once took longer than 30 s.
            #expect(try await client.execute(push, timeout: .seconds(90)).status.code == 201)
            let pull = try await client.execute(
                HTTPClientRequest(url: "https://127.0.0.1:\(server.port)/v2/team/app/blobs/\(digest)"), timeout: .seconds(90))
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
        try await withCleanup {
            let layout = berth.home.appendingPathComponent("layout")
            _ = try await OCILayoutFixture.standard(at: layout)
            let image = "docker://127.0.0.1:\(server.port)/team/app:v1"
            let untrusted = try await berth.run(["copy", "--retry-times", "0", "oci:\(layout.path):v1", image])
            #expect(untrusted.status == 1 && untrusted.stderr.hasPrefix("berth: ") && untrusted.stderr.split(separator: "\n").count == 1, "\(untrusted.stderr)")
            #expect(untrusted.stderr.contains("certificate of 127.0.0.1:\(server.port) is not trusted") && untrusted.stderr.contains("--tls-verify=false"))
            #expect(ClientMessagesTests.plain(untrusted.stderr), "\(untrusted.stderr)")
            try await berth.succeed(["copy", "-q", "--dest-cert-dir", certs, "oci:\(layout.path):v1", image])
            try await berth.succeed(["inspect", "--cert-dir", certs, image])
            try await berth.succeed(["inspect", "--tls-verify=false", image])
            if Interop.enabled("skopeo") {
                let skopeo = try Interop.tool("skopeo")
                #expect(try await Interop.run(skopeo, ["inspect", image]).status != 0, "skopeo does not trust the private CA by default")
                let trusted = try await Interop.run(skopeo, ["inspect", "--cert-dir", certs, image])
                #expect(trusted.status == 0, "\(trusted.stderr)")
                let pushed = try await Interop.run(skopeo, ["copy", "--dest-cert-dir", certs, "oci:\(layout.path):v1", "docker://127.0.0.1:\(server.port)/skopeo/app:v1"])
                #expect(pushed.status == 0, "\(pushed.stderr)")
            }
        } cleanup: {
            await server.cleanup()
        }
        try await withServer { plain, _ in
            let refused = try await berth.run(["inspect", "--retry-times", "0", "docker://127.0.0.1:\(plain.port)/team/app:v1"])
            #expect(refused.status == 1 && refused.stderr.hasPrefix("berth: "), "\(refused.stderr)")
            #expect(refused.stderr.contains("127.0.0.1:\(plain.port) answered in plain HTTP") && refused.stderr.contains("--tls-verify=false"))
            #expect(ClientMessagesTests.plain(refused.stderr), "\(refused.stderr)")
        }
    }
}

extension TLSTests {
    /// A private CA in `dir` that signs `names` (each gets `<name>.pem` and `<name>.key`; the
    /// server names carry the 127.0.0.1 address).
    static func certificates(in dir: String, _ names: [String]) async throws {
        var script = """
            set -e; cd '\(dir)'
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=berth-test-ca -keyout ca.key -out ca.pem 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext

            """
        for name in names {
            script += """
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=\(name) -keyout \(name).key -out \(name).csr 2>/dev/null
                openssl x509 -req -in \(name).csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile san.ext -out \(name).pem 2>/dev/null

                """
        }
        try await Interop.shell(script)
    }

    @Test func clientCertificatesMinimumVersionAndReloadedCertificates() async throws {
        _ = try Interop.tool("openssl")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-mtls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await Self.certificates(in: dir, ["server", "renewed", "client"])
        try await withServer({
            $0.tlsCertificate = "\(dir)/server.pem"
            $0.tlsKey = "\(dir)/server.key"
            $0.clientCAs = ["\(dir)/ca.pem"]
            $0.minimumTLS = .tlsv13
        }) { server, _ in
            let url = "https://127.0.0.1:\(server.port)/v2/"
            func status(clientCertificate: Bool, maximum: TLSVersion? = nil) async -> Int? {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.trustRoots = .file("\(dir)/ca.pem")
                if clientCertificate {
                    tls.certificateChain = (try? NIOSSLCertificate.fromPEMFile("\(dir)/client.pem"))?.map { .certificate($0) } ?? []
                    tls.privateKey = (try? NIOSSLPrivateKey(file: "\(dir)/client.key", format: .pem)).map { .privateKey($0) }
                }
                if let maximum { tls.maximumTLSVersion = maximum }
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
                let code = try? await Int(client.execute(HTTPClientRequest(url: url), timeout: .seconds(10)).status.code)
                try? await client.shutdown()
                return code
            }
            #expect(await status(clientCertificate: true) == 200)
            #expect(await status(clientCertificate: false) == nil, "no client certificate, no handshake")
            #expect(await status(clientCertificate: true, maximum: .tlsv12) == nil, "below http.tls.minimumtls")

            // berth's --cert-dir: the CA as *.crt, the client pair as *.cert/*.key.
            let certs = "\(dir)/certs.d"
            try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(dir)/ca.pem", toPath: "\(certs)/ca.crt")
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let anonymous = try await berth.run(["list-tags", "--cert-dir", certs, "docker://127.0.0.1:\(server.port)/team/app"])
            #expect(anonymous.status == 1 && anonymous.stderr.split(separator: "\n").count == 1, "\(anonymous.stderr)")
            let skopeo = Interop.enabled("skopeo") ? try Interop.tool("skopeo") : nil
            if let skopeo {
                let refused = try await Interop.run(skopeo, ["list-tags", "--cert-dir", certs, "docker://127.0.0.1:\(server.port)/team/app"])
                #expect(refused.status != 0, "skopeo without a client certificate gets no handshake")
            }
            try FileManager.default.copyItem(atPath: "\(dir)/client.pem", toPath: "\(certs)/client.cert")
            try FileManager.default.copyItem(atPath: "\(dir)/client.key", toPath: "\(certs)/client.key")
            let layout = berth.home.appendingPathComponent("layout")
            _ = try await OCILayoutFixture.standard(at: layout)
            try await berth.succeed(["copy", "-q", "--dest-cert-dir", certs, "oci:\(layout.path):v1", "docker://127.0.0.1:\(server.port)/team/app:v1"])
            if let skopeo {
                let pushed = try await Interop.run(skopeo, ["copy", "--dest-cert-dir", certs, "oci:\(layout.path):v1", "docker://127.0.0.1:\(server.port)/skopeo/app:v1"])
                #expect(pushed.status == 0, "skopeo with the client pair in --cert-dir: \(pushed.stderr)")
            }

            // A renewed certificate is served from the next handshake, without a restart.
            func served() async throws -> String {
                try await Interop.run("/bin/sh", ["-c", """
                    openssl s_client -connect 127.0.0.1:\(server.port) -cert '\(dir)/client.pem' -key '\(dir)/client.key' -CAfile '\(dir)/ca.pem' </dev/null 2>/dev/null \
                    | openssl x509 -noout -fingerprint -sha256
                    """]).stdout
            }
            func fingerprint(_ name: String) async throws -> String {
                try await Interop.run("/bin/sh", ["-c", "openssl x509 -in '\(dir)/\(name).pem' -noout -fingerprint -sha256"]).stdout
            }
            #expect(try await served() == (try await fingerprint("server")))
            try FileManager.default.copyItem(atPath: "\(dir)/renewed.key", toPath: "\(dir)/server.key.new")
            try FileManager.default.copyItem(atPath: "\(dir)/renewed.pem", toPath: "\(dir)/server.pem.new")
            rename("\(dir)/server.key.new", "\(dir)/server.key")
            rename("\(dir)/server.pem.new", "\(dir)/server.pem")
            #expect(try await served() == (try await fingerprint("renewed")))
            #expect(await status(clientCertificate: true) == 200)
        }
    }
}
