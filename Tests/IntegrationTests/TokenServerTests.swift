import Crypto
import Foundation
import OCI
import Hummingbird
@testable import RegistryServer
import Testing

/// `berth.tokenserver`: the built-in token server. htpasswd users and anonymous callers get
/// tokens granting what the access rules allow; the registry checks them, filters the catalog,
/// and berth, skopeo and docker-registry (distribution) follow or accept them.
@Suite(.enabled(if: Interop.enabled("htpasswd"), "htpasswd (apache2-utils) is not installed"))
struct TokenServerTests {
    /// alice (developers) pushes to team/** and public/**, bob and every signed-in user pull
    /// team/**, admin may do anything, anonymous callers pull public/**.
    static func settings(htpasswd: String, key: String? = nil) throws -> TokenServerSettings {
        let yaml = """
            version: 0.1
            berth:
              tokenserver:
                htpasswd: \(htpasswd)
                service: berth-test
            \(key.map { "    key: \($0)" } ?? "")
                groups:
                  developers: [alice]
                access:
                  - anonymous: true
                    repositories: ["public/**"]
                    actions: [pull]
                  - users: ["*"]
                    repositories: ["team/**"]
                    actions: [pull]
                  - groups: [developers]
                    repositories: ["team/**", "public/*"]
                    actions: [pull, push]
                  - users: [admin]
                    repositories: ["**"]
                    actions: ["*"]
            """
        guard let settings = try ServerConfig.load(yaml: yaml).tokenServer else { throw TestFailure("no token server in the config") }
        return settings
    }

    /// An htpasswd file with alice, bob and admin (passwords `<name>-pass`).
    static func users(in berth: BerthCommand) async throws -> String {
        let htpasswd = try Interop.tool("htpasswd")
        let file = berth.path("htpasswd")
        try await Interop.shell("""
            '\(htpasswd)' -cBb '\(file)' alice alice-pass && '\(htpasswd)' -Bb '\(file)' bob bob-pass && \
            '\(htpasswd)' -Bb '\(file)' admin admin-pass 2>/dev/null
            """)
        return file
    }

