import Foundation
import NIOCore
import OCI
import ObjectStorage
import Synchronization

/// Blobs in an S3 bucket (`storage.s3`). Layout under the root prefix:
/// - `data/<upload id>`: a blob's bytes, written once by the upload that brought them;
/// - `blobs/<algorithm>/<first two hex>/<hex>/link`: the name of the `data/` object holding that
///   digest and its size (`<key> <size>`), so reads need no HEAD. Committing an upload writes this small object instead of copying the bytes under a
///   content-addressed key (distribution's server-side copy, moby#17038, costs time in
///   proportion to the blob; this costs one small PUT);
/// - `uploads/<upload id>/tail-<offset>`: bytes of an upload in progress that do not yet fill a
///   multipart part (every part but the last must hold at least 5 MiB).
/// Uploads stream into a multipart upload one part (`chunksize`) at a time, so memory per
/// upload is bounded by the part size and nothing is spooled to local disk; their state (the
/// multipart upload, its parts, the tail) is saved with the session, so any replica continues it.
public final class S3BlobStore: BlobStore {
    public let client: S3Client
    let prefix: String
    let chunkSize: Int
    /// How long a presigned blob URL stays valid (distribution uses 20 minutes).
    let redirectExpiry: Int
    /// digest → data object. A digest's data object only changes when the blob is deleted, which
    /// goes through `deleteBlob` here (other replicas' entries then point at a missing object:
    /// reads fail as unknown blob, which the metadata already says it is).
    private let links = Mutex<[Digest: DataObject]>([:])
    static let maxCachedLinks = 200_000

    public init(client: S3Client, rootDirectory: String, chunkSize: Int, redirectExpiry: Int = 1200) {
        self.client = client
        let trimmed = rootDirectory.split(separator: "/").joined(separator: "/")
        prefix = trimmed.isEmpty ? "" : trimmed + "/"
        self.chunkSize = chunkSize
        self.redirectExpiry = redirectExpiry
    }

    func linkKey(_ digest: Digest) -> String {
        "\(prefix)blobs/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))/\(digest.encoded)/link"
    }

    func dataKey(_ id: UUID) -> String { "\(prefix)data/\(id.uuidString.lowercased())" }
    func uploadPrefix(_ id: UUID) -> String { "\(prefix)uploads/\(id.uuidString.lowercased())/" }

    /// The data object of a stored blob, or nil when the digest is not stored.
    func dataObject(of digest: Digest) async throws -> DataObject? {
        if let cached = links.withLock({ $0[digest] }) { return cached }
        let body: ByteBuffer
        do { body = try await client.getSmallObject(linkKey(digest), limit: 4096) } catch let error as S3Error where error.isNotFound { return nil }
        let fields = String(buffer: body).split(separator: " ")
        guard fields.count == 2, let size = Int64(fields[1]) else {
            throw StorageIOError.corruptLink(linkKey(digest))
        }
        let object = DataObject(key: String(fields[0]), size: size)
        remember(digest, object)
        return object
    }

    private func remember(_ digest: Digest, _ object: DataObject) {
        links.withLock { links in
            if links.count >= Self.maxCachedLinks { links.removeAll() }
            links[digest] = object
        }
    }

    public func size(of digest: Digest) async throws -> Int64? { try await dataObject(of: digest)?.size }

    public func openBlob(_ digest: Digest) async throws -> any BlobReader {
        guard let object = try await dataObject(of: digest) else { throw RegistryError.blobUnknown(digest) }
        return S3BlobReader(client: client, key: object.key, size: object.size)
    }

    public func redirectURL(for digest: Digest) async throws -> String? {
        guard let object = try await dataObject(of: digest) else { return nil }
        return client.presignedURL(object.key, expires: redirectExpiry)
    }

    public func openUpload(_ id: UUID, resuming checkpoint: UploadCheckpoint?) async throws -> any UploadWriter {
        try writer(id, checkpoint)
    }

    private func writer(_ id: UUID, _ checkpoint: UploadCheckpoint?) throws -> S3UploadWriter {
        guard let checkpoint, !checkpoint.storageState.isEmpty else { return S3UploadWriter(store: self, id: id, state: S3UploadState()) }
        do {
            return S3UploadWriter(store: self, id: id, state: try JSONDecoder().decode(S3UploadState.self, from: Data(checkpoint.storageState)))
        } catch {
            throw StorageIOError.corruptUploadState(id.uuidString)
        }
    }

