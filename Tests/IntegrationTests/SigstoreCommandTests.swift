import Foundation
import OCI
import Testing

/// `generate-sigstore-key`, `copy --sign-by-sigstore-private-key` and `sigstoreSigned` policies,
/// with the signature checked by an independent implementation (Python's `cryptography`).
@Suite struct SigstoreCommandTests {
    @Test func generatedKeysSignAndThePolicyChecksIt() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let layout = berth.home.appendingPathComponent("layout")
        _ = try await OCILayoutFixture.standard(at: layout)
        let passphrase = berth.path("pass")
        try Data("open sesame\n".utf8).write(to: URL(fileURLWithPath: passphrase))
        let generated = try await berth.run(["generate-sigstore-key", "--output-prefix", berth.path("mykey"), "--passphrase-file", passphrase])
        #expect(generated.status == 0, "\(generated.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: berth.path("mykey.private"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try await berth.run(["generate-sigstore-key", "--output-prefix", berth.path("mykey"), "--passphrase-file", passphrase])
        #expect(again.status == 1 && again.stderr.contains("refusing to overwrite"))
        _ = try await berth.run(["generate-sigstore-key", "--output-prefix", berth.path("other"), "--passphrase-file", passphrase])

        let signed = berth.path("signed")
        let copied = try await berth.run([
            "copy", "--sign-by-sigstore-private-key", berth.path("mykey.private"), "--sign-passphrase-file", passphrase,
            "--sign-identity", "example.com/team/app:v1", "oci:\(layout.path):v1", "dir:\(signed)",
        ])
        #expect(copied.status == 0, "\(copied.stderr)")
        let blob = try Data(contentsOf: URL(fileURLWithPath: "\(signed)/signature-1"))
        #expect(blob.starts(with: Array("\u{0}sigstore-json\n".utf8)))

        let wrong = berth.path("wrong")
        try Data("nope\n".utf8).write(to: URL(fileURLWithPath: wrong))
        let refused = try await berth.run([
            "copy", "--sign-by-sigstore-private-key", berth.path("mykey.private"), "--sign-passphrase-file", wrong,
            "--sign-identity", "example.com/team/app:v1", "oci:\(layout.path):v1", "dir:\(berth.path("never"))",
        ])
        #expect(refused.status == 1 && refused.stderr.contains("wrong passphrase") && !FileManager.default.fileExists(atPath: berth.path("never")))

        func policy(_ key: String, _ name: String) throws -> String {
            let file = berth.path(name)
            try Data(
                #"{"default": [{"type": "sigstoreSigned", "keyPath": "\#(berth.path(key))", "signedIdentity": {"type": "exactReference", "dockerReference": "example.com/team/app:v1"}}]}"#
                    .utf8
            ).write(to: URL(fileURLWithPath: file))
            return file
        }
        let accepted = try await berth.run(["copy", "--policy", try policy("mykey.pub", "good.json"), "dir:\(signed)", "dir:\(berth.path("ok"))"])
        #expect(accepted.status == 0 && FileManager.default.fileExists(atPath: berth.path("ok/signature-1")), "\(accepted.stderr)")
        let otherKey = try await berth.run(["copy", "--policy", try policy("other.pub", "bad.json"), "dir:\(signed)", "dir:\(berth.path("no"))"])
        #expect(otherKey.status == 1 && otherKey.stderr.contains("no valid signature"), "\(otherKey.stderr)")
        let unsigned = try await berth.run(["copy", "--policy", try policy("mykey.pub", "good2.json"), "oci:\(layout.path):v1", "dir:\(berth.path("no2"))"])
        #expect(unsigned.status == 1 && unsigned.stderr.contains("A signature was required"), "\(unsigned.stderr)")

        // An independent verifier: ECDSA P-256 over the payload with the public key, in Python.
        let check = try await Interop.run("/usr/bin/env", [
            "python3", "-c",
            """
            import base64, json, sys
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            blob = open(sys.argv[1], 'rb').read()
            doc = json.loads(blob[len(b'\\x00sigstore-json\\n'):])
            key = serialization.load_pem_public_key(open(sys.argv[2], 'rb').read())
            payload = base64.b64decode(doc['payload'])
            key.verify(base64.b64decode(doc['annotations']['dev.cosignproject.cosign/signature']), payload, ec.ECDSA(hashes.SHA256()))
            print(json.loads(payload)['critical']['identity']['docker-reference'])
            """,
            "\(signed)/signature-1", berth.path("mykey.pub"),
        ])
        if check.stderr.contains("No module named 'cryptography'") {
            #expect(!Interop.required, "python3-cryptography is required in CI")
        } else {
            #expect(check.status == 0 && check.stdout == "example.com/team/app:v1\n", "\(check.stderr)")
        }
    }
}
