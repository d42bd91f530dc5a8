import Foundation
import OCI
import Testing
import TestSupport

/// Simple signatures in lookaside storage (registries.d `lookaside`/`lookaside-staging`) for a
/// registry without the signature API (CNCF distribution): written by one of berth and skopeo,
/// published, and enforced by the other; per-instance signatures of an index; sync.
@Suite(.enabled(if: Interop.enabled("skopeo") && Interop.enabled("gpg") && Interop.enabled("docker-registry"), "skopeo, gpg or docker-registry is not installed"))
struct LookasideTests {
    @Test func stagedSignaturesArePublishedAndEnforcedBothWays() async throws {
        let skopeo = try Interop.tool("skopeo")
        try await Self.withHomes { home, registry, berth, env in
            func run(_ tool: String, _ arguments: [String]) async throws -> Interop.Output { try await Interop.run(tool, arguments, environment: env) }
            let layout = berth.home.appendingPathComponent("layout")
            let (_, v1, _) = try await OCILayoutFixture.standard(at: layout)
            let host = "127.0.0.1:\(registry.port)"
            let staging = berth.path("staging")
            let published = berth.path("published")
            let config = try registriesD(berth, "d", "default-docker:\n  lookaside: file://\(published)\n  lookaside-staging: file://\(staging)\n")
            let policy = try await home.signedByPolicy(host: host, scratch: berth)
            let signatureFile = "team/app@sha256=\(Digest.of(v1).encoded)/signature-1"

            // berth signs into the staging area only.
            let signed = try await run(Interop.berthBinary, [
                "copy", "--registries.d", config, "--dest-tls-verify=false", "--sign-by", home.fingerprint, "oci:\(layout.path):v1", "docker://\(host)/team/app:v1",
            ])
            #expect(signed.status == 0 && signed.stderr.contains("Storing signatures"), "\(signed.stderr)")
            #expect(FileManager.default.fileExists(atPath: "\(staging)/\(signatureFile)"))
            #expect(!FileManager.default.fileExists(atPath: "\(published)/\(signatureFile)"))

            // skopeo reads `lookaside`: nothing until the staging area is published.
            let skopeoCopy = ["--policy", policy, "--registries.d", config, "copy", "--src-tls-verify=false", "docker://\(host)/team/app:v1"]
            let before = try await run(skopeo, skopeoCopy + ["dir:\(berth.path("before"))"])
            #expect(before.status != 0 && before.stderr.contains("signature"), "\(before.stderr)")
            try FileManager.default.copyItem(atPath: staging, toPath: published)
            let after = try await run(skopeo, skopeoCopy + ["dir:\(berth.path("after"))"])
            #expect(after.status == 0, "\(after.stderr)")

            // skopeo signs into its staging area; berth reads the published copy over HTTP.
            let skopeoStaging = berth.path("skopeo-staging")
            let skopeoConfig = try registriesD(berth, "d2", "default-docker:\n  lookaside-staging: file://\(skopeoStaging)\n")
            let skopeoSigned = try await run(skopeo, [
                "--insecure-policy", "--registries.d", skopeoConfig, "copy", "--dest-tls-verify=false", "--sign-by", home.fingerprint,
                "oci:\(layout.path):v1", "docker://\(host)/team/other:v1",
            ])
            #expect(skopeoSigned.status == 0, "\(skopeoSigned.stderr)")
            let server = try await StaticHTTPServer(directory: skopeoStaging)
            defer { server.stop() }
            let httpConfig = try registriesD(berth, "d3", "docker:\n  \(host)/team:\n    lookaside: http://127.0.0.1:\(server.port)\n")
            let berthCopy = ["copy", "--policy", policy, "--registries.d", httpConfig, "--src-tls-verify=false"]
            let accepted = try await run(Interop.berthBinary, berthCopy + ["docker://\(host)/team/other:v1", "dir:\(berth.path("accepted"))"])
            #expect(accepted.status == 0 && FileManager.default.fileExists(atPath: berth.path("accepted/signature-1")), "\(accepted.stderr)")
            // team/app's signature is not on that server: refused, nothing written.
            let refused = try await run(Interop.berthBinary, berthCopy + ["docker://\(host)/team/app:v1", "dir:\(berth.path("refused"))"])
            #expect(refused.status == 1 && refused.stderr.contains("A signature was required"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: berth.path("refused")))

            // An http lookaside cannot be written.
            let readOnly = try await run(Interop.berthBinary, [
                "copy", "--registries.d", httpConfig, "--dest-tls-verify=false", "--sign-by", home.fingerprint, "oci:\(layout.path):v1", "docker://\(host)/team/third:v1",
            ])
            #expect(readOnly.status == 1 && readOnly.stderr.contains("lookaside-staging"), "\(readOnly.stderr)")
        }
    }