    public func readUpload(_ id: UUID, _ checkpoint: UploadCheckpoint, _ body: (UnsafeRawBufferPointer) throws -> Void) async throws {
        let writer = try writer(id, checkpoint)
        guard writer.state.multipartID == nil else {
            // Parts of a multipart upload in progress cannot be read back from S3.
            throw StorageIOError.unreadableUpload(id.uuidString)
        }
        let tail = try await writer.loadTail()
        try tail.withUnsafeReadableBytes(body)
    }

    public func deleteUpload(_ id: UUID, _ checkpoint: UploadCheckpoint?) async throws {
        if let checkpoint, let writer = try? writer(id, checkpoint) {
            await writer.discard()
            return
        }
        // No saved state: whatever a multipart upload or tail of this id left behind.
        for upload in try await client.listMultipartUploads(prefix: dataKey(id)) {
            try await client.abortMultipartUpload(upload.key, uploadID: upload.uploadID)
        }
        try await deleteTails(id)
    }

    func deleteTails(_ id: UUID) async throws {
        var continuation: String?
        repeat {
            let page = try await client.listObjects(prefix: uploadPrefix(id), continuation: continuation)
            for object in page.objects { try await client.deleteObject(object.key) }
            continuation = page.next
        } while continuation != nil
    }

    public func probeWritable() async throws {
        let key = "\(prefix)probe/\(UUID().uuidString.lowercased())"
        try await client.putObject(key, ByteBuffer(string: "ok"))
        try await client.deleteObject(key)
    }

    public func uploadFiles() async throws -> [(id: UUID, modified: Date)] {
        var found: [UUID: Date] = [:]
        var continuation: String?
        repeat {
            let page = try await client.listObjects(prefix: "\(prefix)uploads/", continuation: continuation)
            for object in page.objects {
                let parts = object.key.dropFirst(prefix.count + "uploads/".count).split(separator: "/")
                guard let first = parts.first, let id = UUID(uuidString: String(first)) else { continue }
                let modified = object.lastModified ?? .distantPast
                found[id] = max(found[id] ?? .distantPast, modified)
            }
            continuation = page.next
        } while continuation != nil
        for upload in try await client.listMultipartUploads(prefix: "\(prefix)data/") {
            guard let id = UUID(uuidString: String(upload.key.dropFirst(prefix.count + "data/".count))) else { continue }
            found[id] = max(found[id] ?? .distantPast, upload.initiated ?? .distantPast)
        }
        return found.map { (id: $0.key, modified: $0.value) }
    }

    /// Removes the link first: a crash between the two leaves an unreferenced data object,
    /// never a link to missing bytes.
    public func deleteBlob(_ digest: Digest) async throws {
        let object = try await dataObject(of: digest)
        try await client.deleteObject(linkKey(digest))
        _ = links.withLock { $0.removeValue(forKey: digest) }
        if let object { try await client.deleteObject(object.key) }
    }

    /// Records `object` as the data of `digest`, unless another upload stored it first;
    /// returns whether this one's bytes are now the blob's.
    func link(_ digest: Digest, to object: DataObject) async throws -> Bool {
        do {
            try await client.putObject(linkKey(digest), ByteBuffer(string: "\(object.key) \(object.size)"), ifNoneMatch: true)
        } catch let error as S3Error where error.status == 412 || error.status == 409 {
            // Taken: by another upload, or by this PUT itself when its answer was lost and the
            // client's retry found the link already written.
            links.withLock { _ = $0.removeValue(forKey: digest) }
            return try await dataObject(of: digest)?.key == object.key
        }
        remember(digest, object)
        return true
    }
}

/// The object holding a blob's bytes.
struct DataObject: Sendable, Equatable {
    let key: String
    let size: Int64
}

/// What an S3 upload needs to continue on any replica; saved as JSON with the session.
struct S3UploadState: Codable, Equatable {
    var multipartID: String?
    var parts: [S3Part] = []
    /// The object holding the bytes after the last part, and how many there are.
    var tailKey: String?
    var tailSize: Int64 = 0

    var partsSize: Int64 { parts.reduce(0) { $0 + $1.size } }
}

