import Foundation
import Testing

@Suite struct UploadTests {
    func start(_ http: HTTP, _ repo: String = "team/app", query: String = "") async throws -> String {
        let r = try await http.send(.POST, "/v2/\(repo)/blobs/uploads/\(query)")
        #expect(r.status == 202)
        #expect(r.header("Range") == "0-0")
        #expect(r.header("Docker-Upload-UUID") != nil)
        return try #require(r.header("Location"))
    }

    @Test func postThenPutWithBody() async throws {
        try await withServer { _, http in
            let data = Fixtures.random(5000)
            let location = try await start(http)
            let put = try await http.send(.PUT, "\(location)?digest=\(Fixtures.digest(data))", body: data)
            #expect(put.status == 201)
            #expect(put.header("Docker-Content-Digest") == Fixtures.digest(data))
            #expect(try await http.get(try #require(put.header("Location"))).body == data)
        }
    }

    @Test func streamedPatch() async throws {
        try await withServer { _, http in
            let data = Fixtures.random(70_000)
            let location = try await start(http)
            let patch = try await http.send(.PATCH, location, body: data)
            #expect(patch.status == 202)
            #expect(patch.header("Range") == "0-69999")
            let put = try await http.send(.PUT, "\(try #require(patch.header("Location")))?digest=\(Fixtures.digest(data))")
            #expect(put.status == 201)
            #expect(try await http.get("/v2/team/app/blobs/\(Fixtures.digest(data))").body == data)
        }
    }

    @Test func chunkedWithOutOfOrderRecovery() async throws {
        try await withServer { _, http in
            let data = Fixtures.random(3000)
            var location = try await start(http)
            let first = try await http.send(
                .PATCH, location, headers: [("Content-Range", "0-999"), ("Content-Type", "application/octet-stream")],
                body: Array(data[0..<1000]))
            #expect(first.status == 202 && first.header("Range") == "0-999")
            location = try #require(first.header("Location"))

            let skip = try await http.send(.PATCH, location, headers: [("Content-Range", "2000-2999")], body: Array(data[2000...]))
            #expect(skip.status == 416 && skip.errorCode == "BLOB_UPLOAD_INVALID")
            #expect(skip.header("Range") == "0-999")
            let repeatFirst = try await http.send(.PATCH, location, headers: [("Content-Range", "0-999")], body: Array(data[0..<1000]))
            #expect(repeatFirst.status == 416)

            let status = try await http.get(location)
            #expect(status.status == 204 && status.header("Range") == "0-999")

            let second = try await http.send(.PATCH, location, headers: [("Content-Range", "1000-1999")], body: Array(data[1000..<2000]))
            #expect(second.status == 202 && second.header("Range") == "0-1999")

            let badLast = try await http.send(
                .PUT, "\(location)?digest=\(Fixtures.digest(data))", headers: [("Content-Range", "2500-2999")], body: Array(data[2500...]))
            #expect(badLast.status == 416)

            let last = try await http.send(
                .PUT, "\(location)?digest=\(Fixtures.digest(data))", headers: [("Content-Range", "2000-2999")], body: Array(data[2000...]))
            #expect(last.status == 201)
            #expect(try await http.get("/v2/team/app/blobs/\(Fixtures.digest(data))").body == data)
            #expect(try await http.get(location).status == 404)
        }
    }

    @Test func wrongDigestIsRejectedAndNothingStored() async throws {
        try await withServer { server, http in
            let data = Fixtures.random(100)
            let claimed = Fixtures.digest([1, 2, 3])
            let mono = try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest=\(claimed)", body: data)
            #expect(mono.status == 400 && mono.errorCode == "DIGEST_INVALID")
            let location = try await start(http)
            let put = try await http.send(.PUT, "\(location)?digest=\(claimed)", body: data)
            #expect(put.status == 400 && put.errorCode == "DIGEST_INVALID")
            #expect(try await http.head("/v2/team/app/blobs/\(claimed)").status == 404)
            #expect(try await http.head("/v2/team/app/blobs/\(Fixtures.digest(data))").status == 404)
            #expect(try await StoredBlobs.uploadLeftovers(server).isEmpty)
        }
    }

    @Test func sha512Everywhere() async throws {
        try await withServer { _, http in
            let data = Fixtures.random(2048)
            let digest = Fixtures.digest(data, .sha512)
            let mono = try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest=\(digest)", body: data)
            #expect(mono.status == 201 && mono.header("Docker-Content-Digest") == digest)
            #expect(try await http.get("/v2/team/app/blobs/\(digest)").body == data)

            let other = Fixtures.random(999)
            let location = try await start(http, query: "?digest-algorithm=sha512")
            let patch = try await http.send(.PATCH, location, body: other)
            #expect(patch.status == 202)
            let put = try await http.send(.PUT, "\(try #require(patch.header("Location")))?digest=\(Fixtures.digest(other, .sha512))")
            #expect(put.status == 201)

            // A session started for sha256 may still be closed with a sha512 digest.
            let third = Fixtures.random(77)
            let plain = try await start(http)
            let closed = try await http.send(.PUT, "\(plain)?digest=\(Fixtures.digest(third, .sha512))", body: third)
            #expect(closed.status == 201)

            let bad = try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest-algorithm=md5")
            #expect(bad.status == 400 && bad.errorCode == "DIGEST_INVALID")
        }
    }

    @Test func cancelUpload() async throws {
        try await withServer { _, http in
            let location = try await start(http)
            _ = try await http.send(.PATCH, location, body: Fixtures.random(10))
            #expect(try await http.delete(location).status == 204)
            let after = try await http.get(location)
            #expect(after.status == 404 && after.errorCode == "BLOB_UPLOAD_UNKNOWN")
            #expect(try await http.delete(location).status == 404)
        }
    }

    @Test func uploadBelongsToItsRepository() async throws {
        try await withServer { _, http in
            let location = try await start(http)
            let id = try #require(location.split(separator: "/").last)
            let stolen = try await http.get("/v2/other/app/blobs/uploads/\(id)")
            #expect(stolen.status == 404 && stolen.errorCode == "BLOB_UPLOAD_UNKNOWN")
        }
    }

    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        try await withServer { server, http in
            let data = Fixtures.random(5000)
            let port = server.port
            let (interim, final) = try await offThread {
                let socket = try RawSocket(port: port)
                defer { socket.close() }
                socket.send(
                    "POST /v2/team/app/blobs/uploads/?digest=\(Fixtures.digest(data)) HTTP/1.1\r\nHost: x\r\n"
                        + "Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
                let interim = socket.readSome()
                socket.send(data)
                return (interim, socket.readSome())
            }
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue"))
            #expect(final.hasPrefix("HTTP/1.1 201"))
            #expect(try await http.get("/v2/team/app/blobs/\(Fixtures.digest(data))").body == data)

            // Refused before its body is read: the final answer comes without a 100.
            let refused = try await offThread {
                let socket = try RawSocket(port: port)
                defer { socket.close() }
                socket.send("PUT /v2/Bad/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
                return socket.readSome()
            }
            #expect(refused.hasPrefix("HTTP/1.1 400"))
        }
    }

    @Test func emptyBlob() async throws {
        try await withServer { _, http in
            let digest = try await http.pushBlob("team/app", [])
            let r = try await http.get("/v2/team/app/blobs/\(digest)")
            #expect(r.status == 200 && r.body.isEmpty && r.header("Content-Length") == "0")
        }
    }
}
