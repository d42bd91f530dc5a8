import Foundation
import OCI
import Testing

/// The real skopeo (Debian's) pushing into and pulling out of `berth serve`.
@Suite(.enabled(if: Interop.enabled("skopeo"), "skopeo is not installed (apt-get install skopeo)"))
struct SkopeoInteropTests {
    /// On local files, and on S3 where skopeo follows the blob redirects to presigned URLs.
    @Test(arguments: ["filesystem", "s3"])
    func copyInAndOutKeepsDigestsAndInspectListDeleteWork(_ storage: String) async throws {
        let skopeo = try Interop.tool("skopeo")
        let s3 = storage == "s3" && MotoS3.enabled ? try await MotoS3.shared.settings() : nil
        if storage == "s3", s3 == nil { return }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("berth-skopeo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        var layout = try OCILayoutFixture(at: work.appendingPathComponent("src"))
        let single = try await layout.image(architecture: "amd64", layerCount: 3)
        let amd = try await layout.image(architecture: "amd64", layerCount: 2)
        let arm = try await layout.image(architecture: "arm64", layerCount: 2)
        let index = Fixtures.json([
            "schemaVersion": 2, "mediaType": MediaType.ociIndex,
            "manifests": [
                Fixtures.descriptor(MediaType.ociManifest, amd).merging(["platform": ["architecture": "amd64", "os": "linux"]]) { a, _ in a },
                Fixtures.descriptor(MediaType.ociManifest, arm).merging(["platform": ["architecture": "arm64", "os": "linux"]]) { a, _ in a },
            ],
        ])
        try layout.write(index)
        layout.tag("v1", single, mediaType: MediaType.ociManifest)
        layout.tag("multi", index, mediaType: MediaType.ociIndex)
        try layout.writeIndex()

        try await withServer({ $0.s3 = s3 }) { server, http in
            let registry = "docker://127.0.0.1:\(server.port)/team/app"
            func skopeoRun(_ arguments: [String]) async throws -> String {
                let result = try await Interop.run(skopeo, arguments)
                guard result.status == 0 else { throw TestFailure("skopeo \(arguments.joined(separator: " ")): \(result.stderr)") }
                return result.stdout
            }
            let src = layout.directory.path
            _ = try await skopeoRun(["copy", "--dest-tls-verify=false", "oci:\(src):v1", "\(registry):v1"])
            _ = try await skopeoRun(["copy", "--all", "--dest-tls-verify=false", "oci:\(src):multi", "\(registry):multi"])

            // The registry holds the exact bytes skopeo read from the layout.
            #expect(try await http.get("/v2/team/app/manifests/v1").body == single)
            #expect(try await http.get("/v2/team/app/manifests/multi").body == index)
            let raw = try await skopeoRun(["inspect", "--tls-verify=false", "--raw", "\(registry):v1"])
            #expect(Array(raw.utf8) == single)

            let inspect = try await skopeoRun(["inspect", "--tls-verify=false", "\(registry):v1"])
            let info = try #require(try JSONSerialization.jsonObject(with: Data(inspect.utf8)) as? [String: Any])
            #expect(info["Digest"] as? String == Fixtures.digest(single))
            #expect(info["Architecture"] as? String == "amd64")
            #expect((info["Layers"] as? [String])?.count == 3)
            #expect((info["RepoTags"] as? [String])?.sorted() == ["multi", "v1"])

            let tags = try await skopeoRun(["list-tags", "--tls-verify=false", registry])
            let tagList = try #require(try JSONSerialization.jsonObject(with: Data(tags.utf8)) as? [String: Any])
            #expect((tagList["Tags"] as? [String])?.sorted() == ["multi", "v1"])

            // Back out into a fresh layout: same index digest, every blob present and intact.
            let out = work.appendingPathComponent("out").path
            _ = try await skopeoRun(["copy", "--all", "--src-tls-verify=false", "\(registry):multi", "oci:\(out):multi"])
            let outIndex = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/index.json"))) as? [String: Any]
            let outDigest = ((outIndex?["manifests"] as? [[String: Any]])?.first?["digest"]) as? String
            #expect(outDigest == Fixtures.digest(index))
            for manifest in [amd, arm, index] {
                let copied = try Data(contentsOf: URL(fileURLWithPath: "\(out)/blobs/sha256/\(Digest.of(manifest).encoded)"))
                #expect(Array(copied) == manifest)
            }

            _ = try await skopeoRun(["delete", "--tls-verify=false", "\(registry):v1"])
            #expect(try await http.get("/v2/team/app/manifests/\(Fixtures.digest(single))").status == 404)
            let after = try await skopeoRun(["list-tags", "--tls-verify=false", registry])
            #expect(after.contains("multi") && !after.contains("\"v1\""))
        }
    }
}
