import Foundation
import OCI
import Testing

@Suite struct ManifestTests {
    @Test func pushByTagAndPullByTagAndDigest() async throws {
        try await withServer { _, http in
            let image = Fixtures.image()
            let put = try await http.push(image, to: "team/app", as: "v1")
            #expect(put.status == 201)
            #expect(put.header("Docker-Content-Digest") == image.digest)
            #expect(put.header("Location") == "/v2/team/app/manifests/\(image.digest)")
            #expect(put.header("OCI-Subject") == nil)
            for reference in ["v1", image.digest] {
                let get = try await http.get("/v2/team/app/manifests/\(reference)", headers: [("Accept", MediaType.ociManifest)])
                #expect(get.status == 200)
                #expect(get.body == image.manifest)
                #expect(get.header("Content-Type") == MediaType.ociManifest)
                #expect(get.header("Docker-Content-Digest") == image.digest)
                let head = try await http.head("/v2/team/app/manifests/\(reference)")
                #expect(head.status == 200 && head.body.isEmpty)
                #expect(head.header("Content-Length") == String(image.manifest.count))
            }
        }
    }

    @Test func servedExactlyAsStoredWhateverTheAcceptHeaders() async throws {
        try await withServer { _, http in
            let image = Fixtures.image()
            // Docker schema 2 bytes with odd whitespace must come back byte for byte.
            let text = String(decoding: image.manifest, as: UTF8.self)
                .replacingOccurrences(of: MediaType.ociManifest, with: MediaType.dockerManifest)
            let body = Array(("  " + text + "\n").utf8)
            try await http.pushBlob("team/app", image.config)
            for layer in image.layers { try await http.pushBlob("team/app", layer) }
            #expect(try await http.pushManifest("team/app", "docker", body, type: MediaType.dockerManifest).status == 201)
            let get = try await http.get(
                "/v2/team/app/manifests/docker",
                headers: [("Accept", MediaType.ociManifest), ("Accept", MediaType.dockerManifest), ("Accept", "*/*")])
            #expect(get.body == body)
            #expect(get.header("Content-Type") == MediaType.dockerManifest)
        }
    }

    @Test func pushByDigestWithTagParameters() async throws {
        try await withServer { _, http in
            let image = Fixtures.image()
            try await http.push(image, to: "team/app", as: "base")
            let put = try await http.send(
                .PUT, "/v2/team/app/manifests/\(image.digest)?tag=a&tag=b&tag=c",
                headers: [("Content-Type", MediaType.ociManifest)], body: image.manifest)
            #expect(put.status == 201)
            #expect(put.headers["OCI-Tag"].sorted() == ["a", "b", "c"])
            let tags = try await http.get("/v2/team/app/tags/list")
            #expect(tags.json["tags"] as? [String] == ["a", "b", "base", "c"])
        }
    }

    @Test func indexAndArtifacts() async throws {
        try await withServer { _, http in
            let amd = Fixtures.image()
            let arm = Fixtures.image()
            try await http.push(amd, to: "team/app", as: amd.digest)
            let index = Fixtures.index([amd.manifest, arm.manifest])
            let missing = try await http.pushManifest("team/app", "multi", index, type: MediaType.ociIndex)
            #expect(missing.status == 400 && missing.errorCode == "MANIFEST_BLOB_UNKNOWN")
            try await http.push(arm, to: "team/app", as: arm.digest)
            #expect(try await http.pushManifest("team/app", "multi", index, type: MediaType.ociIndex).status == 201)
            #expect(try await http.get("/v2/team/app/manifests/multi").header("Content-Type") == MediaType.ociIndex)

            // An artifact with the empty config and no layers.
            let empty = Array("{}".utf8)
            try await http.pushBlob("team/app", empty)
            let artifact = Fixtures.json([
                "schemaVersion": 2, "mediaType": MediaType.ociManifest, "artifactType": "application/vnd.example.thing",
                "config": Fixtures.descriptor(MediaType.ociEmpty, empty), "layers": [],
            ])
            #expect(try await http.pushManifest("team/app", "artifact", artifact).status == 201)
        }
    }

