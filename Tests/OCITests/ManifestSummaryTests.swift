import OCI
import Testing

@Suite struct ManifestSummaryTests {
    let config = #"{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\#(String(repeating: "1", count: 64))","size":2}"#
    let layer = #"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:\#(String(repeating: "2", count: 64))","size":10}"#

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func readsAnImageManifest() throws {
        let body = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":\#(config),"layers":[\#(layer)],"annotations":{"a":"b"}}"#
        let s = try ManifestSummary(parsing: bytes(body), contentType: MediaType.ociManifest)
        guard case .image(let c, let layers) = s.kind else {
            Issue.record("not an image")
            return
        }
        #expect(c.size == 2)
        #expect(layers.count == 1)
        #expect(s.effectiveArtifactType == MediaType.ociConfig)
        #expect(s.annotations == ["a": "b"])
    }

    @Test func takesTheMediaTypeFromContentTypeWhenTheBodyHasNone() throws {
        let body = #"{"schemaVersion":2,"manifests":[]}"#
        let s = try ManifestSummary(parsing: bytes(body), contentType: MediaType.dockerManifestList)
        #expect(s.mediaType == MediaType.dockerManifestList)
    }

    @Test func artifactTypeWinsOverConfig() throws {
        let body = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-sig","config":\#(config),"layers":[]}"#
        #expect(try ManifestSummary(parsing: bytes(body), contentType: nil).effectiveArtifactType == "application/x-sig")
    }

    @Test(arguments: [
        ("not json", nil as String?),
        (#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#, nil),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#, nil),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#, "application/vnd.oci.image.manifest.v1+json"),
        (#"{"schemaVersion":2,"mediaType":"application/x-unknown","manifests":[]}"#, nil),
        (#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:zz","size":1,"mediaType":"x"}]}"#, nil),
        (#"[1,2,3]"#, nil),
        (String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000), nil),
    ])
    func rejectsInvalidManifests(_ body: String, _ contentType: String?) {
        #expect(throws: ManifestError.self) { try ManifestSummary(parsing: Array(body.utf8), contentType: contentType) }
    }
}
