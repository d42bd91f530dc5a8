import Foundation
import OCI
import Testing

/// Logging in and copying through registries that want credentials: Debian's docker-registry with
/// an htpasswd file (Basic) and `berth serve` behind a token gate (Bearer, as Docker Hub does).
@Suite struct AuthCommandTests {
    @Test(.enabled(if: Interop.enabled("docker-registry") && Interop.enabled("htpasswd"), "docker-registry or htpasswd (apache2-utils) is not installed"))
    func basicAuthWithLoginAndTheAuthFile() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let htpasswd = try await Interop.run(try Interop.tool("htpasswd"), ["-Bbn", "alice", "secret"])
        let passwords = berth.path("htpasswd")
        try Data(htpasswd.stdout.utf8).write(to: URL(fileURLWithPath: passwords))
        let registry = try await DockerRegistryProcess(extraConfig: "auth:\n  htpasswd:\n    realm: berth-test\n    path: \(passwords)\n")
        defer { registry.stop() }
        let host = "127.0.0.1:\(registry.port)"
        let layout = berth.home.appendingPathComponent("layout")
        let (_, v1, _) = try await OCILayoutFixture.standard(at: layout)

        let anonymous = try await berth.run(["copy", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"])
        #expect(anonymous.status == 1 && anonymous.stderr.contains("authentication failed"), "\(anonymous.stderr)")
        let wrong = try await berth.run(["login", "--tls-verify=false", "-u", "alice", "--password-stdin", host], stdin: "nope\n")
        #expect(wrong.status == 1 && wrong.stderr.contains("invalid username/password"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: berth.authFile.path))

        let login = try await berth.run(["login", "--tls-verify=false", "-u", "alice", "--password-stdin", host], stdin: "secret\n")
        #expect(login.status == 0 && login.stdout.contains("Login Succeeded!"), "\(login.stderr)")
        let stored = try String(contentsOf: berth.authFile, encoding: .utf8)
        #expect(stored.contains("\"\(host)\"") && stored.contains(Data("alice:secret".utf8).base64EncodedString()))
        #expect(try await berth.succeed(["login", "--get-login", host]).stdout == "alice\n")

        #expect(try await berth.copy(["--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"]) == Digest.of(v1).description)
        #expect(try await berth.copy(["--src-tls-verify=false", "docker://\(host)/team/app:v1", "dir:\(berth.path("d"))"]) == Digest.of(v1).description)
        let noCreds = try await berth.run(["inspect", "--no-creds", "--tls-verify=false", "docker://\(host)/team/app:v1"])
        #expect(noCreds.status == 1)

        try await berth.succeed(["logout", host])
        let after = try await berth.run(["inspect", "--tls-verify=false", "docker://\(host)/team/app:v1"])
        #expect(after.status == 1 && after.stderr.contains("authentication failed"))
        let flagged = try await berth.succeed(["inspect", "--creds", "alice:secret", "--tls-verify=false", "docker://\(host)/team/app:v1"])
        #expect(flagged.stdout.contains(Digest.of(v1).description))
        let notLoggedIn = try await berth.run(["logout", host])
        #expect(notLoggedIn.status == 1 && notLoggedIn.stderr.contains("not logged into"))
    }

    @Test func bearerTokensFromTheChallengeAreFetchedOncePerScope() async throws {
        try await withServer { server, _ in
            let gate = TokenGate(backend: "http://127.0.0.1:\(server.port)")
            try await gate.run { port in
                let berth = try BerthCommand()
                defer { berth.cleanup() }
                let layout = berth.home.appendingPathComponent("layout")
                let (_, v1, multi) = try await OCILayoutFixture.standard(at: layout)
                let host = "127.0.0.1:\(port)"
                let denied = try await berth.run(["copy", "--dest-tls-verify=false", "--dest-creds", "alice:wrong", "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"])
                #expect(denied.status == 1 && denied.stderr.contains("token server"), "\(denied.stderr)")

                let before = gate.tokenRequests.load(ordering: .relaxed)
                let digest = try await berth.copy(["--all", "--dest-tls-verify=false", "--dest-creds", "alice:secret", "oci:\(layout.path):multi", "docker://\(host)/team/app:multi"])
                #expect(digest == Digest.of(multi).description)
                // One token for the push scope, reused for every blob and manifest (the ping's own aside).
                #expect(gate.tokenRequests.load(ordering: .relaxed) - before <= 2)

                let copied = try await berth.copy(["--src-tls-verify=false", "--src-creds", "alice:secret", "docker://\(host)/team/app:multi", "oci:\(berth.path("o")):v1"])
                #expect(copied == Digest.of(v1).description)
                let token = "token-" + Data("repository:team/app:pull".utf8).base64EncodedString()
                let withToken = try await berth.succeed(["inspect", "--raw", "--registry-token", token, "--tls-verify=false", "docker://\(host)/team/app:multi"])
                #expect(Digest.of(Array(withToken.stdout.utf8)).description == Digest.of(multi).description)
            }
        }
    }
}
