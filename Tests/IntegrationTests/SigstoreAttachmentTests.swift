import Foundation
import OCI
import Testing

/// Sigstore signatures in a registry as cosign stores them (`sha256-<hex>.sig`), written and read
/// only where registries.d enables `use-sigstore-attachments`, with published cosign keys.
@Suite struct SigstoreAttachmentTests {
    static let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("testdata/sigstore").path

    @Test func signaturesJoinTheSigTagAndTravelWithCopyAndSync() async throws {
        try await withServer { server, http in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let layout = berth.home.appendingPathComponent("layout")
            let (_, v1, _) = try await OCILayoutFixture.standard(at: layout)
            let host = "127.0.0.1:\(server.port)"
            let config = try registriesD(berth, "d", "docker:\n  \(host):\n    use-sigstore-attachments: true\n")
            let publishedKey = "\(Self.vectors)/keys/cosign-keys_test-pemcosignkey.key"
            let password = berth.path("password")
            try Data("hello\n".utf8).write(to: URL(fileURLWithPath: password))
            let sigTag = "sha256-\(Digest.of(v1).encoded).sig"

            // Without the registries.d switch a sigstore signature has nowhere to go: refused before anything is pushed.
            let disabled = try await berth.run([
                "copy", "--dest-tls-verify=false", "--sign-by-sigstore-private-key", publishedKey, "--sign-passphrase-file", password,
                "oci:\(layout.path):v1", "docker://\(host)/team/app:v1",
            ])
            #expect(disabled.status == 1 && disabled.stderr.contains("use-sigstore-attachments"), "\(disabled.stderr)")
            #expect(try await http.get("/v2/team/app/manifests/v1").status == 404)

            // A published cosign key (password "hello") signs; a generated key adds a second layer.
            try await berth.succeed([
                "copy", "--registries.d", config, "--dest-tls-verify=false", "--sign-by-sigstore-private-key", publishedKey,
                "--sign-passphrase-file", password, "oci:\(layout.path):v1", "docker://\(host)/team/app:v1",
            ])
            try await berth.succeed(["generate-sigstore-key", "--output-prefix", berth.path("mine"), "--passphrase-file", password])
            try await berth.succeed([
                "copy", "--registries.d", config, "--dest-tls-verify=false", "--sign-by-sigstore-private-key", berth.path("mine.private"),
                "--sign-passphrase-file", password, "oci:\(layout.path):v1", "docker://\(host)/team/app:v1",
            ])
            let sig = try await http.get("/v2/team/app/manifests/\(sigTag)")
            #expect(sig.status == 200)
            let layers = sig.json["layers"] as? [[String: Any]] ?? []
            #expect(layers.count == 2)
            #expect(layers.allSatisfy { $0["mediaType"] as? String == "application/vnd.dev.cosign.simplesigning.v1+json" })
            #expect(layers.allSatisfy { (($0["annotations"] as? [String: String])?["dev.cosignproject.cosign/signature"]) != nil })
            let configDigest = (sig.json["config"] as? [String: Any])?["digest"] as? String ?? ""
            let sigConfig = try await http.get("/v2/team/app/blobs/\(configDigest)").json
            #expect(((sigConfig["rootfs"] as? [String: Any])?["diff_ids"] as? [String]) == layers.map { $0["digest"] as? String ?? "" })

            // Each key's policy accepts the image read through the registry; another key's refuses, writing nothing.
            func policy(_ key: String) throws -> String {
                let file = berth.path("policy-\(UUID().uuidString.prefix(6)).json")
                try Data(#"{"default": [{"type": "reject"}], "transports": {"docker": {"\#(host)": [{"type": "sigstoreSigned", "keyPath": "\#(key)"}]}, "dir": {"": [{"type": "insecureAcceptAnything"}]}}}"#.utf8)
                    .write(to: URL(fileURLWithPath: file))
                return file
            }
            let pull = ["copy", "--registries.d", config, "--src-tls-verify=false"]
            for key in ["\(Self.vectors)/keys/cosign-keys_test-pemcosignkey.pub", berth.path("mine.pub")] {
                let target = berth.path("ok-\(UUID().uuidString.prefix(6))")
                let accepted = try await berth.run(pull + ["--policy", try policy(key), "docker://\(host)/team/app:v1", "dir:\(target)"])
                #expect(accepted.status == 0, "\(accepted.stderr)")
                #expect(FileManager.default.fileExists(atPath: "\(target)/signature-2"))
            }
            let refused = try await berth.run(pull + ["--policy", try policy("\(Self.vectors)/cosign.pub"), "docker://\(host)/team/app:v1", "dir:\(berth.path("no"))"])
            #expect(refused.status == 1 && refused.stderr.contains("no valid signature"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: berth.path("no")))
            // Without the switch the registry's .sig is not consulted: no signature at all.
            let unconfigured = try await berth.run([
                "copy", "--src-tls-verify=false", "--policy", try policy(berth.path("mine.pub")), "docker://\(host)/team/app:v1", "dir:\(berth.path("no2"))",
            ])
            #expect(unconfigured.status == 1 && unconfigured.stderr.contains("A signature was required"), "\(unconfigured.stderr)")

            // Registry → registry, dir → registry and sync keep exactly the two signatures.
            try await berth.succeed(["copy", "--registries.d", config, "--src-tls-verify=false", "--dest-tls-verify=false", "docker://\(host)/team/app:v1", "docker://\(host)/mirror/app:v1"])
            let viaDir = berth.path("via-dir")
            try await berth.succeed(pull + ["docker://\(host)/team/app:v1", "dir:\(viaDir)"])
            try await berth.succeed(["copy", "--registries.d", config, "--dest-tls-verify=false", "dir:\(viaDir)", "docker://\(host)/fromdir/app:v1"])
            try await berth.succeed([
                "sync", "--registries.d", config, "--src", "docker", "--dest", "docker", "--src-tls-verify=false", "--dest-tls-verify=false",
                "\(host)/team/app", "\(host)/synced",
            ])
            // sync --sign-by… adds a signature for the mirror's own name, which its policy then accepts.
            try await berth.succeed([
                "sync", "--registries.d", config, "--src", "docker", "--dest", "docker", "--src-tls-verify=false", "--dest-tls-verify=false",
                "--sign-by-sigstore-private-key", berth.path("mine.private"), "--sign-passphrase-file", password, "\(host)/team/app", "\(host)/signed",
            ])
            let resigned = try await http.get("/v2/signed/app/manifests/\(sigTag)").json["layers"] as? [[String: Any]] ?? []
            #expect(resigned.count == 3)
            let mirrorAccepted = try await berth.run(pull + ["--policy", try policy(berth.path("mine.pub")), "docker://\(host)/signed/app:v1", "dir:\(berth.path("signed"))"])
            #expect(mirrorAccepted.status == 0, "\(mirrorAccepted.stderr)")

            for repository in ["mirror/app", "fromdir/app", "synced/app"] {
                let copied = try await http.get("/v2/\(repository)/manifests/\(sigTag)")
                let copiedLayers = copied.json["layers"] as? [[String: Any]] ?? []
                #expect(copiedLayers.map { $0["digest"] as? String } == layers.map { $0["digest"] as? String }, "\(repository)")
                let check = try await berth.run(pull + ["--policy", try policy(berth.path("mine.pub")), "docker://\(host)/\(repository):v1", "dir:\(berth.path("check-\(repository.prefix(4))"))"])
                // The signed identity names team/app, so another repository needs the identity remapped: refused here.
                #expect(check.status == 1 && check.stderr.contains("is not accepted for"), "\(repository): \(check.stderr)")
            }
        }
    }
}
