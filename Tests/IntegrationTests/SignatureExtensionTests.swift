import Foundation
import OCI
import Testing

/// The signature extension API (`/extensions/v2/<name>/signatures/<digest>`), over HTTP and as
/// skopeo uses it for `copy --sign-by` and `signedBy` policies.
@Suite struct SignatureExtensionTests {
    @Test func storesListsAndForgetsSignaturesWithTheirManifest() async throws {
        try await withServer { _, http in
            #expect(try await http.get("/v2/").header("X-Registry-Supports-Signatures") == "1")
            let image = Fixtures.image()
            try await http.push(image, to: "team/app", as: "v1")
            let path = "/extensions/v2/team/app/signatures/\(image.digest)"
            #expect(try await http.get(path).json["signatures"] as? [Any] != nil)
            #expect((try await http.get(path).json["signatures"] as? [Any])?.isEmpty == true)
            let content = Data("not really OpenPGP".utf8).base64EncodedString()
            let signature = #"{"schemaVersion":2,"type":"atomic","name":"\#(image.digest)@0123abcd","content":"\#(content)"}"#
            #expect(try await http.send(.PUT, path, body: Array(signature.utf8)).status == 201)
            #expect(try await http.send(.PUT, path, body: Array(signature.utf8)).status == 201)
            let listed = try await http.get(path).json["signatures"] as? [[String: Any]]
            #expect(listed?.count == 1 && listed?.first?["content"] as? String == content && listed?.first?["type"] as? String == "atomic")

            for bad in [
                #"{"schemaVersion":2,"type":"atomic","name":"sha256:\#(String(repeating: "0", count: 64))@x","content":"\#(content)"}"#,
                #"{"schemaVersion":2,"type":"atomic","name":"\#(image.digest)@","content":"\#(content)"}"#,
                #"{"schemaVersion":1,"type":"atomic","name":"\#(image.digest)@ab","content":"\#(content)"}"#,
                #"{"schemaVersion":2,"type":"atomic","name":"\#(image.digest)@ab","content":"%%%"}"#,
                "not json",
            ] {
                let reply = try await http.send(.PUT, path, body: Array(bad.utf8))
                #expect(reply.status == 400 && reply.errorCode == "MANIFEST_INVALID", "\(bad)")
            }
            let unknown = "/extensions/v2/team/app/signatures/sha256:\(String(repeating: "1", count: 64))"
            #expect(try await http.get(unknown).errorCode == "MANIFEST_UNKNOWN")
            let forUnknown = signature.replacingOccurrences(of: image.digest, with: String(unknown.split(separator: "/").last!))
            #expect(try await http.send(.PUT, unknown, body: Array(forUnknown.utf8)).errorCode == "MANIFEST_UNKNOWN")
            #expect(try await http.get("/extensions/v2/team/app/signatures/nope").errorCode == "DIGEST_INVALID")

            #expect(try await http.delete("/v2/team/app/manifests/\(image.digest)").status == 202)
            #expect(try await http.get(path).errorCode == "MANIFEST_UNKNOWN")
        }
    }

    @Test func deletingAnImageDeletesItsCosignSignatureTagUnlessConfiguredNot() async throws {
        for keep in [false, true] {
            try await withServer({ $0.deleteSignatureTags = !keep }) { _, http in
                let image = Fixtures.image()
                try await http.push(image, to: "team/app", as: "v1")
                let signature = Fixtures.image(layers: 1, artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json")
                let tag = "sha256-\(image.digest.dropFirst("sha256:".count)).sig"
                try await http.push(signature, to: "team/app", as: tag)
                #expect(try await http.delete("/v2/team/app/manifests/\(image.digest)").status == 202)
                #expect(try await http.get("/v2/team/app/manifests/\(tag)").status == (keep ? 200 : 404), "keep: \(keep)")
            }
        }
    }

    @Test(.enabled(if: Interop.enabled("skopeo") && Interop.enabled("gpg"), "skopeo or gpg is not installed"))
    func skopeoSignsIntoBerthServeAndEnforcesThePolicy() async throws {
        let skopeo = try Interop.tool("skopeo")
        let home = try await GPGHome()
        defer { home.cleanup() }
        let environment = home.environment
        let fingerprint = home.fingerprint

        try await withServer { server, http in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let layout = berth.home.appendingPathComponent("layout")
            let (_, v1, _) = try await OCILayoutFixture.standard(at: layout)
            let host = "127.0.0.1:\(server.port)"
            let signed = try await Interop.run(
                skopeo, ["copy", "--dest-tls-verify=false", "--sign-by", fingerprint, "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"],
                environment: environment)
            #expect(signed.status == 0, "\(signed.stderr)")
            let stored = try await http.get("/extensions/v2/team/app/signatures/\(Digest.of(v1))").json["signatures"] as? [[String: Any]]
            #expect(stored?.count == 1)
            _ = try await berth.copy(["--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(host)/team/unsigned:v1"])

            let verdicts = try await home.skopeoPolicyVerdicts(
                host: host, accepted: "docker://\(host)/team/app:v1", rejected: "docker://\(host)/team/unsigned:v1", scratch: berth)
            #expect(verdicts.accepted.status == 0, "\(verdicts.accepted.stderr)")
            #expect(verdicts.rejected.status != 0 && verdicts.rejected.stderr.contains("signature"), "\(verdicts.rejected.stderr)")
            // berth enforces the same policy on what skopeo signed.
            let policy = try await home.signedByPolicy(host: host, scratch: berth)
            let env = berth.environment.merging(["GNUPGHOME": home.path]) { $1 }
            let ours = try await Interop.run(
                Interop.berthBinary, ["copy", "--policy", policy, "--src-tls-verify=false", "docker://\(host)/team/app:v1", "dir:\(berth.path("b-ok"))"], environment: env)
            #expect(ours.status == 0, "\(ours.stderr)")
            let refused = try await Interop.run(
                Interop.berthBinary, ["copy", "--policy", policy, "--src-tls-verify=false", "docker://\(host)/team/unsigned:v1", "oci:\(berth.path("b-no")):v1"],
                environment: env)
            #expect(refused.status == 1 && refused.stderr.contains("A signature was required, but no signature exists"), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: berth.path("b-no")))
        }
    }
}