    static func basic(_ user: String, _ password: String) -> [(String, String)] {
        [("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())]
    }

    /// A token from the server's `/auth/token` and the access it grants, or the refusal.
    static func token(_ http: HTTP, user: String?, scopes: [String], service: String = "berth-test") async throws -> (reply: Reply, token: String, access: [String: [String]]) {
        let query = (["service=\(service)"] + scopes.map { "scope=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" }).joined(separator: "&")
        let reply = try await http.get("/auth/token?\(query)", headers: user.map { basic($0, "\($0)-pass") } ?? [])
        guard let token = reply.json["token"] as? String else { return (reply, "", [:]) }
        let payload = token.split(separator: ".")[1]
        var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        let claims = try JSONSerialization.jsonObject(with: Data(base64Encoded: base64) ?? Data()) as? [String: Any] ?? [:]
        var access: [String: [String]] = [:]
        for entry in claims["access"] as? [[String: Any]] ?? [] {
            access["\(entry["type"] ?? ""):\(entry["name"] ?? "")"] = entry["actions"] as? [String]
        }
        return (reply, token, access)
    }

    static func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer \(token)")] }

    @Test func repositoryPatterns() throws {
        let cases: [(String, String, Bool)] = [
            ("team/*", "team/app", true), ("team/*", "team/a/b", false), ("team/*", "team", false), ("team/**", "team/a/b", true),
            ("**", "anything/at/all", true), ("*/app", "x/app", true), ("*/app", "x/y/app", false), ("app-?", "app-1", true),
            ("app-?", "app-12", false), ("a/**/z", "a/b/c/z", true), ("a/**/z", "a/z", false), ("library/nginx", "library/nginx", true),
        ]
        for (pattern, name, expected) in cases {
            #expect(try RepositoryGlob(pattern).matches(name) == expected, "\(pattern) ~ \(name)")
        }
        for bad in ["", "Team/*", "a/***", "a b", "a[0]"] {
            #expect(throws: RepositoryGlob.Invalid.self, "\(bad)") { try RepositoryGlob(bad) }
        }
    }

    @Test func tokensGrantWhatTheRulesAllow() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let settings = try Self.settings(htpasswd: try await Self.users(in: berth))
        try await withServer({
            $0.tokenServer = settings
            $0.authFailureDelay = .milliseconds(200)
            $0.debugAddress = ("127.0.0.1", 0)
        }) { server, http in
            let anonymous = try await http.get("/v2/")
            #expect(anonymous.status == 401 && anonymous.errorCode == "UNAUTHORIZED")
            #expect(anonymous.header("WWW-Authenticate") == #"Bearer realm="http://127.0.0.1:\#(server.port)/auth/token",service="berth-test""#)
            let pushPull = "repository:team/app:pull,push"
            #expect(try await Self.token(http, user: "alice", scopes: [pushPull]).access == ["repository:team/app": ["pull", "push"]])
            #expect(try await Self.token(http, user: "bob", scopes: [pushPull]).access == ["repository:team/app": ["pull"]])
            #expect(try await Self.token(http, user: nil, scopes: [pushPull]).access == [:])
            #expect(try await Self.token(http, user: nil, scopes: ["repository:public/a/b:pull,push"]).access == ["repository:public/a/b": ["pull"]])
            #expect(try await Self.token(http, user: "alice", scopes: ["repository:public/a/b:push"]).access == [:], "public/* is one level")
            #expect(try await Self.token(http, user: "admin", scopes: ["repository:any/thing:*"]).access == ["repository:any/thing": ["delete", "pull", "push"]])
            #expect(try await Self.token(http, user: "bob", scopes: ["registry:catalog:*", "thing:x:pull"]).access == ["registry:catalog": ["*"]])
            let wrong = try await http.get("/auth/token?service=berth-test", headers: Self.basic("alice", "nope"))
            #expect(wrong.status == 401 && wrong.errorCode == "UNAUTHORIZED")
            #expect(try await Self.token(http, user: "alice", scopes: [], service: "elsewhere").reply.status == 403)

            // The OAuth2 password grant (docker login) gets the same token.
            let form = "grant_type=password&service=berth-test&client_id=test&username=alice&password=alice-pass&scope=repository%3Ateam%2Fapp%3Apush"
            let oauth = try await http.send(.POST, "/auth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(form.utf8))
            #expect(oauth.status == 200 && oauth.json["access_token"] is String && oauth.json["scope"] as? String == "repository:team/app:push")
            let badGrant = try await http.send(.POST, "/auth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array("grant_type=refresh_token&refresh_token=x".utf8))
            #expect(badGrant.status == 400 && badGrant.json["error"] as? String == "unsupported_grant_type")

            // Tokens open exactly what they grant.
            let alice = try await Self.token(http, user: "alice", scopes: [pushPull]).token
            let bob = try await Self.token(http, user: "bob", scopes: [pushPull]).token
            #expect(try await http.send(.POST, "/v2/team/app/blobs/uploads/", headers: Self.bearer(alice)).status == 202)
            let refused = try await http.send(.POST, "/v2/team/app/blobs/uploads/", headers: Self.bearer(bob))
            #expect(refused.status == 401 && refused.header("WWW-Authenticate")?.contains(#"error="insufficient_scope""#) == true)
            // Mounting needs pull on the source, which alice lacks for private/**.
            let mountToken = try await Self.token(http, user: "alice", scopes: [pushPull, "repository:private/x:pull"])
            #expect(mountToken.access["repository:private/x"] == nil)
            let mount = try await http.send(.POST, "/v2/team/app/blobs/uploads/?mount=sha256:\(String(repeating: "a", count: 64))&from=private/x", headers: Self.bearer(mountToken.token))
            #expect(mount.status == 401 && mount.header("WWW-Authenticate")?.contains("repository:private/x:pull") == true)
            // The wrong password and the two refused tokens are counted.
            let metrics = try await HTTP(base: "http://127.0.0.1:\(try #require(server.debugPort))").get("/metrics").text
            #expect(metrics.contains("berth_auth_failures_total 3"), "\(metrics)")
        }
    }

    @Test func theCatalogListsOnlyWhatTheCallerMayPull() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let settings = try Self.settings(htpasswd: try await Self.users(in: berth))
        try await withServer({ $0.tokenServer = settings }) { server, http in
            let layout = berth.home.appendingPathComponent("layout")
            _ = try await OCILayoutFixture.standard(at: layout)
            let host = "127.0.0.1:\(server.port)"
            for repository in ["private/secret", "public/base", "team/app", "team/tools/lint"] {
                try await berth.succeed(["copy", "-q", "--dest-tls-verify=false", "--dest-creds", "admin:admin-pass", "oci:\(layout.path):v1", "docker://\(host)/\(repository):v1"])
            }
            func catalog(_ user: String?, n: Int? = nil) async throws -> (names: [String], link: String?) {
                let token = try await Self.token(http, user: user, scopes: ["registry:catalog:*"]).token
                let reply = try await http.get("/v2/_catalog" + (n.map { "?n=\($0)" } ?? ""), headers: Self.bearer(token))
                return (reply.json["repositories"] as? [String] ?? [], reply.header("Link"))
            }
            #expect(try await catalog("admin").names == ["private/secret", "public/base", "team/app", "team/tools/lint"])
            #expect(try await catalog("bob").names == ["team/app", "team/tools/lint"])
            #expect(try await catalog("alice").names == ["public/base", "team/app", "team/tools/lint"])
            #expect(try await catalog(nil).names == ["public/base"])
            // Pages are filled with visible names, and the link continues after the last one.
            let first = try await catalog("bob", n: 1)
            #expect(first.names == ["team/app"] && first.link?.contains("last=team%2Fapp") == true, "\(first)")
            // Anonymous pulls of public images work without credentials; private ones need them.
            try await berth.succeed(["inspect", "--tls-verify=false", "--no-creds", "docker://\(host)/public/base:v1"])
            let denied = try await berth.run(["inspect", "--tls-verify=false", "--no-creds", "docker://\(host)/private/secret:v1"])
            #expect(denied.status != 0 && denied.stderr.split(separator: "\n").count == 1, "\(denied.stderr)")
        }
    }

    /// The token server's key with a certificate, as distribution's `rootcertbundle` needs.
    static func keyWithCertificate(in berth: BerthCommand) async throws -> (key: String, certificate: String) {
        let (key, certificate) = (berth.path("token.key"), berth.path("token.pem"))
        try await Interop.shell("""
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=berth-token \
              -keyout '\(key)' -out '\(certificate)' 2>/dev/null
            """)
        return (key, certificate)
    }

    /// Debian's docker-registry trusting the tokens of a berth token server (the users of `users(in:)`).
    static func withDistributionTrustingBerth(_ berth: BerthCommand, _ body: (DockerRegistryProcess) async throws -> Void) async throws {
        let (key, certificate) = try await keyWithCertificate(in: berth)
        let settings = try settings(htpasswd: try await users(in: berth), key: key)
        try await withServer({ $0.tokenServer = settings }) { tokenServer, _ in
            let distribution = try await DockerRegistryProcess(extraConfig: """
                auth:
                  token:
                    realm: http://127.0.0.1:\(tokenServer.port)/auth/token
                    service: berth-test
                    issuer: berth
                    rootcertbundle: \(certificate)
                """)
            defer { distribution.stop() }
            try await body(distribution)
        }
    }

    @Test(.enabled(if: Interop.enabled("docker-registry") && Interop.enabled("openssl"), "docker-registry or openssl is not installed"))
    func distributionAcceptsBerthTokens() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        try await Self.withDistributionTrustingBerth(berth) { distribution in
            let layout = berth.home.appendingPathComponent("layout")
            _ = try await OCILayoutFixture.standard(at: layout)
            let host = "127.0.0.1:\(distribution.port)"
            try await berth.succeed(["copy", "-q", "--dest-tls-verify=false", "--dest-creds", "alice:alice-pass", "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"])
            let bob = try await berth.run(["copy", "-q", "--dest-tls-verify=false", "--dest-creds", "bob:bob-pass", "oci:\(layout.path):v1", "docker://\(host)/team/bob:v1"])
            #expect(bob.status == 1 && bob.stderr.split(separator: "\n").count == 1, "\(bob.stderr)")
            if Interop.enabled("skopeo") {
                let pulled = try await Interop.run(try Interop.tool("skopeo"), [
                    "copy", "--src-tls-verify=false", "--src-creds", "bob:bob-pass", "docker://\(host)/team/app:v1", "dir:\(berth.path("pulled"))",
                ])
                #expect(pulled.status == 0, "\(pulled.stderr)")
            }
        }
    }
}
