import Crypto
import CryptoExtras
import Foundation
import Hummingbird
@testable import RegistryServer
import Testing

/// `auth.token`: ES256 JWTs from a token server, checked for signature, issuer, audience,
/// expiry and the scope each request needs; followed end to end by berth and skopeo.
@Suite(.enabled(if: Interop.enabled("openssl"), "openssl is not installed"))
struct TokenAuthTests {
    /// A token signing key with its certificate (the root bundle), and an untrusted key.
    struct Keys {
        let directory: String
        let signer: P256.Signing.PrivateKey
        let stranger = P256.Signing.PrivateKey()
        var bundle: String { "\(directory)/token.pem" }

        init() async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-token-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try await Interop.shell("""
                cd '\(directory)' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
                  -subj /CN=berth-token-signer -keyout token.key -out token.pem 2>/dev/null
                """)
            signer = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: "\(directory)/token.key", encoding: .utf8))
        }

        func cleanup() { try? FileManager.default.removeItem(atPath: directory) }
    }

    static func jwt(_ claims: [String: Any], key: P256.Signing.PrivateKey) throws -> String {
        func encode(_ data: Data) -> String { JWTText.encode(data) }
        let header = encode(try JSONSerialization.data(withJSONObject: ["alg": "ES256", "typ": "JWT"]))
        let payload = encode(try JSONSerialization.data(withJSONObject: claims))
        let signature = try key.signature(for: Data("\(header).\(payload)".utf8))
        return "\(header).\(payload).\(encode(signature.rawRepresentation))"
    }

    static func claims(_ access: [[String: Any]], issuer: String = "test-issuer", audience: String = "berth-test", expiresIn: Double = 300) -> [String: Any] {
        let now = Date().timeIntervalSince1970
        return ["iss": issuer, "sub": "alice", "aud": audience, "exp": Int(now + expiresIn), "nbf": Int(now - 10), "iat": Int(now), "access": access]
    }

    static func access(_ name: String, _ actions: [String]) -> [String: Any] { ["type": "repository", "name": name, "actions": actions] }

    @Test func tokensAreCheckedForSignatureClaimsAndScope() async throws {
        let keys = try await Keys()
        defer { keys.cleanup() }
        try await withServer({ $0.token = ("http://127.0.0.1:1/token", "berth-test", "test-issuer", keys.bundle, nil) }) { _, http in
            func bearer(_ claims: [String: Any], key: P256.Signing.PrivateKey? = nil) throws -> [(String, String)] {
                [("Authorization", "Bearer " + (try Self.jwt(claims, key: key ?? keys.signer)))]
            }
            let anonymous = try await http.get("/v2/team/app/tags/list")
            #expect(anonymous.status == 401)
            #expect(anonymous.header("WWW-Authenticate") == #"Bearer realm="http://127.0.0.1:1/token",service="berth-test",scope="repository:team/app:pull""#)
            let pull = try bearer(Self.claims([Self.access("team/app", ["pull"])]))
            #expect(try await http.get("/v2/team/app/tags/list", headers: pull).status == 404, "authorised: the repository does not exist")
            #expect(try await http.get("/v2/", headers: pull).status == 200)
            let push = try await http.send(.POST, "/v2/team/app/blobs/uploads/", headers: pull)
            #expect(push.status == 401 && push.header("WWW-Authenticate")?.contains(#"error="insufficient_scope""#) == true)
            #expect(try await http.get("/v2/other/app/tags/list", headers: pull).status == 401, "another repository")
            for (label, headers) in [
                ("expired", try bearer(Self.claims([Self.access("team/app", ["pull"])], expiresIn: -120))),
                ("issuer", try bearer(Self.claims([Self.access("team/app", ["pull"])], issuer: "someone-else"))),
                ("audience", try bearer(Self.claims([Self.access("team/app", ["pull"])], audience: "other-service"))),
                ("untrusted key", try bearer(Self.claims([Self.access("team/app", ["pull"])]), key: keys.stranger)),
                ("garbage", [("Authorization", "Bearer not.a.token")]),
            ] {
                let refused = try await http.get("/v2/team/app/tags/list", headers: headers)
                #expect(refused.status == 401 && refused.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) == true, "\(label)")
            }
            let catalog = try bearer(Self.claims([["type": "registry", "name": "catalog", "actions": ["*"]]]))
            #expect(try await http.get("/v2/_catalog", headers: catalog).status == 200)
            #expect(try await http.get("/v2/_catalog", headers: pull).status == 401)
        }
    }

    /// A verified token is remembered (signatures are checked once per token), but its expiry and
    /// scopes are checked on every request.
    @Test func aRememberedTokenStillExpiresAndStillHasItsScopes() async throws {
        let keys = try await Keys()
        defer { keys.cleanup() }
        let authenticator = try TokenAuthenticator(realm: "r", service: "berth-test", issuer: "test-issuer", rootCertBundle: keys.bundle, jwks: nil)
        let header = "Bearer " + (try Self.jwt(Self.claims([Self.access("team/app", ["pull"])], expiresIn: 300), key: keys.signer))
        let pull = [TokenAuthenticator.Scope(type: "repository", name: "team/app", actions: ["pull"])]
        let push = [TokenAuthenticator.Scope(type: "repository", name: "team/app", actions: ["push"])]
        #expect(try await authenticator.authorize(header, needs: pull, realm: "r") == "alice")
        #expect(try await authenticator.authorize(header, needs: pull, realm: "r") == "alice")
        await #expect(throws: SpecError.self) { try await authenticator.authorize(header, needs: push, realm: "r") }
        await #expect(throws: SpecError.self) { try await authenticator.authorize(header, needs: pull, realm: "r", now: Date().addingTimeInterval(600)) }
    }

    /// RS256 tokens (GitLab's and docker_auth's default) by an RSA certificate's key, and keys
    /// given as a JWK Set instead of certificates.
    @Test func rs256AndJWKSKeysAreTrusted() async throws {
        let keys = try await Keys()
        defer { keys.cleanup() }
        try await Interop.shell("""
            cd '\(keys.directory)' && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=rsa-signer -keyout rsa.key -out rsa.pem 2>/dev/null
            """)
        let rsa = try _RSA.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: "\(keys.directory)/rsa.key", encoding: .utf8))
        func rs256(_ claims: [String: Any], key: _RSA.Signing.PrivateKey) throws -> String {
            let header = JWTText.encode(try JSONSerialization.data(withJSONObject: ["alg": "RS256", "typ": "JWT"]))
            let payload = JWTText.encode(try JSONSerialization.data(withJSONObject: claims))
            let signature = try key.signature(for: Data("\(header).\(payload)".utf8), padding: .insecurePKCS1v1_5)
            return "\(header).\(payload).\(JWTText.encode(signature.rawRepresentation))"
        }
        let pull = Self.claims([Self.access("team/app", ["pull"])])
        try await withServer({ $0.token = ("http://127.0.0.1:1/token", "berth-test", "test-issuer", "\(keys.directory)/rsa.pem", nil) }) { _, http in
            #expect(try await http.get("/v2/team/app/tags/list", headers: [("Authorization", "Bearer " + (try rs256(pull, key: rsa)))]).status == 404)
            let stranger = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            #expect(try await http.get("/v2/team/app/tags/list", headers: [("Authorization", "Bearer " + (try rs256(pull, key: stranger)))]).status == 401)
            #expect(try await http.get("/v2/team/app/tags/list", headers: [("Authorization", "Bearer " + (try Self.jwt(pull, key: keys.signer)))]).status == 401)
        }
        // The same keys as a JWK Set: the EC key by its point, the RSA key by modulus and exponent.
        let point = keys.signer.publicKey.rawRepresentation
        let primitives = try rsa.publicKey.getKeyPrimitives()
        let jwks = try JSONSerialization.data(withJSONObject: ["keys": [
            ["kty": "EC", "crv": "P-256", "x": JWTText.encode(point.prefix(32)), "y": JWTText.encode(point.suffix(32))],
            ["kty": "OKP", "crv": "Ed25519", "x": "skipped"],
            ["kty": "RSA", "n": JWTText.encode(primitives.modulus), "e": JWTText.encode(primitives.publicExponent)],
        ]])
        let jwksFile = "\(keys.directory)/keys.json"
        try jwks.write(to: URL(fileURLWithPath: jwksFile))
        let tokens = (rsa: try rs256(pull, key: rsa), ecdsa: try Self.jwt(pull, key: keys.signer), stranger: try Self.jwt(pull, key: keys.stranger))
        try await withServer({ $0.token = ("http://127.0.0.1:1/token", "berth-test", "test-issuer", nil, jwksFile) }) { _, http in
            let statuses = [
                try await http.get("/v2/team/app/tags/list", headers: [("Authorization", "Bearer \(tokens.rsa)")]).status,
                try await http.get("/v2/team/app/tags/list", headers: [("Authorization", "Bearer \(tokens.ecdsa)")]).status,
                try await http.get("/v2/team/app/tags/list", headers: [("Authorization", "Bearer \(tokens.stranger)")]).status,
            ]
            #expect(statuses == [404, 404, 401])
        }
        try Data("{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AAAA\", \"y\": \"AAAA\"}]}".utf8).write(to: URL(fileURLWithPath: jwksFile))
        await #expect(throws: ConfigError.self) {
            try await withServer({ $0.token = ("http://127.0.0.1:1/token", "berth-test", "test-issuer", nil, jwksFile) }) { _, _ in }
        }
    }

    /// A token carrying its certificate chain (`x5c`) is trusted when the chain leads to a
    /// `rootcertbundle` CA and the leaf signed it, as distribution checks.
    @Test func x5cChainsLeadingToTheBundleAreTrusted() async throws {
        let keys = try await Keys()
        defer { keys.cleanup() }
        let trusted = "\(keys.directory)/trusted"
        let rogue = "\(keys.directory)/rogue"
        for directory in [trusted, rogue] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try await TLSTests.certificates(in: directory, ["signer"])
        }
        func token(_ directory: String, key: P256.Signing.PrivateKey? = nil) throws -> String {
            let pem = try String(contentsOfFile: "\(directory)/signer.pem", encoding: .utf8)
            let der = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            let signer = try key ?? P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: "\(directory)/signer.key", encoding: .utf8))
            let header = JWTText.encode(try JSONSerialization.data(withJSONObject: ["alg": "ES256", "typ": "JWT", "x5c": [der]]))
            let payload = JWTText.encode(try JSONSerialization.data(withJSONObject: Self.claims([Self.access("team/app", ["pull"])])))
            let signature = try signer.signature(for: Data("\(header).\(payload)".utf8))
            return "\(header).\(payload).\(JWTText.encode(signature.rawRepresentation))"
        }
        let tokens = [try token(trusted), try token(rogue), try token(trusted, key: keys.stranger)]
        try await withServer({ $0.token = ("http://127.0.0.1:1/token", "berth-test", "test-issuer", "\(trusted)/ca.pem", nil) }) { _, http in
            var statuses: [Int] = []
            for token in tokens { statuses.append(try await http.get("/v2/team/app/tags/list", headers: [("Authorization", "Bearer \(token)")]).status) }
            #expect(statuses == [404, 401, 401], "trusted chain; a chain to another CA; the trusted leaf but another key's signature")
        }
    }

    @Test func berthAndSkopeoFollowTheChallengeToATokenServer() async throws {
        let keys = try await Keys()
        defer { keys.cleanup() }
        // A token server granting alice what she asks for.
        try await withScriptedServer({ request, _ in
            let basic = "Basic " + Data("alice:secret".utf8).base64EncodedString()
            guard request.headers[.authorization] == basic else { return Response(status: .unauthorized) }
            let items = URLComponents(string: "http://x\(request.uri.description)")?.queryItems ?? []
            let access: [[String: Any]] = items.filter { $0.name == "scope" }.compactMap { item in
                let parts = (item.value ?? "").split(separator: ":").map(String.init)
                guard parts.count == 3 else { return nil }
                return ["type": parts[0], "name": parts[1], "actions": parts[2].split(separator: ",").map(String.init)]
            }
            let token = try Self.jwt(Self.claims(access), key: keys.signer)
            let body = try JSONSerialization.data(withJSONObject: ["token": token, "access_token": token, "expires_in": 300])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array(body))))
        }) { tokenPort in
            try await withServer({ $0.token = ("http://127.0.0.1:\(tokenPort)/token", "berth-test", "test-issuer", keys.bundle, nil) }) { server, _ in
                let berth = try BerthCommand()
                defer { berth.cleanup() }
                let layout = berth.home.appendingPathComponent("layout")
                _ = try await OCILayoutFixture.standard(at: layout)
                let host = "127.0.0.1:\(server.port)"
                let wrong = try await berth.run(["copy", "-q", "--dest-tls-verify=false", "--dest-creds", "alice:nope", "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"])
                #expect(wrong.status == 1 && wrong.stderr.split(separator: "\n").count == 1, "\(wrong.stderr)")
                try await berth.succeed(["copy", "-q", "--dest-tls-verify=false", "--dest-creds", "alice:secret", "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"])
                let tags = try await berth.succeed(["list-tags", "--tls-verify=false", "--creds", "alice:secret", "docker://\(host)/team/app"])
                #expect(tags.stdout.contains("\"v1\""), "\(tags.stdout)")
                if Interop.enabled("skopeo") {
                    let skopeo = try await Interop.run(try Interop.tool("skopeo"), [
                        "copy", "--src-tls-verify=false", "--src-creds", "alice:secret", "docker://\(host)/team/app:v1", "dir:\(berth.path("pulled"))",
                    ])
                    #expect(skopeo.status == 0, "\(skopeo.stderr)")
                }
            }
        }
    }
}

/// base64url without padding, as JWTs write their parts.
enum JWTText {
    static func encode(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
