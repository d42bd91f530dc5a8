import Foundation
@testable import RegistryServer
import RegistryUI
import TestSupport
import Testing

/// Signing in to the UI with the registry's own users, and the token server's rules deciding
/// what each user sees and may delete: a repository a user may not pull does not exist for them.
@Suite(.enabled(if: Interop.enabled("htpasswd"), "htpasswd (apache2-utils) is not installed"))
struct UISignInTests {
    /// alice may do anything to team/*, bob pulls team/app only, anonymous callers pull public/*;
    /// admin sees the storage page.
    static func settings(htpasswd: String) throws -> TokenServerSettings {
        let yaml = """
            version: 0.1
            berth:
              tokenserver:
                htpasswd: \(htpasswd)
                access:
                  - anonymous: true
                    repositories: ["public/*"]
                    actions: [pull]
                  - users: [alice]
                    repositories: ["team/*"]
                    actions: ["*"]
                  - users: [bob]
                    repositories: ["team/app"]
                    actions: [pull]
            """
        guard let settings = try ServerConfig.load(yaml: yaml).tokenServer else { throw TestFailure("no token server in the config") }
        return settings
    }

    static func configure(_ config: inout ServerConfig, htpasswd: String) throws {
        config.tokenServer = try settings(htpasswd: htpasswd)
        config.authFailureDelay = .milliseconds(10)
        var ui = UISettings()
        ui.admins = ["admin"]
        config.ui = ui
    }

    static func names(_ page: Reply) -> [String] { page.text.matches(of: /class="repository">([^<]+)</).map { String($0.1) } }