    @Test func nonDistributableLayersNeedNotBePushed() async throws {
        try await withServer { _, http in
            let config = Fixtures.random(20)
            try await http.pushBlob("team/app", config)
            let foreign = Fixtures.descriptor("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Fixtures.random(5))
            let manifest = Fixtures.json([
                "schemaVersion": 2, "mediaType": MediaType.ociManifest,
                "config": Fixtures.descriptor(MediaType.ociConfig, config), "layers": [foreign],
            ])
            #expect(try await http.pushManifest("team/app", "foreign", manifest).status == 201)
        }
    }

    @Test func invalidManifestsAreRejected() async throws {
        try await withServer { _, http in
            let image = Fixtures.image()
            try await http.pushBlob("team/app", image.config)
            for layer in image.layers { try await http.pushBlob("team/app", layer) }
            let schema1 = Array(#"{"schemaVersion":1,"name":"team/app","tag":"v1","fsLayers":[],"history":[]}"#.utf8)
            let cases: [(String, [UInt8], String, String)] = [
                ("malformed", Array("{not json".utf8), MediaType.ociManifest, "MANIFEST_INVALID"),
                ("schema1", schema1, MediaType.dockerSchema1Signed, "MANIFEST_INVALID"),
                ("contradiction", image.manifest, MediaType.ociIndex, "MANIFEST_INVALID"),
                ("deep", Array((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8), MediaType.ociManifest, "MANIFEST_INVALID"),
            ]
            for (name, body, type, code) in cases {
                let r = try await http.pushManifest("team/app", name, body, type: type)
                #expect(r.status == 400, "\(name)")
                #expect(r.errorCode == code, "\(name)")
                #expect(try await http.head("/v2/team/app/manifests/\(name)").status == 404)
            }
            let wrongDigest = try await http.pushManifest("team/app", Fixtures.digest([1]), image.manifest)
            #expect(wrongDigest.status == 400 && wrongDigest.errorCode == "DIGEST_INVALID")

            let missingLayer = Fixtures.image()
            let r = try await http.pushManifest("team/app", "missing", missingLayer.manifest)
            #expect(r.status == 400 && r.errorCode == "MANIFEST_BLOB_UNKNOWN")
        }
    }

    @Test func oversizedManifestIs413() async throws {
        try await withServer { _, http in
            var garbage = Array(#"{"schemaVersion":2,"x":""#.utf8)
            garbage += [UInt8](repeating: UInt8(ascii: "a"), count: 5 * 1024 * 1024)
            garbage += Array(#""}"#.utf8)
            let r = try await http.pushManifest("team/app", "big", garbage)
            #expect(r.status == 413 && r.errorCode == "MANIFEST_INVALID")
            #expect(try await http.get("/v2/").status == 200)
        }
    }

    @Test func deleteByTagKeepsTheManifestDeleteByDigestRemovesTags() async throws {
        try await withServer { _, http in
            let image = Fixtures.image()
            try await http.push(image, to: "team/app", as: "v1")
            try await http.pushManifest("team/app", "v2", image.manifest)
            #expect(try await http.delete("/v2/team/app/manifests/v1").status == 202)
            #expect(try await http.get("/v2/team/app/manifests/v1").status == 404)
            #expect(try await http.get("/v2/team/app/manifests/\(image.digest)").status == 200)
            #expect(try await http.get("/v2/team/app/tags/list").json["tags"] as? [String] == ["v2"])

            #expect(try await http.delete("/v2/team/app/manifests/\(image.digest)").status == 202)
            let gone = try await http.get("/v2/team/app/manifests/v2")
            #expect(gone.status == 404 && gone.errorCode == "MANIFEST_UNKNOWN")
            #expect(try await http.get("/v2/team/app/manifests/\(image.digest)").status == 404)
            #expect(try await http.get("/v2/team/app/tags/list").json["tags"] as? [String] == [])
            #expect(try await http.delete("/v2/team/app/manifests/\(image.digest)").status == 404)
        }
    }
}
