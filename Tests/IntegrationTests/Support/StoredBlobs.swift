import Foundation
import NIOCore
import OCI
import ObjectStorage

/// What a test server stored, looked at beside it rather than through its HTTP API: files under
/// its root, or objects in its bucket when the suite runs on S3 (`TestBackend.s3`). Tests that
/// corrupt a blob or count leftovers use this so they check the same thing on both backends.
enum StoredBlobs {
    /// Whether the store holds `digest`'s bytes.
    static func exists(_ server: TestServer, _ digest: String) async throws -> Bool {
        guard TestBackend.s3 else { return FileManager.default.fileExists(atPath: file(server, digest)) }
        return try await withBucket(server) { client, prefix in
            guard let key = try await dataKey(client, prefix, digest) else { return false }
            return try await client.headObject(key) != nil
        }
    }

    /// The stored bytes of `digest`.
    static func read(_ server: TestServer, _ digest: String) async throws -> [UInt8] {
        guard TestBackend.s3 else { return try Array(Data(contentsOf: URL(fileURLWithPath: file(server, digest)))) }
        return try await withBucket(server) { client, prefix in
            let key = try requireKey(try await dataKey(client, prefix, digest), digest)
            var buffer = try await client.getSmallObject(key, limit: 1 << 30)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        }
    }

    /// Replaces `digest`'s stored bytes, as a failing disk or a meddling operator would
    /// (`onS3`: whether this server keeps blobs in S3, as the suite's servers do by default).
    static func overwrite(_ server: TestServer, _ digest: String, with bytes: [UInt8], onS3: Bool = TestBackend.s3) async throws {
        guard onS3 else { return try Data(bytes).write(to: URL(fileURLWithPath: file(server, digest))) }
        try await withBucket(server) { client, prefix in
            let key = try requireKey(try await dataKey(client, prefix, digest), digest)
            try await client.putObject(key, ByteBuffer(bytes: bytes))
        }
    }

    /// The hex digests of every blob the store holds.
    static func all(_ server: TestServer) async throws -> Set<String> {
        guard TestBackend.s3 else {
            let files = FileManager.default.enumerator(atPath: server.root.appendingPathComponent("blobs").path)?.allObjects as? [String] ?? []
            return Set(files.filter { $0.count > 64 && !$0.contains(".") }.map { ($0 as NSString).lastPathComponent })
        }
        return try await withBucket(server) { client, prefix in
            Set(try await keys(client, "\(prefix)blobs/").filter { $0.hasSuffix("/link") }.map { $0.split(separator: "/").dropLast().last.map(String.init) ?? "" })
        }
    }

    /// What uploads left in the store: upload files, or tail objects and open multipart uploads.
    static func uploadLeftovers(_ server: TestServer) async throws -> [String] {
        guard TestBackend.s3 else { return try FileManager.default.contentsOfDirectory(atPath: server.root.appendingPathComponent("uploads").path) }
        return try await withBucket(server) { client, prefix in
            try await keys(client, "\(prefix)uploads/") + client.listMultipartUploads(prefix: "\(prefix)data/").map(\.key)
        }
    }

    /// Leaves upload bytes no session owns (an upload file last changed an hour ago, or a
    /// multipart upload just started) and returns a check of whether they are still there.
    static func orphanUpload(_ server: TestServer) async throws -> @Sendable () async throws -> Bool {
        guard TestBackend.s3 else {
            let path = server.root.appendingPathComponent("uploads/\(UUID().uuidString.lowercased())").path
            try Data("left behind".utf8).write(to: URL(fileURLWithPath: path))
            let hourAgo = Int(Date().timeIntervalSince1970) - 3600
            var times = [timespec(tv_sec: hourAgo, tv_nsec: 0), timespec(tv_sec: hourAgo, tv_nsec: 0)]
            utimensat(AT_FDCWD, path, &times, 0)
            return { FileManager.default.fileExists(atPath: path) }
        }
        let key = try await withBucket(server) { client, prefix in
            let key = "\(prefix)data/\(UUID().uuidString.lowercased())"
            _ = try await client.createMultipartUpload(key)
            return key
        }
        return { try await withBucket(server) { client, prefix in try await client.listMultipartUploads(prefix: "\(prefix)data/").contains { $0.key == key } } }
    }

    private static func file(_ server: TestServer, _ digest: String) -> String {
        let parts = digest.split(separator: ":", maxSplits: 1)
        let (algorithm, hex) = parts.count == 2 ? (String(parts[0]), String(parts[1])) : ("sha256", digest)
        return server.root.appendingPathComponent("blobs/\(algorithm)/\(hex.prefix(2))/\(hex)").path
    }

    private static func withBucket<T: Sendable>(_ server: TestServer, _ body: (S3Client, String) async throws -> T) async throws -> T {
        let settings = try await TestBackend.bucket(for: server.root)
        let client = S3Client(location: settings.location, credentials: settings.credentials)
        let prefix = settings.rootDirectory.split(separator: "/").map { "\($0)/" }.joined()
        do {
            let result = try await body(client, prefix)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// The data object a blob's link names (`<key> <size>`), or nil without a link.
    private static func dataKey(_ client: S3Client, _ prefix: String, _ digest: String) async throws -> String? {
        let parts = digest.split(separator: ":", maxSplits: 1)
        let (algorithm, hex) = parts.count == 2 ? (String(parts[0]), String(parts[1])) : ("sha256", digest)
        let link = "\(prefix)blobs/\(algorithm)/\(hex.prefix(2))/\(hex)/link"
        // One GET, not HEAD then GET: the collector may delete the link between the two.
        let body: ByteBuffer
        do { body = try await client.getSmallObject(link, limit: 4096) } catch let error as S3Error where error.isNotFound { return nil }
        return String(buffer: body).split(separator: " ").first.map(String.init)
    }

    private static func keys(_ client: S3Client, _ prefix: String) async throws -> [String] {
        var found: [String] = []
        var continuation: String?
        repeat {
            let page = try await client.listObjects(prefix: prefix, continuation: continuation)
            found += page.objects.map(\.key)
            continuation = page.next
        } while continuation != nil
        return found
    }
}

private func requireKey(_ key: String?, _ digest: String) throws -> String {
    guard let key else { throw TestFailure("no stored blob \(digest)") }
    return key
}
