import Foundation
import NIOCore
import ObjectStorage
import OCI
import RegistryServer
import TestSupport
import Testing

@testable import RegistryStorage

/// `berth serve` with `storage.s3` on a real S3 API (moto): uploads as multipart uploads that
/// continue on any server sharing the bucket and metadata, presigned redirects, ranges, dedupe.
/// One test at a time: moto is a single Python process, and parallel multi-MiB parts through it
/// starve the timing-sensitive tests of the rest of the suite on two cores.
@Suite(.serialized, .enabled(if: MotoS3.enabled)) struct S3StorageTests {
    func withS3Server(redirect: Bool = true, _ body: (TestServer, HTTP, S3StorageSettings) async throws -> Void) async throws {
        let settings = try await MotoS3.shared.settings()
        try await withServer({ config in
            config.s3 = settings
            config.redirect = redirect
        }) { server, http in try await body(server, http, settings) }
    }

    /// Follows one redirect the way a client would (the presigned URL carries its own authority).
    func fetch(_ http: HTTP, _ path: String, headers: [(String, String)] = []) async throws -> Reply {
        let first = try await http.send(.GET, path, headers: headers)
        guard first.status == 307, let location = first.header("Location") else { return first }
        return try await HTTP(base: "").send(.GET, location, headers: headers)
    }

    @Test func chunkedUploadAcrossPartBoundariesThenRedirectedPull() async throws {
        try await withS3Server { _, http, _ in
            // 3 + 4 + 6 MiB + 1 byte: the first part fills from two PATCHes, the tail crosses requests.
            let chunks = [3 << 20, 4 << 20, 6 << 20, 1].map { Fixtures.random($0) }
            let data = chunks.flatMap { $0 }
            var location = try #require(try await http.send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            var offset = 0
            for chunk in chunks {
                let patch = try await http.send(
                    .PATCH, location, headers: [("Content-Range", "\(offset)-\(offset + chunk.count - 1)")], body: chunk)
                #expect(patch.status == 202)
                offset += chunk.count
                #expect(patch.header("Range") == "0-\(offset - 1)")
                location = try #require(patch.header("Location"))
            }
            let put = try await http.send(.PUT, "\(location)\(location.contains("?") ? "&" : "?")digest=\(Fixtures.digest(data))")
            #expect(put.status == 201)
            let blob = "/v2/team/app/blobs/\(Fixtures.digest(data))"
            let head = try await http.send(.HEAD, blob)
            #expect(head.status == 200 && head.header("Content-Length") == String(data.count))
            let redirect = try await http.send(.GET, blob)
            #expect(redirect.status == 307)
            #expect(redirect.header("Location")?.contains("X-Amz-Signature=") == true)
            #expect(try await fetch(http, blob).body == data)
            let ranged = try await fetch(http, blob, headers: [("Range", "bytes=5242870-5242889")])
            #expect(ranged.status == 206 && ranged.body == Array(data[5_242_870...5_242_889]))
        }
    }

    @Test func withoutRedirectsTheRegistryStreamsTheObjectHonouringRange() async throws {
        try await withS3Server(redirect: false) { _, http, _ in
            let data = Fixtures.random(11 << 20)
            let post = try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest=\(Fixtures.digest(data))", body: data)
            #expect(post.status == 201)
            let blob = "/v2/team/app/blobs/\(Fixtures.digest(data))"
            let whole = try await http.send(.GET, blob)
            #expect(whole.status == 200 && whole.body == data)
            let ranged = try await http.send(.GET, blob, headers: [("Range", "bytes=100-10485860")])
            #expect(ranged.status == 206 && ranged.body == Array(data[100...10_485_860]))
            let unsatisfiable = try await http.send(.GET, blob, headers: [("Range", "bytes=\(data.count)-")])
            #expect(unsatisfiable.status == 416)
        }
    }

    @Test func anUploadContinuesOnOtherServersSharingBucketAndMetadata() async throws {
        // Three servers on one bucket and one metadata database: POST on the first, a PATCH on
        // each of the others, the closing PUT on the first. The hash and the multipart upload
        // travel with the session; nothing is read back.
        let settings = try await MotoS3.shared.settings()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-s3-shared-\(UUID().uuidString)")
        var servers: [TestServer] = []
        try await withCleanup {
            for _ in 0..<3 {
                servers.append(try await TestServer.start(root: root) { $0.s3 = settings })
            }
            let a = HTTP(servers[0]), b = HTTP(servers[1]), c = HTTP(servers[2])
            let first = Fixtures.random(6 << 20), second = Fixtures.random(2 << 20), last = Fixtures.random(777)
            let data = first + second + last
            let post = try await a.send(.POST, "/v2/team/app/blobs/uploads/")
            let path = try #require(post.header("Location"))
            let patch1 = try await b.send(.PATCH, path, headers: [("Content-Range", "0-\(first.count - 1)")], body: first)
            #expect(patch1.status == 202)
            // A chunk that does not start where the upload ends is refused without changing it.
            let wrong = try await c.send(.PATCH, path, headers: [("Content-Range", "5-10")], body: Fixtures.random(6))
            #expect(wrong.status == 416)
            let patch2 = try await c.send(.PATCH, path, headers: [("Content-Range", "\(first.count)-\(first.count + second.count - 1)")], body: second)
            #expect(patch2.header("Range") == "0-\(first.count + second.count - 1)")
            let put = try await a.send(.PUT, "\(path)?digest=\(Fixtures.digest(data))", body: last)
            #expect(put.status == 201)
            #expect(try await fetch(b, "/v2/team/app/blobs/\(Fixtures.digest(data))").body == data)
        } cleanup: {
            for server in servers { await server.stop() }
            try? FileManager.default.removeItem(at: root)
        }
    }

    @Test func aBlobStoredTwiceKeepsOneObjectAndCommitCopiesNothing() async throws {
        try await withS3Server { _, http, settings in
            let data = Fixtures.random(7 << 20)
            for repo in ["one/app", "two/app"] {
                let post = try await http.send(.POST, "/v2/\(repo)/blobs/uploads/?digest=\(Fixtures.digest(data))", body: data)
                #expect(post.status == 201)
            }
            let s3 = S3Client(location: settings.location, credentials: settings.credentials)
            let objects = try await s3.listObjects(prefix: "berth/").objects.map(\.key)
            #expect(objects.filter { $0.hasPrefix("berth/data/") }.count == 1)
            #expect(objects.filter { $0.hasSuffix("/link") }.count == 1)
            #expect(objects.allSatisfy { !$0.hasPrefix("berth/uploads/") })
            #expect(try await s3.listMultipartUploads(prefix: "berth/").isEmpty)
            try await s3.shutdown()
        }
    }

    @Test func linkingIsCreateOnceAndARetriedLinkIsStillOurs() async throws {
        let settings = try await MotoS3.shared.settings()
        let client = S3Client(location: settings.location, credentials: settings.credentials)
        let store = S3BlobStore(client: client, rootDirectory: settings.rootDirectory, chunkSize: settings.chunkSize)
        let digest = Digest.of(Array("x".utf8))
        let ours = DataObject(key: "berth/data/one", size: 1)
        #expect(try await store.link(digest, to: ours))
        // The same PUT sent again (its first answer lost): the link it finds is its own.
        #expect(try await store.link(digest, to: ours))
        // Another upload of the same bytes comes second.
        #expect(try await !store.link(digest, to: DataObject(key: "berth/data/two", size: 1)))
        let fresh = S3BlobStore(client: client, rootDirectory: settings.rootDirectory, chunkSize: settings.chunkSize)
        #expect(try await fresh.size(of: digest) == 1)
        #expect(try await fresh.dataObject(of: digest) == ours)
        try await client.shutdown()
    }

    @Test func aWrongDigestLeavesNothingBehind() async throws {
        try await withS3Server { _, http, settings in
            let data = Fixtures.random(6 << 20)
            let location = try #require(try await http.send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            _ = try await http.send(.PATCH, location, body: data)
            let put = try await http.send(.PUT, "\(location)?digest=\(Fixtures.digest(Fixtures.random(10)))")
            #expect(put.status == 400 && put.errorCode == "DIGEST_INVALID")
            let s3 = S3Client(location: settings.location, credentials: settings.credentials)
            #expect(try await s3.listObjects(prefix: "berth/data/").objects.isEmpty)
            #expect(try await s3.listObjects(prefix: "berth/uploads/").objects.isEmpty)
            #expect(try await s3.listMultipartUploads(prefix: "berth/").isEmpty)
            try await s3.shutdown()
        }
    }

    @Test func cancelledAndPurgedUploadsAbortTheirMultipartUploads() async throws {
        try await withS3Server { server, http, settings in
            let s3 = S3Client(location: settings.location, credentials: settings.credentials)
            let cancelled = try #require(try await http.send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            _ = try await http.send(.PATCH, cancelled, body: Fixtures.random(5 << 20 + 10))
            #expect(try await s3.listMultipartUploads(prefix: "berth/").count == 1)
            #expect(try await http.send(.DELETE, cancelled).status == 204)
            #expect(try await s3.listMultipartUploads(prefix: "berth/").isEmpty)
            #expect(try await s3.listObjects(prefix: "berth/uploads/").objects.isEmpty)
            let abandoned = try #require(try await http.send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            _ = try await http.send(.PATCH, abandoned, body: Fixtures.random(5 << 20 + 10))
            let purged = try await server.registry.purgeUploads(olderThan: 0, now: Date().addingTimeInterval(5))
            #expect(purged.count == 1)
            #expect(try await s3.listMultipartUploads(prefix: "berth/").isEmpty)
            #expect(try await s3.listObjects(prefix: "berth/uploads/").objects.isEmpty)
            try await s3.shutdown()
        }
    }

    @Test func imagesPushPullAndGarbageCollectOnS3() async throws {
        try await withS3Server { server, http, settings in
            let image = Fixtures.image(layers: 2, layerSize: 6 << 20)
            #expect(try await http.push(image, to: "team/app", as: "v1").status == 201)
            #expect(try await fetch(http, "/v2/team/app/blobs/\(Fixtures.digest(image.layers[0]))").body == image.layers[0])
            #expect(try await http.send(.DELETE, "/v2/team/app/manifests/\(Fixtures.digest(image.manifest))").status == 202)
            let report = try await server.registry.collectGarbage(grace: 0, now: Date().addingTimeInterval(5))
            #expect(report.blobs.count == 3)
            let s3 = S3Client(location: settings.location, credentials: settings.credentials)
            #expect(try await s3.listObjects(prefix: "berth/").objects.isEmpty)
            try await s3.shutdown()
        }
    }

    @Test func aMissingBucketStopsStartupNamingBucketAndEndpoint() async throws {
        var settings = try await MotoS3.shared.settings()
        settings.location.bucket = "no-such-bucket"
        do {
            let server = try await TestServer.start { $0.s3 = settings }
            await server.cleanup()
            Issue.record("the server started without its bucket")
        } catch let error as ServerError {
            #expect(error.description.contains("bucket no-such-bucket at \(settings.location.endpoint.absoluteString)"))
            #expect(error.description.contains("404"))
        }
    }
}
