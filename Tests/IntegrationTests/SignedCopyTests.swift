import Foundation
import OCI
import Testing

/// Simple signatures made by `copy --sign-by`, carried by copy and sync, and enforced by skopeo.
@Suite(.enabled(if: Interop.enabled("skopeo") && Interop.enabled("gpg"), "skopeo or gpg is not installed"))
struct SignedCopyTests {
    @Test func berthSignsSkopeoEnforcesAndSignaturesTravel() async throws {
        let skopeo = try Interop.tool("skopeo")
        let home = try await GPGHome()
        defer { home.cleanup() }
        try await withServer { server, http in
            try await withServer { mirror, _ in
                let berth = try BerthCommand()
                defer { berth.cleanup() }
                let env = berth.environment.merging(["GNUPGHOME": home.path]) { $1 }
                func run(_ arguments: [String]) async throws -> Interop.Output {
                    try await Interop.run(Interop.berthBinary, arguments, environment: env)
                }
                let layout = berth.home.appendingPathComponent("layout")
                let (_, v1, _) = try await OCILayoutFixture.standard(at: layout)
                let host = "127.0.0.1:\(server.port)"
                let signed = try await run(["copy", "--dest-tls-verify=false", "--sign-by", home.fingerprint, "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"])
                #expect(signed.status == 0 && signed.stderr.contains("Storing signatures"), "\(signed.stderr)")
                let stored = try await http.get("/extensions/v2/team/app/signatures/\(Digest.of(v1))").json["signatures"] as? [[String: Any]]
                #expect(stored?.count == 1)
                _ = try await run(["copy", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(host)/team/unsigned:v1"])

                let verdicts = try await home.skopeoPolicyVerdicts(
                    host: host, accepted: "docker://\(host)/team/app:v1", rejected: "docker://\(host)/team/unsigned:v1", scratch: berth)
                #expect(verdicts.accepted.status == 0, "\(verdicts.accepted.stderr)")
                #expect(verdicts.rejected.status != 0)

                // registry → dir carries the signature; it verifies against the copied manifest.
                let toDir = try await run(["copy", "--src-tls-verify=false", "docker://\(host)/team/app:v1", "dir:\(berth.path("d"))"])
                #expect(toDir.status == 0, "\(toDir.stderr)")
                let verified = try await run([
                    "standalone-verify", berth.path("d/manifest.json"), "\(host)/team/app:v1", home.fingerprint, berth.path("d/signature-1"),
                ])
                #expect(verified.status == 0, "\(verified.stderr)")

                // Transports that cannot hold them, and conversions, refuse unless told to drop them.
                let toOCI = try await run(["copy", "--src-tls-verify=false", "docker://\(host)/team/app:v1", "oci:\(berth.path("o")):v1"])
                #expect(toOCI.status == 1 && toOCI.stderr.contains("--remove-signatures"), "\(toOCI.stderr)")
                let converted = try await run(["copy", "-f", "v2s2", "--src-tls-verify=false", "docker://\(host)/team/app:v1", "dir:\(berth.path("c"))"])
                #expect(converted.status == 1 && converted.stderr.contains("invalidate its signatures"), "\(converted.stderr)")
                let dropped = try await run(["copy", "--remove-signatures", "--src-tls-verify=false", "docker://\(host)/team/app:v1", "oci:\(berth.path("o2")):v1"])
                #expect(dropped.status == 0, "\(dropped.stderr)")

                // sync keeps them between registries.
                let synced = try await run(["sync", "--src", "docker", "--dest", "docker", "--src-tls-verify=false", "--dest-tls-verify=false", "\(host)/team/app", "127.0.0.1:\(mirror.port)/mirror"])
                #expect(synced.status == 0, "\(synced.stderr)")
                // The mirror's copy carries the original signature: skopeo accepts it with the identity remapped.
                let mirrorPolicy = try await home.signedByPolicy(
                    host: "127.0.0.1:\(mirror.port)", remap: ("127.0.0.1:\(mirror.port)/mirror", "\(host)/team"), scratch: berth)
                let mirrored = try await Interop.run(
                    skopeo, ["--policy", mirrorPolicy, "copy", "--src-tls-verify=false", "docker://127.0.0.1:\(mirror.port)/mirror/app:v1", "dir:\(berth.path("m"))"],
                    environment: env)
                #expect(mirrored.status == 0, "\(mirrored.stderr)")

                let berthMirrored = try await run(["copy", "--policy", mirrorPolicy, "--src-tls-verify=false", "docker://127.0.0.1:\(mirror.port)/mirror/app:v1", "dir:\(berth.path("m3"))"])
                #expect(berthMirrored.status == 0, "\(berthMirrored.stderr)")
                let strictPolicy = try await home.signedByPolicy(host: "127.0.0.1:\(mirror.port)", scratch: berth)
                let wrongIdentity = try await run(["copy", "--policy", strictPolicy, "--src-tls-verify=false", "docker://127.0.0.1:\(mirror.port)/mirror/app:v1", "dir:\(berth.path("m4"))"])
                #expect(wrongIdentity.status == 1 && wrongIdentity.stderr.contains("is not accepted for"), "\(wrongIdentity.stderr)")
                #expect(!FileManager.default.fileExists(atPath: berth.path("m4")))
                let badPolicy = berth.path("bad-policy.json")
                try Data(#"{"default": [{"type": "trustMeBro"}]}"#.utf8).write(to: URL(fileURLWithPath: badPolicy))
                let invalid = try await run(["copy", "--policy", badPolicy, "oci:\(layout.path):v1", "dir:\(berth.path("x"))"])
                #expect(invalid.status == 1 && invalid.stderr.contains("unknown policy requirement type") && invalid.stderr.split(separator: "\n").count == 1, "\(invalid.stderr)")

                // dir destinations need an identity to sign for.
                let noIdentity = try await run(["copy", "--sign-by", home.fingerprint, "oci:\(layout.path):v1", "dir:\(berth.path("s"))"])
                #expect(noIdentity.status == 1 && noIdentity.stderr.contains("--sign-identity"), "\(noIdentity.stderr)")
                let withIdentity = try await run(["copy", "--sign-by", home.fingerprint, "--sign-identity", "example.com/team/app:v1", "oci:\(layout.path):v1", "dir:\(berth.path("s2"))"])
                #expect(withIdentity.status == 0, "\(withIdentity.stderr)")
                let skopeoVerifies = try await Interop.run(
                    skopeo, ["standalone-verify", berth.path("s2/manifest.json"), "example.com/team/app:v1", home.fingerprint, berth.path("s2/signature-1")], environment: env)
                #expect(skopeoVerifies.status == 0, "\(skopeoVerifies.stderr)")
            }
        }
    }
}
