import Crypto
import NIOHTTP1
import Foundation
import RegistryServer
import TestSupport
import Testing

/// Each authentication mode (htpasswd, tokens from an external token server, the built-in token
/// server): berth, skopeo, podman (and docker, when present) log in, berth and skopeo copy, and every endpoint — uploads in progress and the
/// extension API included — answers every wrong credential with 401, the spec's JSON error and
/// the mode's challenge.
@Suite(.enabled(if: Interop.enabled("htpasswd") && Interop.enabled("openssl"), "htpasswd or openssl is not installed"))
struct AuthMatrixTests {
    enum Mode: String, CaseIterable, CustomTestStringConvertible {
        case htpasswd, externalToken, builtinToken
        var testDescription: String { rawValue }
    }

    /// A configured server's credentials: one that may do everything, and the wrong ones.
    struct Credentials {
        var authorised: [(String, String)]
        /// `scoped`: valid, but without the access a repository needs (so `/v2/` accepts it).
        var wrong: [(label: String, headers: [(String, String)], scoped: Bool)]
    }

    @Test(arguments: Mode.allCases)
    func loginsWorkAndEveryEndpointRefusesWrongCredentials(_ mode: Mode) async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let htpasswd = try await TokenServerTests.users(in: berth)
        let (key, certificate) = try await TokenServerTests.keyWithCertificate(in: berth)
        let settings = try TokenServerTests.settings(htpasswd: htpasswd, key: key)
        // The external token server is another berth serve; its tokens are checked by key.
        let external = mode == .externalToken ? try await TestServer.start { $0.tokenServer = settings } : nil
        try await withCleanup {
            try await withServer({ config in
                config.authFailureDelay = .zero
                switch mode {
                case .htpasswd: config.htpasswd = ("berth-test", htpasswd)
                case .externalToken: config.token = ("\(external!.base)/auth/token", "berth-test", "berth", certificate, nil)
                case .builtinToken: config.tokenServer = settings
                }
            }) { server, http in
                try await logins(berth, host: "127.0.0.1:\(server.port)")
                let credentials = try await credentials(mode, http: HTTP(base: external?.base ?? server.base), key: key)
                try await matrix(http, credentials, challenge: mode == .htpasswd ? "Basic realm=" : "Bearer realm=")
            }
        } cleanup: {
            await external?.cleanup()
        }
    }

    /// berth and skopeo: a wrong password is refused and stores nothing; the right one is
    /// stored, and copies use it.
    func logins(_ berth: BerthCommand, host: String) async throws {
        let wrong = try await berth.run(["login", "--tls-verify=false", "-u", "alice", "--password-stdin", host], stdin: "nope\n")
        #expect(wrong.status == 1 && wrong.stderr.split(separator: "\n").count == 1 && !FileManager.default.fileExists(atPath: berth.authFile.path))
        try await berth.succeed(["login", "--tls-verify=false", "-u", "alice", "--password-stdin", host], stdin: "alice-pass\n")
        let layout = berth.home.appendingPathComponent("layout")
        _ = try await OCILayoutFixture.standard(at: layout)
        try await berth.succeed(["copy", "-q", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"])
        guard Interop.enabled("skopeo") else { return }
        let skopeo = try Interop.tool("skopeo")
        let authFile = berth.path("skopeo-auth.json")
        // skopeo and podman with --authfile; the docker CLI logs in by itself (no daemon needed,
        // falling back to plain HTTP for a loopback address) and, not being a Debian package here,
        // is used when present and never required.
        var clients: [(command: [String], stored: String)] = [([skopeo, "login", "--tls-verify=false", "--authfile", authFile], authFile)]
        if Interop.enabled("podman") {
            let podmanAuth = berth.path("podman-auth.json")
            clients.append(([try Interop.tool("podman"), "login", "--tls-verify=false", "--authfile", podmanAuth], podmanAuth))
        }
        if let docker = Interop.path(of: "docker") {
            clients.append(([docker, "--config", berth.path("docker-config"), "login"], berth.path("docker-config/config.json")))
        }
        for (command, stored) in clients {
            func login(_ password: String) async throws -> Interop.Output {
                let quoted = command.map { "'\($0)'" }.joined(separator: " ")
                return try await Interop.run("/bin/sh", ["-c", "printf '%s\\n' '\(password)' | \(quoted) -u alice --password-stdin \(host)"])
            }
            #expect(try await login("nope").status != 0, "\(command[0])")
            let loggedIn = try await login("alice-pass")
            #expect(loggedIn.status == 0 && FileManager.default.fileExists(atPath: stored), "\(command[0]): \(loggedIn.stderr)")
        }
        // skopeo pulls what berth pushed (every blob), and berth pulls what skopeo pushed.
        let pulled = try await Interop.run(skopeo, ["copy", "--src-tls-verify=false", "--authfile", authFile, "docker://\(host)/team/app:v1", "dir:\(berth.path("skopeo-pulled"))"])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let pushed = try await Interop.run(skopeo, ["copy", "--dest-tls-verify=false", "--authfile", authFile, "oci:\(layout.path):v1", "docker://\(host)/team/skopeo:v1"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        try await berth.succeed(["copy", "-q", "--src-tls-verify=false", "docker://\(host)/team/skopeo:v1", "oci:\(berth.path("berth-pulled")):v1"])
    }

    func credentials(_ mode: Mode, http tokenServer: HTTP, key: String) async throws -> Credentials {
        if mode == .htpasswd {
            return Credentials(
                authorised: TokenServerTests.basic("alice", "alice-pass"),
                wrong: [
                    ("anonymous", [], false), ("wrong password", TokenServerTests.basic("alice", "nope"), false),
                    ("unknown user", TokenServerTests.basic("mallory", "alice-pass"), false), ("bearer", [("Authorization", "Bearer x.y.z")], false),
                ])
        }
        func issued(_ user: String?, _ scopes: [String]) async throws -> [(String, String)] {
            TokenServerTests.bearer(try await TokenServerTests.token(tokenServer, user: user, scopes: scopes).token)
        }
        let signer = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: key, encoding: .utf8))
        let everything = [["type": "repository", "name": "team/app", "actions": ["pull", "push", "delete"]]]
        func minted(expiresIn: Double, key: P256.Signing.PrivateKey) throws -> [(String, String)] {
            TokenServerTests.bearer(try TokenAuthTests.jwt(TokenAuthTests.claims(everything, issuer: "berth", audience: "berth-test", expiresIn: expiresIn), key: key))
        }
        return Credentials(
            authorised: try await issued("admin", ["repository:team/app:*", "registry:catalog:*"]),
            wrong: [
                ("anonymous", [], false),
                ("token without the scope", try await issued(nil, ["repository:team/app:pull,push,delete"]), true),
                ("token for another repository", try await issued("alice", ["repository:public/x:pull,push"]), true),
                ("expired token", try minted(expiresIn: -120, key: signer), false),
                ("token signed by another key", try minted(expiresIn: 300, key: P256.Signing.PrivateKey()), false),
                ("basic credentials", TokenServerTests.basic("alice", "alice-pass"), false),
            ])
    }

    func matrix(_ http: HTTP, _ credentials: Credentials, challenge: String) async throws {
        let digest = Fixtures.digest(Array("x".utf8))
        let started = try await http.send(.POST, "/v2/team/app/blobs/uploads/", headers: credentials.authorised)
        #expect(started.status == 202, "\(started.text)")
        let location = try #require(started.header("Location").flatMap { URLComponents(string: $0) })
        let upload = location.path + (location.query.map { "?\($0)" } ?? "")
        let separator = upload.contains("?") ? "&" : "?"
        let endpoints: [(HTTPMethod, String)] = [
            (.GET, "/v2/"), (.GET, "/v2/_catalog"), (.GET, "/v2/team/app/tags/list"),
            (.GET, "/v2/team/app/manifests/v1"), (.HEAD, "/v2/team/app/manifests/v1"), (.PUT, "/v2/team/app/manifests/v2"),
            (.GET, "/v2/team/app/blobs/\(digest)"), (.HEAD, "/v2/team/app/blobs/\(digest)"),
            (.POST, "/v2/team/app/blobs/uploads/"), (.POST, "/v2/team/app/blobs/uploads/?mount=\(digest)&from=team/app"),
            (.GET, upload), (.PATCH, upload), (.PUT, "\(upload)\(separator)digest=\(digest)"),
            (.GET, "/v2/team/app/referrers/\(digest)"),
            (.GET, "/extensions/v2/team/app/signatures/\(digest)"), (.PUT, "/extensions/v2/team/app/signatures/\(digest)"),
            (.DELETE, upload), (.DELETE, "/v2/team/app/blobs/\(digest)"), (.DELETE, "/v2/team/app/manifests/v1"),
        ]
        for (method, path) in endpoints {
            for (label, headers, scoped) in credentials.wrong where !(scoped && path == "/v2/") {
                let reply = try await http.send(method, path, headers: headers, body: method == .PUT || method == .PATCH ? Array("x".utf8) : nil)
                #expect(reply.status == 401, "\(method) \(path) with \(label): \(reply.status) \(reply.text)")
                #expect(reply.header("WWW-Authenticate")?.hasPrefix(challenge) == true, "\(method) \(path) with \(label)")
                if method != .HEAD { #expect(reply.errorCode == "UNAUTHORIZED", "\(method) \(path) with \(label): \(reply.text)") }
            }
            // The right credential passes authorisation (what follows is the endpoint's business).
            if !path.hasPrefix(upload) || method == .GET {
                let reply = try await http.send(method, path, headers: credentials.authorised)
                #expect(![401, 403].contains(reply.status), "\(method) \(path) authorised: \(reply.status) \(reply.text)")
            }
        }
        // The upload refused above is still in progress for its owner.
        #expect(try await http.send(.GET, upload, headers: credentials.authorised).status == 204)
    }
}