/// Appends to an S3 upload: bytes gather in memory up to one part, then go up as a part.
final class S3UploadWriter: UploadWriter, @unchecked Sendable {
    // Used by one request at a time: `Registry` serialises access to an upload session.
    let store: S3BlobStore
    let id: UUID
    private(set) var state: S3UploadState
    /// Bytes after the last part; the saved tail is read into it before the first new byte.
    private var pending = ByteBuffer()
    private var tailLoaded: Bool
    private var changed = false

    init(store: S3BlobStore, id: UUID, state: S3UploadState) {
        self.store = store
        self.id = id
        self.state = state
        partsSize = state.partsSize
        tailLoaded = state.tailSize == 0
    }

    /// Bytes in parts, plus the tail: in memory once read back, else as saved.
    var offset: Int64 { partsSize + (tailLoaded ? Int64(pending.readableBytes) : state.tailSize) }
    /// `state.partsSize`, kept as parts are added rather than summed per call.
    private var partsSize: Int64

    func loadTail() async throws -> ByteBuffer {
        if !tailLoaded, let key = state.tailKey {
            pending = try await store.client.getSmallObject(key, limit: store.chunkSize + 1)
            guard pending.readableBytes == state.tailSize else { throw StorageIOError.corruptUploadState(id.uuidString) }
            tailLoaded = true
        }
        return pending
    }

    func write(_ buffer: ByteBuffer) async throws {
        _ = try await loadTail()
        var buffer = buffer
        changed = changed || buffer.readableBytes > 0
        pending.writeBuffer(&buffer)
        while pending.readableBytes >= store.chunkSize {
            try await uploadPart(pending.readSlice(length: store.chunkSize)!)
        }
        pending.discardReadBytes()
    }

    private func uploadPart(_ bytes: ByteBuffer) async throws {
        let key = store.dataKey(id)
        if state.multipartID == nil { state.multipartID = try await store.client.createMultipartUpload(key) }
        let part = try await store.client.uploadPart(key, uploadID: state.multipartID!, number: state.parts.count + 1, bytes)
        state.parts.append(part)
        partsSize += part.size
    }

    func checkpoint() async throws -> UploadCheckpoint {
        if changed {
            // A new tail object per checkpoint: the one the saved session names stays intact
            // until the new state is saved.
            if pending.readableBytes > 0 {
                let key = "\(store.uploadPrefix(id))tail-\(offset)"
                try await store.client.putObject(key, pending)
                state.tailKey = key
            } else {
                state.tailKey = nil
            }
            state.tailSize = Int64(pending.readableBytes)
            changed = false
        }
        return UploadCheckpoint(offset: offset, storageState: Array(try JSONEncoder().encode(state)))
    }

    func commit(as digest: Digest) async throws {
        let client = store.client
        if try await store.dataObject(of: digest) != nil {
            // Content-addressed: the bytes already stored are these bytes.
            await discard()
            return
        }
        let key = store.dataKey(id)
        let last = try await loadTail()
        let size = offset
        if let multipartID = state.multipartID {
            if last.readableBytes > 0 { try await uploadPart(last) }
            do {
                try await client.completeMultipartUpload(key, uploadID: multipartID, parts: state.parts)
            } catch let error as S3Error where error.code == "NoSuchUpload" {
                // A retried Complete whose first attempt went through (its answer was lost).
                guard try await client.headObject(key) == size else { throw error }
            }
        } else {
            try await client.putObject(key, last)
        }
        if try await !store.link(digest, to: DataObject(key: key, size: size)) {
            // Another upload of the same bytes linked first.
            try await client.deleteObject(key)
        }
        try await store.deleteTails(id)
    }

    func close() async {}

    func discard() async {
        if let multipartID = state.multipartID {
            try? await store.client.abortMultipartUpload(store.dataKey(id), uploadID: multipartID)
        }
        try? await store.deleteTails(id)
    }
}

/// A stored blob read with ranged GETs, streamed as S3 sends it.
struct S3BlobReader: BlobReader {
    let client: S3Client
    let key: String
    let size: Int64

    func bytes(_ range: Range<Int64>) async throws -> any AsyncSequence<ByteBuffer, any Error> {
        guard !range.isEmpty else { return AsyncThrowingStream<ByteBuffer, any Error> { $0.finish() } }
        return try await client.getObject(key, range: range.lowerBound...(range.upperBound - 1))
    }

    func duplicateDescriptor() -> Int32? { nil }
    func close() {}
}
