import Foundation
import NIOCore
import ObjectStorage
import Testing

/// The S3 client against a real S3 API (moto's server on loopback).
@Suite(.serialized, .enabled(if: MotoS3.enabled)) struct S3ClientTests {
    func client() async throws -> S3Client {
        let settings = try await MotoS3.shared.settings()
        return S3Client(location: settings.location, credentials: MotoS3.credentials)
    }

    @Test func objectsRangesListingsAndDeletes() async throws {
        let s3 = try await client()
        try await s3.checkBucket()
        let data = Fixtures.random(100_000)
        try await s3.putObject("a/b c+d/one", ByteBuffer(bytes: data))
        #expect(try await s3.headObject("a/b c+d/one") == 100_000)
        #expect(try await s3.headObject("a/missing") == nil)
        #expect(Array(buffer: try await s3.getObject("a/b c+d/one").collect(upTo: 1 << 20)) == data)
        #expect(Array(buffer: try await s3.getObject("a/b c+d/one", range: 10...19).collect(upTo: 100)) == Array(data[10...19]))
        try await s3.putObject("a/two", ByteBuffer(string: "2"))
        let listed = try await s3.listObjects(prefix: "a/")
        #expect(listed.objects.map(\.key) == ["a/b c+d/one", "a/two"] && listed.next == nil)
        // Create-once: a second write of the same key is refused.
        await #expect(throws: S3Error.self) { try await s3.putObject("a/two", ByteBuffer(string: "x"), ifNoneMatch: true) }
        try await s3.deleteObject("a/two")
        try await s3.deleteObject("a/two")
        #expect(try await s3.headObject("a/two") == nil)
        try await s3.shutdown()
    }

    @Test func multipartUploadJoinsPartsInOrder() async throws {
        let s3 = try await client()
        let first = Fixtures.random(5 << 20)
        let last = Fixtures.random(1234)
        let id = try await s3.createMultipartUpload("mpu/object")
        #expect(try await s3.listMultipartUploads(prefix: "mpu/").map(\.uploadID) == [id])
        let p1 = try await s3.uploadPart("mpu/object", uploadID: id, number: 1, ByteBuffer(bytes: first))
        let p2 = try await s3.uploadPart("mpu/object", uploadID: id, number: 2, ByteBuffer(bytes: last))
        try await s3.completeMultipartUpload("mpu/object", uploadID: id, parts: [p2, p1])
        #expect(Array(buffer: try await s3.getObject("mpu/object").collect(upTo: 8 << 20)) == first + last)
        // A retried Complete whose first attempt went through: AWS answers NoSuchUpload (S3BlobStore
        // then checks the object), moto completes again; either way the object stays whole.
        do { try await s3.completeMultipartUpload("mpu/object", uploadID: id, parts: [p1, p2]) } catch let error as S3Error {
            #expect(error.code == "NoSuchUpload")
        }
        #expect(Array(buffer: try await s3.getObject("mpu/object").collect(upTo: 8 << 20)) == first + last)
        #expect(try await s3.listMultipartUploads(prefix: "mpu/").isEmpty)
        // An abandoned upload is aborted; aborting twice is not an error.
        let abandoned = try await s3.createMultipartUpload("mpu/abandoned")
        try await s3.abortMultipartUpload("mpu/abandoned", uploadID: abandoned)
        try await s3.abortMultipartUpload("mpu/abandoned", uploadID: abandoned)
        #expect(try await s3.listMultipartUploads(prefix: "mpu/").isEmpty)
        try await s3.shutdown()
    }

    @Test func presignedURLsWorkWithCurlIncludingRanges() async throws {
        let s3 = try await client()
        let data = Fixtures.random(4096)
        try await s3.putObject("blob", ByteBuffer(bytes: data))
        let url = s3.presignedURL("blob", expires: 600)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("presigned-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try await Interop.shell("curl -sf -o '\(file.path)' '\(url)'")
        #expect(Array(try Data(contentsOf: file)) == data)
        try await Interop.shell("curl -sf -r 100-199 -o '\(file.path)' '\(url)'")
        #expect(Array(try Data(contentsOf: file)) == Array(data[100...199]))
        // (moto does not check signatures, so the signer's correctness rests on AWS's vectors: SigV4VectorTests.)
        try await s3.shutdown()
    }

    @Test func wrongCredentialsAndMissingBucketsAreErrorsNamingTheBucket() async throws {
        let (endpoint, _) = try await MotoS3.shared.bucket()
        let missing = S3Client(
            location: S3Location(endpoint: endpoint, region: "us-east-1", bucket: "no-such-bucket", pathStyle: true),
            credentials: MotoS3.credentials)
        await #expect(throws: S3Error.self) { try await missing.checkBucket() }
        try await missing.shutdown()
        let refusing = try RefusingPort()
        defer { refusing.close() }
        let closed = S3Client(
            location: S3Location(endpoint: URL(string: "http://127.0.0.1:\(refusing.port)")!, region: "us-east-1", bucket: "b", pathStyle: true),
            credentials: MotoS3.credentials, maxAttempts: 2)
        do {
            try await closed.checkBucket()
            Issue.record("a closed port answered")
        } catch let error as S3Error {
            #expect(error.status == 0 && error.description.contains("HeadBucket"))
        }
        try await closed.shutdown()
    }
}
