import Foundation
import OCI
import Testing

/// `auth.htpasswd`: Basic authentication with bcrypt entries made by Apache's `htpasswd -B`,
/// checked by the server, followed by berth and skopeo.
@Suite(.enabled(if: Interop.enabled("htpasswd"), "htpasswd (apache2-utils) is not installed"))
struct HtpasswdAuthTests {
    func basic(_ user: String, _ password: String) -> [(String, String)] {
        [("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())]
    }

    @Test func onlyBcryptUsersGetInAndTheFileIsReadAgainWhenItChanges() async throws {
        let htpasswd = try Interop.tool("htpasswd")
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let file = berth.path("htpasswd")
        try await Interop.shell("'\(htpasswd)' -cBb '\(file)' alice secret 2>/dev/null")
        try await withServer({ config in
            config.htpasswd = ("Berth Test", file)
            config.authFailureDelay = .milliseconds(300)
        }) { server, http in
            let anonymous = try await http.get("/v2/")
            #expect(anonymous.status == 401 && anonymous.header("WWW-Authenticate") == #"Basic realm="Berth Test""#)
            #expect((anonymous.json["errors"] as? [[String: Any]])?.first?["code"] as? String == "UNAUTHORIZED")
            let started = ContinuousClock.now
            #expect(try await http.get("/v2/", headers: basic("alice", "wrong")).status == 401)
            #expect(ContinuousClock.now - started >= .milliseconds(300), "failures wait the configured delay")
            #expect(try await http.get("/v2/", headers: basic("nobody", "secret")).status == 401)
            #expect(try await http.get("/v2/", headers: [("Authorization", "Basic !!!")]).status == 401)
            #expect(try await http.get("/v2/", headers: basic("alice", "secret")).status == 200)
            #expect(try await http.get("/v2/_catalog", headers: basic("alice", "secret")).status == 200)
            #expect(try await http.get("/v2/_catalog").status == 401)

            // A broken edit is not taken (the previous entries stay); the next good one is.
            let good = try String(contentsOfFile: file, encoding: .utf8)
            try await Interop.shell("'\(htpasswd)' -mb '\(file)' bob md5pass 2>/dev/null")
            #expect(try await http.get("/v2/", headers: basic("alice", "secret")).status == 200)
            #expect(try await http.get("/v2/", headers: basic("bob", "md5pass")).status == 401, "non-bcrypt entries are refused")
            try good.write(toFile: file, atomically: true, encoding: .utf8)

            // Changes to the file apply without a restart (a new login reads it at once; the file
            // is looked at within a second for remembered ones), and a removed user's cached
            // login goes too.
            try await Interop.shell("'\(htpasswd)' -Bb '\(file)' carol other && '\(htpasswd)' -D '\(file)' alice 2>/dev/null")
            #expect(try await http.get("/v2/", headers: basic("carol", "other")).status == 200)
            var removed = 0
            for _ in 0..<300 where removed != 401 {
                removed = try await http.get("/v2/", headers: basic("alice", "secret")).status
                if removed != 401 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(removed == 401)

            // berth login stores the credentials and copy uses them; a wrong password writes nothing.
            let host = "127.0.0.1:\(server.port)"
            let layout = berth.home.appendingPathComponent("layout")
            _ = try await OCILayoutFixture.standard(at: layout)
            let refused = try await berth.run(["login", "--tls-verify=false", "-u", "carol", "--password-stdin", host], stdin: "nope\n")
            #expect(refused.status == 1 && !FileManager.default.fileExists(atPath: berth.authFile.path), "\(refused.stderr)")
            let anonymousPush = try await berth.run(["copy", "-q", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"])
            #expect(anonymousPush.status == 1 && anonymousPush.stderr.split(separator: "\n").count == 1, "\(anonymousPush.stderr)")
            try await berth.succeed(["login", "--tls-verify=false", "-u", "carol", "--password-stdin", host], stdin: "other\n")
            try await berth.succeed(["copy", "-q", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"])
            #expect(try await http.get("/v2/team/app/tags/list", headers: basic("carol", "other")).json["tags"] as? [String] == ["v1"])

            if Interop.enabled("skopeo") {
                let skopeo = try Interop.tool("skopeo")
                let pushed = try await Interop.run(skopeo, [
                    "copy", "--dest-tls-verify=false", "--dest-creds", "carol:other", "oci:\(layout.path):v1", "docker://\(host)/skopeo/app:v1",
                ])
                #expect(pushed.status == 0, "\(pushed.stderr)")
                let denied = try await Interop.run(skopeo, ["inspect", "--tls-verify=false", "--creds", "carol:bad", "docker://\(host)/skopeo/app:v1"])
                #expect(denied.status != 0)
            }
        }
    }
}
