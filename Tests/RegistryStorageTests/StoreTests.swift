import Foundation
import NIOCore
import OCI
import Logging
import TestSupport
import Testing

@testable import RegistryStorage

/// The metadata stores the registry tests run on: SQLite, and PostgreSQL where it is installed
/// (always under BERTH_REQUIRE_INTEROP=1, where a missing one fails).
enum MetadataKind: String, CaseIterable, Sendable {
    case sqlite, postgres

    static var available: [MetadataKind] {
        PostgresCluster.installed || ProcessInfo.processInfo.environment["BERTH_REQUIRE_INTEROP"] == "1" ? allCases : [.sqlite]
    }

    func open(root: URL) async throws -> any MetadataStore {
        switch self {
        case .sqlite: return try SQLiteMetadataStore(path: root.appendingPathComponent("m.sqlite").path)
        case .postgres: return try await PostgresMetadataStore.forTests()
        }
    }
}

extension PostgresMetadataStore {
    /// A store on a fresh database of the test cluster.
    static func forTests(logger: Logger = Logger(label: "berth.test")) async throws -> PostgresMetadataStore {
        let database = try await PostgresCluster.shared.database()
        var settings = PostgresSettings(host: database.host, user: database.user, database: database.name)
        settings.port = database.port
        settings.sslMode = .disable
        settings.maxOpen = 4
        // As the integration suite's servers (TestBackend): on two loaded cores a connection can
        // take longer than connecttimeout's 10 s default to come free.
        settings.connectTimeout = .seconds(60)
        return try await PostgresMetadataStore(settings: settings, logger: logger)
    }
}

/// Runs `body` against a registry in a fresh temporary directory, on the given metadata store.
func withRegistry(
    _ options: Registry.Options = .init(), metadata kind: MetadataKind = .sqlite, _ body: (Registry, URL) async throws -> Void
) async throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-store-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: root) }
    let blobs = try FileSystemBlobStore(root: root)
    let metadata = try await kind.open(root: root)
    defer { try? metadata.close() }
    try await body(Registry(blobs: blobs, metadata: metadata, options: options), root)
}

struct Chunks: AsyncSequence, Sendable {
    let chunks: [[UInt8]]
    var failAfter: Int? = nil
    struct Broken: Error {}

    struct AsyncIterator: AsyncIteratorProtocol {
        var chunks: [[UInt8]]
        var remainingBeforeFailure: Int?
        mutating func next() async throws -> ByteBuffer? {
            if let r = remainingBeforeFailure {
                if r == 0 { throw Broken() }
                remainingBeforeFailure = r - 1
            }
            guard !chunks.isEmpty else { return nil }
            return ByteBuffer(bytes: chunks.removeFirst())
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunks: chunks, remainingBeforeFailure: failAfter) }
}

@Suite struct StoreTests {
    let repo = try! RepositoryName(parsing: "team/app")

    @Test(arguments: MetadataKind.available)
    func blobLivesOnceUnderItsDigest(_ metadata: MetadataKind) async throws {
        try await withRegistry(metadata: metadata) { registry, root in
            let data = Array("layer".utf8)
            let digest = Digest.of(data)
            _ = try await registry.putBlob(repo, digest: digest, length: 5, body: Chunks(chunks: [data]))
            let other = try RepositoryName(parsing: "other/app")
            _ = try await registry.putBlob(other, digest: digest, length: 5, body: Chunks(chunks: [data]))
            let path = root.appendingPathComponent("blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)").path
            #expect(FileManager.default.contents(atPath: path) == Data(data))
            #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("uploads").path).isEmpty)
            #expect(try await registry.blobSize(other, digest) == 5)
        }
    }