    @Test func instanceSignaturesAndSyncKeepTheirPlaces() async throws {
        try await Self.withHomes { home, registry, berth, env in
            func run(_ arguments: [String]) async throws -> Interop.Output { try await Interop.run(Interop.berthBinary, arguments, environment: env) }
            let layout = berth.home.appendingPathComponent("layout")
            let (_, v1, multi) = try await OCILayoutFixture.standard(at: layout)
            let host = "127.0.0.1:\(registry.port)"
            let store = berth.path("sigs")
            let config = try registriesD(berth, "d", "default-docker:\n  lookaside: file://\(store)\n")
            let instance = Digest.of(v1)

            // A dir: copy of the index, its amd64 instance signed on its own.
            let first = berth.path("first")
            let toDir = try await run(["copy", "--all", "--sign-by", home.fingerprint, "--sign-identity", "\(host)/team/multi:v1", "oci:\(layout.path):multi", "dir:\(first)"])
            #expect(toDir.status == 0, "\(toDir.stderr)")
            let instanceSignature = "\(first)/\(instance.encoded).signature-1"
            let signedInstance = try await run([
                "standalone-sign", "\(first)/\(instance.encoded).manifest.json", "\(host)/team/multi:v1", home.fingerprint, "--output", instanceSignature,
            ])
            #expect(signedInstance.status == 0, "\(signedInstance.stderr)")

            let pushed = try await run(["copy", "--all", "--registries.d", config, "--dest-tls-verify=false", "dir:\(first)", "docker://\(host)/team/multi:v1"])
            #expect(pushed.status == 0, "\(pushed.stderr)")
            let indexSignature = "\(store)/team/multi@sha256=\(Digest.of(multi).encoded)/signature-1"
            let storedInstance = "\(store)/team/multi@sha256=\(instance.encoded)/signature-1"
            #expect(try Data(contentsOf: URL(fileURLWithPath: storedInstance)) == Data(contentsOf: URL(fileURLWithPath: instanceSignature)))
            #expect(FileManager.default.fileExists(atPath: indexSignature))

            let back = berth.path("back")
            let pulled = try await run(["copy", "--all", "--registries.d", config, "--src-tls-verify=false", "docker://\(host)/team/multi:v1", "dir:\(back)"])
            #expect(pulled.status == 0, "\(pulled.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(back)/\(instance.encoded).signature-1")) == Data(contentsOf: URL(fileURLWithPath: instanceSignature)))
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(back)/signature-1")) == Data(contentsOf: URL(fileURLWithPath: "\(first)/signature-1")))

            // sync carries both into the mirror's repository.
            let synced = try await run([
                "sync", "--all", "--registries.d", config, "--src", "docker", "--dest", "docker", "--src-tls-verify=false", "--dest-tls-verify=false",
                "\(host)/team/multi", "\(host)/mirror",
            ])
            #expect(synced.status == 0, "\(synced.stderr)")
            #expect(FileManager.default.fileExists(atPath: "\(store)/mirror/multi@sha256=\(Digest.of(multi).encoded)/signature-1"))
            #expect(FileManager.default.fileExists(atPath: "\(store)/mirror/multi@sha256=\(instance.encoded)/signature-1"))
        }
    }

    /// One test's GPG home, docker-registry and berth home (removed afterwards), and the
    /// environment that points gpg at the GPG home.
    static func withHomes(_ body: (GPGHome, DockerRegistryProcess, BerthCommand, [String: String]) async throws -> Void) async throws {
        let home = try await GPGHome()
        defer { home.cleanup() }
        let registry = try await DockerRegistryProcess()
        defer { registry.stop() }
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        try await body(home, registry, berth, berth.environment.merging(["GNUPGHOME": home.path]) { $1 })
    }
}

/// Writes a registries.d directory with one file and returns its path.
func registriesD(_ berth: BerthCommand, _ name: String, _ yaml: String) throws -> String {
    let directory = berth.path(name)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try Data(yaml.utf8).write(to: URL(fileURLWithPath: "\(directory)/signatures.yaml"))
    return directory
}

/// Python's static file server on a free loopback port: a published lookaside.
final class StaticHTTPServer: Sendable {
    let process: Spawned
    let port: Int

    init(directory: String) async throws {
        port = try freePort()
        process = try Spawn.start("/usr/bin/env", ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory])
        for _ in 0..<200 {
            if let socket = try? RawSocket(port: port) {
                socket.close()
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw TestFailure("python3 -m http.server did not come up on port \(port)")
    }

    /// SIGKILL, and the exit reaped (bounded).
    func stop() {
        process.signal(SIGKILL)
        _ = process.wait(timeout: .seconds(10))
    }
}
