import Foundation
import OCI
import Testing

@testable import Signing

/// The published cosign / containers-image vectors in `testdata/sigstore` and the
/// verdicts their README says a correct verifier reaches.
@Suite struct SigstoreVectorTests {
    static let r = "192.168.64.2:5000/cosign-signed-single-sample"

    func verdict(_ fixture: String, image: String, rule: String, keys: [String]) throws -> Bool {
        let directory = SigstoreVectors.root.appendingPathComponent(fixture)
        guard let manifest = FileManager.default.contents(atPath: directory.appendingPathComponent("manifest.json").path) else { return false }
        var signatures: [[UInt8]] = []
        for index in 1...10 {
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("signature-\(index)").path) else { break }
            signatures.append(Array(data))
        }
        let keyList = keys.map { "\"\(SigstoreVectors.root.appendingPathComponent($0).path)\"" }.joined(separator: ", ")
        let policyFile = FileManager.default.temporaryDirectory.appendingPathComponent("berth-sigstore-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: policyFile) }
        try Data(
            #"{"default": [{"type": "sigstoreSigned", "keyPaths": [\#(keyList)], "signedIdentity": {"type": "\#(rule)"}}]}"#.utf8
        ).write(to: policyFile)
        let policy = try Policy(file: policyFile.path)
        do {
            try policy.check(
                transport: "docker", scope: image, reference: try ImageReference(parsing: image), manifest: Array(manifest), signatures: signatures,
                describedAs: fixture)
            return true
        } catch {
            return false
        }
    }

    @Test func verdictsMatchThePublishedTable() throws {
        let r = Self.r
        #expect(try verdict("dir-img-cosign-valid", image: r, rule: "matchRepository", keys: ["cosign.pub"]))
        #expect(try verdict("dir-img-cosign-valid", image: r, rule: "matchRepository", keys: ["cosign2.pub", "cosign.pub"]))
        #expect(try !verdict("dir-img-cosign-valid", image: r, rule: "matchRepository", keys: ["cosign2.pub"]))
        #expect(try !verdict("dir-img-cosign-valid", image: "testing/manifest:notlatest", rule: "matchRepository", keys: ["cosign.pub"]))
        #expect(try !verdict("dir-img-cosign-valid", image: r + ":latest", rule: "matchExact", keys: ["cosign.pub"]))
        #expect(try !verdict("dir-img-cosign-valid", image: r + ":latest", rule: "matchRepoDigestOrExact", keys: ["cosign.pub"]))
        #expect(try verdict("dir-img-cosign-valid-2", image: r, rule: "matchRepository", keys: ["cosign.pub"]))
        #expect(try !verdict("dir-img-cosign-valid-2", image: "this/does-not:match", rule: "matchRepository", keys: ["cosign.pub"]))
        #expect(try verdict("dir-img-cosign-valid-with-tag", image: "192.168.64.2:5000/skopeo-signed:tag", rule: "matchExact", keys: ["cosign.pub"]))
        #expect(try verdict("dir-img-cosign-valid-with-tag", image: "192.168.64.2:5000/skopeo-signed:tag", rule: "matchRepoDigestOrExact", keys: ["cosign.pub"]))
        #expect(try !verdict("dir-img-cosign-valid-with-tag", image: "192.168.64.2:5000/skopeo-signed:othertag", rule: "matchExact", keys: ["cosign.pub"]))
        #expect(try !verdict("dir-img-cosign-modified-manifest", image: r, rule: "matchRepository", keys: ["cosign.pub"]))
        #expect(try !verdict("dir-img-cosign-manifest-digest-error", image: r, rule: "matchRepository", keys: ["cosign.pub"]))
        #expect(try !verdict("dir-img-cosign-other-attachment", image: "testing/manifest:latest", rule: "matchRepository", keys: ["cosign.pub"]))
        #expect(try verdict("dir-img-cosign-mixed", image: r, rule: "matchRepository", keys: ["cosign.pub"]))
        #expect(try !verdict("dir-img-cosign-no-manifest", image: r, rule: "matchRepository", keys: ["cosign.pub"]))
        #expect(try verdict("dir-img-cosign-key-rekor-valid", image: "192.168.64.2:5000/cosign-signed/key-1", rule: "matchRepository", keys: ["cosign2.pub"]))
        #expect(try !verdict("dir-img-cosign-key-rekor-valid", image: "192.168.64.2:5000/cosign-signed/key-1", rule: "matchRepository", keys: ["cosign.pub"]))
    }

    @Test func theUnknownKeySignatureVerifiesWithNeitherKey() throws {
        let blob = Array(try Data(contentsOf: SigstoreVectors.root.appendingPathComponent("unknown-cosign-key.signature")))
        let signature = try SigstoreSignature(blob: blob)
        for key in ["cosign.pub", "cosign2.pub"] {
            let pem = try String(contentsOf: SigstoreVectors.root.appendingPathComponent(key), encoding: .utf8)
            #expect(throws: SignatureError.self) { try signature.verify(publicKeys: [pem]) }
        }
        let valid = try SigstoreSignature(blob: Array(try Data(contentsOf: SigstoreVectors.root.appendingPathComponent("dir-img-cosign-valid/signature-1"))))
        let payload = try valid.verify(publicKeys: [try String(contentsOf: SigstoreVectors.root.appendingPathComponent("cosign.pub"), encoding: .utf8)])
        #expect(payload.dockerReference == Self.r)
        #expect(payload.manifestDigest.description == "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00")
    }
}

/// `testdata/sigstore`: the published vectors, copied with their provenance (its README).
enum SigstoreVectors {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("testdata/sigstore")
}