    @Test(arguments: MetadataKind.available)
    func aFailedChunkLeavesTheUploadWhereItWas(_ metadata: MetadataKind) async throws {
        try await withRegistry(metadata: metadata) { registry, _ in
            let upload = try await registry.startUpload(repo, algorithm: .sha256)
            #expect(try await registry.appendChunk(repo, upload.id, start: 0, length: 3, body: Chunks(chunks: [[1, 2, 3]])) == 3)
            await #expect(throws: Chunks.Broken.self) {
                _ = try await registry.appendChunk(repo, upload.id, start: 3, length: 4, body: Chunks(chunks: [[4, 5], [6, 7]], failAfter: 1))
            }
            await #expect(throws: RegistryError.self) {
                _ = try await registry.appendChunk(repo, upload.id, start: 3, length: 4, body: Chunks(chunks: [[4, 5]]))
            }
            #expect(try await registry.uploadStatus(repo, upload.id).offset == 3)
            let all: [UInt8] = [1, 2, 3, 4, 5, 6, 7]
            _ = try await registry.finishUpload(
                repo, upload.id, digest: Digest.of(all), start: 3, length: 4, body: Chunks(chunks: [[4, 5, 6, 7]]))
            #expect(try await registry.blobSize(repo, Digest.of(all)) == 7)
        }
    }

    @Test(arguments: MetadataKind.available)
    func outOfOrderChunkIsARangeError(_ metadata: MetadataKind) async throws {
        try await withRegistry(metadata: metadata) { registry, _ in
            let upload = try await registry.startUpload(repo, algorithm: .sha256)
            await #expect(throws: RegistryError.rangeInvalid(offset: 0, detail: "chunk starts at 5 but the upload has 0 bytes")) {
                _ = try await registry.appendChunk(repo, upload.id, start: 5, length: 1, body: Chunks(chunks: [[1]]))
            }
        }
    }

    @Test(arguments: MetadataKind.available)
    func wrongDigestStoresNothing(_ metadata: MetadataKind) async throws {
        try await withRegistry(metadata: metadata) { registry, root in
            let claimed = Digest.of(Array("other".utf8))
            await #expect(throws: RegistryError.self) {
                _ = try await registry.putBlob(repo, digest: claimed, length: 4, body: Chunks(chunks: [Array("data".utf8)]))
            }
            await #expect(throws: RegistryError.blobUnknown(claimed)) { _ = try await registry.blobSize(repo, claimed) }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("uploads").path)
            #expect(leftovers.isEmpty)
        }
    }

    @Test(arguments: MetadataKind.available)
    func aVerifiedFileIsCopiedIntoTheStoreAndAShortOneIsNot(_ metadata: MetadataKind) async throws {
        try await withRegistry(metadata: metadata) { registry, root in
            // What a pull-through cache hands over: a spool it has hashed, unlinked, still open.
            let bytes = randomBytes(5 << 20 + 77)
            let path = root.appendingPathComponent("spool").path
            let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            try #require(fd >= 0)
            defer { close(fd) }
            unlink(path)
            #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
            let digest = Digest.of(bytes)
            try await registry.putVerifiedFile(repo, digest: digest, size: Int64(bytes.count), descriptor: fd)
            #expect(try await registry.blobSize(repo, digest) == Int64(bytes.count))
            let stored = root.appendingPathComponent("blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)").path
            #expect(FileManager.default.contents(atPath: stored) == Data(bytes))

            // A file shorter than the size claimed (truncated under the cache) stores nothing.
            let claimed = Digest.of(bytes + [1])
            await #expect(throws: StorageIOError.self) {
                try await registry.putVerifiedFile(repo, digest: claimed, size: Int64(bytes.count + 1), descriptor: fd)
            }
            await #expect(throws: RegistryError.blobUnknown(claimed)) { _ = try await registry.blobSize(repo, claimed) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("uploads").path).isEmpty)
        }
    }

    @Test(arguments: MetadataKind.available)
    func tagsPageInByteOrder(_ metadata: MetadataKind) async throws {
        try await withRegistry(metadata: metadata) { registry, _ in
            let config = Array("{}".utf8)
            _ = try await registry.putBlob(repo, digest: Digest.of(config), length: 2, body: Chunks(chunks: [config]))
            let manifest = ImageManifest(config: Descriptor(mediaType: MediaType.ociConfig, digest: Digest.of(config), size: 2), layers: [])
            let body = try Array(JSONEncoderForTests.encode(manifest))
            for tag in ["b", "a", "C", "c"] {
                _ = try await registry.putManifest(repo, .tag(try Tag(parsing: tag)), contentType: nil, body: body, extraTags: [])
            }
            let first = try await registry.tags(repo, after: nil, limit: 2)
            #expect(first.json == Array(#"{"name":"team/app","tags":["C","a"]}"#.utf8) && first.hasMore && first.last == "a")
            let second = try await registry.tags(repo, after: "a", limit: 2)
            #expect(second.json == Array(#"{"name":"team/app","tags":["b","c"]}"#.utf8) && !second.hasMore)
        }
    }

    @Test func uploadFilesHoldExactlyWhatWasCheckpointedAcrossReopens() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-writer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try FileSystemBlobStore(root: root)
        let id = UUID()
        var expected: [UInt8] = []
        var writer = try await store.openUpload(id, resuming: nil)
        var saved = UploadCheckpoint(offset: 0)
        // Chunk sizes straddle the 4 KiB block and the 2 MiB staging buffer.
        for size in [1, 4095, 4096, 5000, 3 << 20, 17, 2 << 20, 70_001] {
            let chunk = randomBytes(size)
            try await writer.write(ByteBuffer(bytes: chunk))
            expected += chunk
            #expect(writer.offset == Int64(expected.count))
            if size % 2 == 1 {
                saved = try await writer.checkpoint()
                #expect(saved.offset == Int64(expected.count))
                await writer.close()
                writer = try await store.openUpload(id, resuming: saved)
            }
        }
        saved = try await writer.checkpoint()
        // A request that fails after writing: its bytes are gone once the upload is reopened at the last checkpoint.
        try await writer.write(ByteBuffer(bytes: Array(repeating: UInt8(9), count: 12_345)))
        await writer.close()
        writer = try await store.openUpload(id, resuming: saved)
        #expect(writer.offset == Int64(expected.count))
        let more = Array(repeating: UInt8(7), count: 9000)
        try await writer.write(ByteBuffer(bytes: more))
        expected += more
        saved = try await writer.checkpoint()
        await writer.close()
        var read: [UInt8] = []
        try await store.readUpload(id, saved) { read += $0 }
        #expect(read == expected)
    }

    @Test(arguments: MetadataKind.available)
    func cachedReadsSeeEveryWrite(_ metadata: MetadataKind) async throws {
        try await withRegistry(metadata: metadata) { registry, _ in
            let a = Array("a".utf8)
            await #expect(throws: RegistryError.self) { _ = try await registry.blobSize(repo, Digest.of(a)) }
            _ = try await registry.putBlob(repo, digest: Digest.of(a), length: 1, body: Chunks(chunks: [a]))
            #expect(try await registry.blobSize(repo, Digest.of(a)) == 1)

            func manifest(_ annotation: String) throws -> [UInt8] {
                let m = ImageManifest(
                    config: Descriptor(mediaType: MediaType.ociConfig, digest: Digest.of(a), size: 1), layers: [],
                    annotations: ["n": annotation])
                return try Array(JSONEncoderForTests.encode(m))
            }
            let v1 = try Tag(parsing: "v1")
            let one = try manifest("one")
            let two = try manifest("two")
            _ = try await registry.putManifest(repo, .tag(v1), contentType: nil, body: one, extraTags: [])
            #expect(try await registry.manifest(repo, .tag(v1)).payload == one)
            #expect(try await registry.tags(repo, after: nil, limit: nil).json == Array(#"{"name":"team/app","tags":["v1"]}"#.utf8))
            _ = try await registry.putManifest(repo, .tag(v1), contentType: nil, body: two, extraTags: [try Tag(parsing: "v2")])
            #expect(try await registry.manifest(repo, .tag(v1)).payload == two)
            #expect(try await registry.tags(repo, after: nil, limit: nil).json == Array(#"{"name":"team/app","tags":["v1","v2"]}"#.utf8))
            try await registry.deleteManifest(repo, .tag(v1))
            await #expect(throws: RegistryError.self) { _ = try await registry.manifest(repo, .tag(v1)) }
            try await registry.deleteBlob(repo, Digest.of(a))
            await #expect(throws: RegistryError.self) { _ = try await registry.blobSize(repo, Digest.of(a)) }
        }
    }
}

let JSONEncoderForTests = JSONEncoder()
