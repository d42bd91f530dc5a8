import Foundation
import Testing

@Suite struct BlobTests {
    @Test func baseEndpointAnnouncesTheAPI() async throws {
        try await withServer { _, http in
            let r = try await http.get("/v2/")
            #expect(r.status == 200)
            #expect(r.header("Docker-Distribution-API-Version") == "registry/2.0")
        }
    }

    @Test func monolithicPostThenGetAndHead() async throws {
        try await withServer { _, http in
            let data = Fixtures.random(3000)
            let r = try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest=\(Fixtures.digest(data))", body: data)
            #expect(r.status == 201)
            #expect(r.header("Location") == "/v2/team/app/blobs/\(Fixtures.digest(data))")
            #expect(r.header("Docker-Content-Digest") == Fixtures.digest(data))
            let get = try await http.get("/v2/team/app/blobs/\(Fixtures.digest(data))")
            #expect(get.status == 200 && get.body == data)
            #expect(get.header("Content-Type") == "application/octet-stream")
            #expect(get.header("ETag") == "\"\(Fixtures.digest(data))\"")
            let head = try await http.head("/v2/team/app/blobs/\(Fixtures.digest(data))")
            #expect(head.status == 200 && head.body.isEmpty)
            #expect(head.header("Content-Length") == "3000")
            #expect(head.header("Docker-Content-Digest") == Fixtures.digest(data))
        }
    }

    @Test func httpHostMakesLocationsAbsolute() async throws {
        try await withServer({ $0.externalURL = "https://registry.example.com" }) { _, http in
            let data = Fixtures.random(10)
            let r = try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest=\(Fixtures.digest(data))", body: data)
            #expect(r.header("Location") == "https://registry.example.com/v2/team/app/blobs/\(Fixtures.digest(data))")
        }
    }

    @Test func rangeRequests() async throws {
        try await withServer { _, http in
            let data = Fixtures.random(1000)
            let digest = try await http.pushBlob("team/app", data)
            let path = "/v2/team/app/blobs/\(digest)"
            let cases: [(String, Int, ClosedRange<Int>?)] = [
                ("bytes=100-199", 206, 100...199), ("bytes=500-", 206, 500...999), ("bytes=-300", 206, 700...999),
                ("bytes=900-5000", 206, 900...999), ("bytes=2000-5000", 416, nil), ("bytes=500-0", 416, nil),
                ("bytes=-0", 416, nil), ("items=0-1", 200, 0...999),
            ]
            for (range, status, slice) in cases {
                let r = try await http.get(path, headers: [("Range", range)])
                #expect(r.status == status, "\(range)")
                if let slice {
                    #expect(r.body == Array(data[slice]), "\(range)")
                    if status == 206 { #expect(r.header("Content-Range") == "bytes \(slice.lowerBound)-\(slice.upperBound)/1000") }
                } else {
                    #expect(r.header("Content-Range") == "bytes */1000")
                    #expect(r.body.isEmpty, "no error code fits a range: no body")
                }
            }
        }
    }

    @Test func largeBlobsAndTheirRangesAreSentWhole() async throws {
        try await withServer { _, http in
            let data = Fixtures.random(3 * 1024 * 1024 + 17)
            let digest = try await http.pushBlob("team/app", data)
            let path = "/v2/team/app/blobs/\(digest)"
            for _ in 0..<3 {
                #expect(try await http.get(path).body == data)
            }
            let ranged = try await http.get(path, headers: [("Range", "bytes=100000-2999999")])
            #expect(ranged.status == 206 && ranged.body == Array(data[100000...2_999_999]))
            let tail = try await http.get(path, headers: [("Range", "bytes=-70000")])
            #expect(tail.body == Array(data.suffix(70000)))
            #expect(try await http.get("/v2/").status == 200)
        }
    }

    @Test func unknownBlobIs404BlobUnknown() async throws {
        try await withServer { _, http in
            let data = Fixtures.random(10)
            try await http.pushBlob("team/app", data)
            let elsewhere = try await http.get("/v2/other/app/blobs/\(Fixtures.digest(data))")
            #expect(elsewhere.status == 404 && elsewhere.errorCode == "BLOB_UNKNOWN")
            let head = try await http.head("/v2/team/app/blobs/\(Fixtures.digest([1]))")
            #expect(head.status == 404 && head.body.isEmpty)
        }
    }

    @Test func deleteBlob() async throws {
        try await withServer { _, http in
            let digest = try await http.pushBlob("team/app", Fixtures.random(10))
            #expect(try await http.delete("/v2/team/app/blobs/\(digest)").status == 202)
            #expect(try await http.get("/v2/team/app/blobs/\(digest)").status == 404)
            let again = try await http.delete("/v2/team/app/blobs/\(digest)")
            #expect(again.status == 404 && again.errorCode == "BLOB_UNKNOWN")
        }
    }

    @Test func deletionDisabledIs405Unsupported() async throws {
        try await withServer({ $0.deleteEnabled = false }) { _, http in
            let image = Fixtures.image()
            try await http.push(image, to: "team/app", as: "v1")
            let blob = try await http.delete("/v2/team/app/blobs/\(Fixtures.digest(image.config))")
            #expect(blob.status == 405 && blob.errorCode == "UNSUPPORTED")
            let manifest = try await http.delete("/v2/team/app/manifests/v1")
            #expect(manifest.status == 405 && manifest.errorCode == "UNSUPPORTED")
            #expect(try await http.get("/v2/team/app/manifests/v1").status == 200)
        }
    }

    @Test func readOnlyRefusesWritesAndServesReads() async throws {
        let server = try await TestServer.start()
        let http = HTTP(server)
        let data = Fixtures.random(100)
        try await http.pushBlob("team/app", data)
        await server.stop()
        let readOnly = try await TestServer.start(root: server.root) { $0.readOnly = true }
        let ro = HTTP(readOnly)
        #expect(try await ro.get("/v2/team/app/blobs/\(Fixtures.digest(data))").body == data)
        let push = try await ro.send(.POST, "/v2/team/app/blobs/uploads/")
        #expect(push.status == 405 && push.errorCode == "UNSUPPORTED")
        await readOnly.cleanup()
    }

    @Test func mountFromAnotherRepository() async throws {
        try await withServer { _, http in
            let data = Fixtures.random(100)
            let digest = try await http.pushBlob("source/app", data)
            let r = try await http.send(.POST, "/v2/dest/app/blobs/uploads/?mount=\(digest)&from=source/app")
            #expect(r.status == 201)
            #expect(r.header("Location") == "/v2/dest/app/blobs/\(digest)")
            #expect(try await http.get("/v2/dest/app/blobs/\(digest)").body == data)

            let automatic = try await http.send(.POST, "/v2/third/app/blobs/uploads/?mount=\(digest)")
            #expect(automatic.status == 201)

            let missing = try await http.send(.POST, "/v2/dest/app/blobs/uploads/?mount=\(Fixtures.digest([9]))&from=source/app")
            #expect(missing.status == 202)
            #expect(missing.header("Location")?.contains("/v2/dest/app/blobs/uploads/") == true)

            let wrongSource = try await http.send(.POST, "/v2/fourth/app/blobs/uploads/?mount=\(digest)&from=dest/none")
            #expect(wrongSource.status == 202)
        }
    }
}