    @Test func eachUserSeesOnlyWhatTheyMayPull() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let htpasswd = try await TokenServerTests.users(in: berth)
        let settings = try Self.settings(htpasswd: htpasswd)
        try await withServer({ config in
            config.tokenServer = settings
            config.authFailureDelay = .milliseconds(10)
            var ui = UISettings()
            ui.admins = ["admin"]
            config.ui = ui
        }) { server, _ in
            for repository in ["team/app", "team/secret", "public/base"] {
                try await server.registry.pushForTests(UIFixtures.image(), to: repository, as: "v1")
            }
            let http = HTTP(server)
            var anonymous = UIClient(http)
            #expect(Self.names(try await anonymous.get("/ui/")) == ["public/base"])
            #expect(try await anonymous.get("/ui/repositories/team/app").status == 404)
            #expect(try await anonymous.get("/ui/storage").status == 404, "only admins have a storage page")

            // A wrong password and an unknown user get the same answer and no session.
            for (user, password) in [("alice", "wrong"), ("nobody", "alice-pass")] {
                let refused = try await anonymous.signIn(user, password)
                #expect(refused.status == 401 && refused.text.contains("The user name or password is wrong."), "\(user)")
                #expect(refused.headers[canonicalForm: "Set-Cookie"].isEmpty)
            }
            var alice = UIClient(http)
            let signedIn = try await alice.signIn("alice", "alice-pass")
            #expect(signedIn.status == 303 && signedIn.header("Location") == "/ui/")
            let cookie = try #require(signedIn.header("Set-Cookie"))
            for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] { #expect(cookie.contains(flag), "\(flag) in \(cookie)") }
            // Signed-in users have their own rules, not the anonymous ones (as with their tokens).
            #expect(Self.names(try await alice.get("/ui/")) == ["team/app", "team/secret"])
            let alicePage = try await alice.get("/ui/repositories/team/secret")
            #expect(alicePage.text.contains("delete-selected"))

            var bob = UIClient(http)
            _ = try await bob.signIn("bob", "bob-pass")
            #expect(bob.cookie != nil && bob.cookie != alice.cookie)
            #expect(Self.names(try await bob.get("/ui/")) == ["team/app"])
            #expect(try await bob.get("/ui/repositories/team/secret").status == 404, "a repository bob may not pull does not exist for him")
            #expect(try await bob.get("/ui/image/team/secret?ref=v1").status == 404)
            let found = try await bob.get("/ui/search?q=v1").text
            #expect(found.contains("team/app:v1") && !found.contains("team/secret") && !found.contains("public/base"), "search knows only what bob may pull")
            #expect(try await bob.get("/ui/download/team/secret?kind=manifest&digest=sha256:\(String(repeating: "0", count: 64))").status == 404)
            let bobPage = try await bob.get("/ui/repositories/team/app")
            #expect(!bobPage.text.contains("delete-selected") && !bobPage.text.contains(#"name="tag""#), "no delete controls without the right")
            // His own valid token does not make a hand-made delete acceptable.
            let token = try #require(UIClient.csrf(bobPage))
            let forged = try await bob.post("/ui/delete/team/app", [("csrf", token), ("tag", "v1"), ("mode", "untag"), ("confirm", "yes")])
            #expect(forged.status == 403)
            #expect(try await server.registry.tags(.init(parsing: "team/app"), after: nil, limit: nil).json.count > 20)

            var admin = UIClient(http)
            _ = try await admin.signIn("admin", "admin-pass")
            #expect(try await admin.get("/ui/storage").status == 200)

            // Signing out ends the session on the server: the old cookie is worth nothing.
            let before = alice
            let out = try await alice.post("/ui/logout", [("csrf", try #require(UIClient.csrf(alicePage)))])
            #expect(out.status == 303 && out.header("Set-Cookie")?.contains("Max-Age=0") == true)
            #expect(Self.names(try await before.get("/ui/")) == ["public/base"], "the old cookie is anonymous now")
        }
    }

    /// Two servers sharing one metadata store (a file here, one PostgreSQL database in the
    /// second pass): signed in on one, signed in on the other; signed out on the other, out on both.
    @Test func aSessionIsKnownToEveryServerSharingTheStore() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let htpasswd = try await TokenServerTests.users(in: berth)
        let first = try await TestServer.start { try? Self.configure(&$0, htpasswd: htpasswd) }
        let second = try await TestServer.start(root: first.root) { try? Self.configure(&$0, htpasswd: htpasswd) }
        try await withCleanup {
            try await first.registry.pushForTests(UIFixtures.image(), to: "team/app", as: "v1")
            var onFirst = UIClient(HTTP(first))
            _ = try await onFirst.signIn("alice", "alice-pass")
            var onSecond = UIClient(HTTP(second))
            onSecond.cookie = onFirst.cookie
            let page = try await onSecond.get("/ui/repositories/team/app")
            #expect(page.text.contains(#"id="signed-in-user">alice<"#), "the other server knows the session")
            let out = try await onSecond.post("/ui/logout", [("csrf", try #require(UIClient.csrf(page)))])
            #expect(out.status == 303)
            let after = try await onFirst.get("/ui/")
            #expect(after.status == 200 && !after.text.contains("signed-in-user") && Self.names(after).isEmpty, "signed out everywhere")
        } cleanup: {
            await second.stop()
            await first.cleanup()
        }
    }

    @Test func repeatedFailuresForOneUserAreSlowedDown() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let htpasswd = try await TokenServerTests.users(in: berth)
        try await withServer({ try? Self.configure(&$0, htpasswd: htpasswd) }) { _, http in
            var client = UIClient(http)
            for _ in 0..<5 { #expect(try await client.signIn("alice", "wrong").status == 401) }
            let limited = try await client.signIn("alice", "alice-pass")
            #expect(limited.status == 429 && Int(limited.header("Retry-After") ?? "") ?? 0 > 0)
            #expect(client.cookie == nil)
            #expect(try await client.signIn("bob", "bob-pass").status == 303, "other users are not locked out")
        }
    }

    @Test func htpasswdRegistriesAskEveryoneToSignIn() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let htpasswd = try await TokenServerTests.users(in: berth)
        try await withServer({ config in
            config.htpasswd = ("berth", htpasswd)
            config.ui = UISettings()
        }) { _, http in
            var client = UIClient(http)
            let page = try await client.get("/ui/repositories/team/app?sort=name")
            #expect(page.status == 303 && page.header("Location") == "/ui/login?next=/ui/repositories/team/app%3Fsort%3Dname")
            let login = try await client.get("/ui/login")
            #expect(login.status == 200 && login.text.contains(#"id="username""#))
            let signedIn = try await client.post("/ui/login", [("username", "bob"), ("password", "bob-pass"), ("next", "/ui/repositories/team/app?sort=name")])
            client.keep(signedIn)
            #expect(signedIn.header("Location") == "/ui/repositories/team/app?sort=name")
            let offsite = try await client.post("/ui/login", [("username", "bob"), ("password", "bob-pass"), ("next", "//evil.example/")])
            client.keep(offsite)
            #expect(offsite.header("Location") == "/ui/", "no open redirect")
            #expect(try await client.get("/ui/").status == 200)
            // A login form posted from another site is refused before any password check.
            #expect(try await client.post("/ui/login", [("username", "bob"), ("password", "bob-pass")], site: "cross-site").status == 403)
        }
    }
}
