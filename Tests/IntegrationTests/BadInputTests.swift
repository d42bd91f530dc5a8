import Foundation
import Testing

/// Whatever a client sends, the answer is a 4xx (or a closed connection) and the server keeps serving.
@Suite struct BadInputTests {
    @Test func invalidNamesDigestsAndReferences() async throws {
        try await withServer { _, http in
            let cases: [(String, Int, String)] = [
                ("/v2/Team/App/tags/list", 400, "NAME_INVALID"),
                ("/v2/team/app/blobs/sha256:1234", 400, "DIGEST_INVALID"),
                ("/v2/team/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID"),
                // A tag that cannot exist is not found when read (pushing it is TAG_INVALID: SpecCodesTests).
                ("/v2/team/app/manifests/-bad-tag", 404, "MANIFEST_UNKNOWN"),
                ("/v2/team/app/manifests/" + String(repeating: "t", count: 129), 404, "MANIFEST_UNKNOWN"),
                ("/v2/" + String(repeating: "a", count: 256) + "/tags/list", 400, "NAME_INVALID"),
                ("/v2/team/%2E%2E/%2E%2E/blobs/sha256:" + String(repeating: "a", count: 64), 400, "NAME_INVALID"),
                ("/v2/team/app/blobs/uploads/..%2F..%2Fmetadata.sqlite", 404, "BLOB_UPLOAD_UNKNOWN"),
                ("/v2/team/app/blobs/uploads/not-a-uuid", 404, "BLOB_UPLOAD_UNKNOWN"),
                ("/v2/team/app/nothing/here", 404, "UNSUPPORTED"),
                ("/nope", 404, "UNSUPPORTED"),
            ]
            for (path, status, code) in cases {
                let r = try await http.get(path)
                #expect(r.status == status, "\(path)")
                #expect(r.errorCode == code, "\(path)")
            }
            let wrongMethod = try await http.send(.PATCH, "/v2/team/app/tags/list")
            #expect(wrongMethod.status == 405 && wrongMethod.errorCode == "UNSUPPORTED")
        }
    }

    @Test func garbageContentRangeAndLengthMismatch() async throws {
        try await withServer { _, http in
            let location = try #require(try await http.send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            for header in ["garbage", "5-2", "-", "0-", "a-b", "0-1-2"] {
                let r = try await http.send(.PATCH, location, headers: [("Content-Range", header)], body: [1, 2])
                #expect(r.status == 416 && r.errorCode == "BLOB_UPLOAD_INVALID", "\(header)")
            }
            let mismatch = try await http.send(.PATCH, location, headers: [("Content-Range", "0-9")], body: [1, 2])
            #expect(mismatch.status == 400 && mismatch.errorCode == "SIZE_INVALID")
            let missingDigest = try await http.send(.PUT, location)
            #expect(missingDigest.status == 400 && missingDigest.errorCode == "DIGEST_INVALID")
            #expect(try await http.get(location).header("Range") == "0-0")
        }
    }

    @Test func shortBodyLeavesNothingAndServerKeepsServing() async throws {
        try await withServer { server, http in
            let location = try #require(try await http.send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            let first = Fixtures.random(100)
            #expect(try await http.send(.PATCH, location, body: first).status == 202)

            let port = server.port
            try await offThread {
                let socket = try RawSocket(port: port)
                socket.send("PATCH \(location) HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
                socket.send(Fixtures.random(5000))
                socket.close()
            }
            try await Task.sleep(for: .milliseconds(300))

            let status = try await http.get(location)
            #expect(status.status == 204 && status.header("Range") == "0-99")
            let rest = Fixtures.random(50)
            // The broken PATCH may still hold the session on a loaded machine ("busy"): a client retries.
            var put = try await http.send(.PUT, "\(location)?digest=\(Fixtures.digest(first + rest))", body: rest)
            for _ in 0..<20 where put.errorCode == "BLOB_UPLOAD_INVALID" {
                try await Task.sleep(for: .milliseconds(100))
                put = try await http.send(.PUT, "\(location)?digest=\(Fixtures.digest(first + rest))", body: rest)
            }
            #expect(put.status == 201, "\(put.status) \(put.text)")

            let data = Fixtures.random(1000)
            try await offThread {
                let mono = try RawSocket(port: port)
                mono.send("POST /v2/team/app/blobs/uploads/?digest=\(Fixtures.digest(data)) HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
                mono.send(Array(data[0..<400]))
                mono.close()
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await http.head("/v2/team/app/blobs/\(Fixtures.digest(data))").status == 404)
            #expect(try await http.get("/v2/").status == 200)
        }
    }

    @Test(arguments: [
        "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n",
        "\u{01}\u{02} nonsense\r\n\r\n",
        "GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    ])
    func unparseableRequestsGet400AndAClose(_ request: String) async throws {
        try await withServer { server, http in
            let port = server.port
            let reply = try await offThread {
                let socket = try RawSocket(port: port)
                defer { socket.close() }
                socket.send(request)
                return socket.readAll()
            }
            #expect(reply.hasPrefix("HTTP/1.1 400"))
            #expect(try await http.get("/v2/").status == 200)
        }
    }
}
