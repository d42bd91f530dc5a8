import Foundation
import OCI
import Testing

@Suite struct ListingTests {
    @Test func tagsPageWithLinks() async throws {
        try await withServer { _, http in
            let image = Fixtures.image()
            try await http.push(image, to: "team/app", as: "t00")
            let names = (1..<25).map { String(format: "t%02d", $0) } + ["Upper", "_x"]
            for name in names { try await http.pushManifest("team/app", name, image.manifest) }
            let all = try await http.get("/v2/team/app/tags/list")
            let expected = (["t00"] + names).sorted()
            #expect(all.json["tags"] as? [String] == expected)
            #expect(all.json["name"] as? String == "team/app")
            #expect(all.header("Link") == nil)

            var collected: [String] = []
            var next: String? = "/v2/team/app/tags/list?n=10"
            var pages = 0
            while let path = next, pages < 10 {
                let page = try await http.get(path)
                #expect(page.status == 200)
                collected += page.json["tags"] as? [String] ?? []
                next = page.header("Link").map { String($0.dropFirst().prefix { $0 != ">" }) }
                pages += 1
            }
            #expect(collected == expected)
            #expect(pages == 3)

            let after = try await http.get("/v2/team/app/tags/list?last=t20&n=100")
            #expect(after.json["tags"] as? [String] == ["t21", "t22", "t23", "t24"])
            let zero = try await http.get("/v2/team/app/tags/list?n=0")
            #expect(zero.json["tags"] as? [String] == [] && zero.header("Link") == nil)
            for n in ["-1", "ten", "99999999999999999999999"] {
                let bad = try await http.get("/v2/team/app/tags/list?n=\(n)")
                #expect(bad.status == 400 && bad.errorCode == "UNSUPPORTED" && bad.text.contains("n must be"), "\(n): \(bad.text)")
            }
            let unknown = try await http.get("/v2/no/such/tags/list")
            #expect(unknown.status == 404 && unknown.errorCode == "NAME_UNKNOWN")
        }
    }

    @Test func catalogPages() async throws {
        try await withServer { _, http in
            for repo in ["b/one", "a/two", "c/three"] { try await http.pushBlob(repo, Fixtures.random(4)) }
            let first = try await http.get("/v2/_catalog?n=2")
            #expect(first.json["repositories"] as? [String] == ["a/two", "b/one"])
            let link = try #require(first.header("Link"))
            #expect(link == "</v2/_catalog?last=b%2Fone&n=2>; rel=\"next\"")
            let second = try await http.get(String(link.dropFirst().prefix { $0 != ">" }))
            #expect(second.json["repositories"] as? [String] == ["c/three"])
            #expect(second.header("Link") == nil)
        }
    }

    @Test func referrers() async throws {
        try await withServer { _, http in
            let subject = Fixtures.image()
            try await http.push(subject, to: "team/app", as: "v1")
            let subjectDescriptor = Fixtures.descriptor(MediaType.ociManifest, subject.manifest)
            let sbom = Fixtures.image(layers: 1, subject: subjectDescriptor, artifactType: "application/spdx+json", annotations: ["k": "v"])
            let signature = Fixtures.image(layers: 1, subject: subjectDescriptor, configType: "application/vnd.example.sig")
            let sbomPut = try await http.push(sbom, to: "team/app", as: sbom.digest)
            #expect(sbomPut.header("OCI-Subject") == subject.digest)
            try await http.push(signature, to: "team/app", as: signature.digest)

            let all = try await http.get("/v2/team/app/referrers/\(subject.digest)")
            #expect(all.status == 200)
            #expect(all.header("Content-Type") == MediaType.ociIndex)
            #expect(all.header("OCI-Filters-Applied") == nil)
            let manifests = try #require(all.json["manifests"] as? [[String: Any]])
            #expect(Set(manifests.compactMap { $0["digest"] as? String }) == [sbom.digest, signature.digest])
            let sbomEntry = try #require(manifests.first { $0["digest"] as? String == sbom.digest })
            #expect(sbomEntry["artifactType"] as? String == "application/spdx+json")
            #expect(sbomEntry["annotations"] as? [String: String] == ["k": "v"])
            #expect(sbomEntry["size"] as? Int == sbom.manifest.count)
            let sigEntry = try #require(manifests.first { $0["digest"] as? String == signature.digest })
            #expect(sigEntry["artifactType"] as? String == "application/vnd.example.sig")

            let filtered = try await http.get("/v2/team/app/referrers/\(subject.digest)?artifactType=application/spdx%2Bjson")
            #expect(filtered.header("OCI-Filters-Applied") == "artifactType")
            #expect((filtered.json["manifests"] as? [[String: Any]])?.count == 1)

            let none = try await http.get("/v2/team/app/referrers/\(Fixtures.digest([7]))")
            #expect(none.status == 200 && (none.json["manifests"] as? [Any])?.isEmpty == true)
            let invalid = try await http.get("/v2/team/app/referrers/sha256:nothex")
            #expect(invalid.status == 400 && invalid.errorCode == "DIGEST_INVALID")

            // A subject that does not exist is accepted, and deleting a referrer removes it from the list.
            let orphan = Fixtures.image(layers: 0, subject: Fixtures.descriptor(MediaType.ociManifest, [1, 2]))
            #expect(try await http.push(orphan, to: "team/app", as: orphan.digest).status == 201)
            #expect(try await http.delete("/v2/team/app/manifests/\(sbom.digest)").status == 202)
            let after = try await http.get("/v2/team/app/referrers/\(subject.digest)")
            #expect((after.json["manifests"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test func referrersPage() async throws {
        try await withServer { _, http in
            let subject = Fixtures.image(layers: 0)
            try await http.push(subject, to: "team/app", as: "v1")
            let d = Fixtures.descriptor(MediaType.ociManifest, subject.manifest)
            var pushed: Set<String> = []
            for _ in 0..<5 {
                let r = Fixtures.image(layers: 0, subject: d)
                try await http.push(r, to: "team/app", as: r.digest)
                pushed.insert(r.digest)
            }
            var seen: [String] = []
            var next: String? = "/v2/team/app/referrers/\(subject.digest)?n=2"
            var pages = 0
            while let path = next, pages < 10 {
                let page = try await http.get(path)
                seen += (page.json["manifests"] as? [[String: Any]] ?? []).compactMap { $0["digest"] as? String }
                next = page.header("Link").map { String($0.dropFirst().prefix { $0 != ">" }) }
                pages += 1
            }
            #expect(Set(seen) == pushed && seen.count == 5 && pages == 3)
        }
    }
}
