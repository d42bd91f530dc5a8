import Foundation
import OCI
import Testing

/// Referrers and cosign attachments travel with an image from registry to registry.
@Suite struct AttachmentCopyTests {
    @Test func referrersAndCosignTagsTravelUnlessToldNot() async throws {
        try await withServer { source, http in
            try await withServer { target, targetHTTP in
                let berth = try BerthCommand()
                defer { berth.cleanup() }
                let image = Fixtures.image()
                try await http.push(image, to: "team/app", as: "v1")
                let subject = Fixtures.descriptor(MediaType.ociManifest, image.manifest)
                let sbom = Fixtures.image(layers: 1, subject: subject, artifactType: "application/spdx+json")
                try await http.push(sbom, to: "team/app", as: sbom.digest)
                let signature = Fixtures.image(layers: 1, artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json")
                let hex = image.digest.dropFirst("sha256:".count)
                try await http.push(signature, to: "team/app", as: "sha256-\(hex).sig")
                let attestation = Fixtures.image(layers: 1)
                try await http.push(attestation, to: "team/app", as: "sha256-\(hex).att")

                let from = "docker://127.0.0.1:\(source.port)/team/app:v1"
                let insecure = ["--src-tls-verify=false", "--dest-tls-verify=false"]
                _ = try await berth.copy(insecure + [from, "docker://127.0.0.1:\(target.port)/mirror/app:v1"])
                let referrers = try await targetHTTP.get("/v2/mirror/app/referrers/\(image.digest)")
                #expect((referrers.json["manifests"] as? [[String: Any]])?.first?["digest"] as? String == sbom.digest)
                #expect(try await targetHTTP.get("/v2/mirror/app/manifests/sha256-\(hex).sig").body == signature.manifest)
                #expect(try await targetHTTP.get("/v2/mirror/app/manifests/sha256-\(hex).att").body == attestation.manifest)

                _ = try await berth.copy(insecure + ["--remove-signatures", from, "docker://127.0.0.1:\(target.port)/unsigned/app:v1"])
                #expect(try await targetHTTP.get("/v2/unsigned/app/manifests/sha256-\(hex).sig").status == 404)
                #expect(try await targetHTTP.get("/v2/unsigned/app/manifests/sha256-\(hex).att").status == 200)

                _ = try await berth.copy(insecure + ["--no-attachments", from, "docker://127.0.0.1:\(target.port)/bare/app:v1"])
                #expect(try await targetHTTP.get("/v2/bare/app/manifests/sha256-\(hex).att").status == 404)
                let none = try await targetHTTP.get("/v2/bare/app/referrers/\(image.digest)")
                #expect((none.json["manifests"] as? [[String: Any]])?.isEmpty == true)
            }
        }
    }
}
