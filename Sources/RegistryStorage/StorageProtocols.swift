// RegistryStorage: where a registry keeps its data. `BlobStore` holds content-addressed bytes
// and in-progress uploads; `MetadataStore` holds everything else (repositories, blob visibility,
// manifests with their bytes, tags, referrers, upload sessions). `Registry` composes the two into
// the operations of the distribution spec. The layout and schema are described in docs/storage.md.

import Foundation
import NIOCore
import OCI

/// Content-addressed blob bytes plus the scratch space uploads stream into.
public protocol BlobStore: Sendable {
    /// The size of a stored blob, or nil when it is not stored.
    func size(of digest: Digest) throws -> Int64?
    /// Opens a stored blob for reading.
    func openBlob(_ digest: Digest) throws -> any BlobReader
    /// Creates an empty upload, or opens an existing one truncated to `offset` bytes.
    func openUpload(_ id: UUID, truncatingTo offset: Int64?) throws -> any UploadWriter
    /// Reads an upload's bytes in order (used to rebuild a hash after a restart).
    func readUpload(_ id: UUID, _ body: (UnsafeRawBufferPointer) throws -> Void) throws
    /// Makes a finished upload the blob `digest`; if that blob is already stored, drops the upload.
    func commitUpload(_ id: UUID, as digest: Digest) throws
    func deleteUpload(_ id: UUID) throws
    /// Creates and removes a file where uploads go; throws when that fails.
    func probeWritable() throws
    /// Every upload file with its last modification, including ones no session knows about.
    func uploadFiles() throws -> [(id: UUID, modified: Date)]
    func deleteBlob(_ digest: Digest) throws
}

/// Random access to one stored blob.
public protocol BlobReader: Sendable {
    var size: Int64 { get }
    /// Reads up to `length` bytes at `offset`; an empty buffer means end of file.
    func read(at offset: Int64, length: Int, allocator: ByteBufferAllocator) throws -> ByteBuffer
    /// A new descriptor for the blob's file, owned by the caller, when the blob is a local file
    /// (so the HTTP layer can send it with sendfile); nil for stores that are not files.
    func duplicateDescriptor() -> Int32?
    func close()
}

/// Appends to an upload in progress.
public protocol UploadWriter: Sendable {
    var offset: Int64 { get }
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Makes the bytes written so far durable.
    func sync() throws
    func truncate(to offset: Int64) throws
    func close()
}

/// A stored manifest as the registry serves it.
public struct StoredManifest: Sendable, Equatable {
    public let digest: Digest
    public let mediaType: String
    public let payload: [UInt8]
}

/// A manifest ready to be recorded: its bytes and what it references.
public struct ManifestRecord: Sendable {
    public let digest: Digest
    public let summary: ManifestSummary
    public let payload: [UInt8]
    /// Blobs that must be visible in the repository (config and distributable layers).
    public let requiredBlobs: [Digest]
    /// Manifests that must exist in the repository (an index's children).
    public let requiredManifests: [Digest]
}

/// A webhook event waiting for its endpoint.
public struct QueuedNotification: Sendable, Equatable {
    public let id: Int64
    public let endpoint: String
    public let event: [UInt8]
    public let attempts: Int

    public init(id: Int64 = 0, endpoint: String, event: [UInt8], attempts: Int = 0) {
        self.id = id
        self.endpoint = endpoint
        self.event = event
        self.attempts = attempts
    }
}

public struct StorageBlob: Sendable, Equatable {
    public let digest: Digest
    public let size: Int64
}

/// What a garbage collection deleted.
public struct GarbageReport: Sendable, Equatable {
    public var manifests: Int
    public var blobs: [StorageBlob]
    /// Repositories whose content changed.
    public var repositories: [String]

    public var bytesFreed: Int64 { blobs.reduce(0) { $0 + $1.size } }
}

public struct StorageStatistics: Sendable, Equatable {
    public let blobs: Int
    public let bytes: Int64
    public let uploads: Int
}

/// An upload session as persisted, so it survives a restart.
public struct UploadRecord: Sendable, Equatable {
    public let id: UUID
    public let repository: RepositoryName
    public let algorithm: Digest.Algorithm
    public var offset: Int64
    public let startedAt: Date
}

/// One page of a listing, with whether more entries follow.
public struct Page<Element: Sendable>: Sendable {
    public let items: [Element]
    public let hasMore: Bool

    public init(items: [Element], hasMore: Bool) {
        self.items = items
        self.hasMore = hasMore
    }
}

/// The registry's metadata.
public protocol MetadataStore: Sendable {
    /// Ends use of the store (a clean shutdown): later calls fail.
    func close() throws
    func repositoryExists(_ repository: RepositoryName) async throws -> Bool
    /// The blob's size when it is visible in `repository`.
    func linkedBlobSize(_ repository: RepositoryName, _ digest: Digest) async throws -> Int64?
    /// Any repository in which the blob is visible, other than `excluding`.
    func anyRepositoryHolding(_ digest: Digest, excluding: RepositoryName) async throws -> RepositoryName?
    func linkBlob(_ repository: RepositoryName, _ digest: Digest, size: Int64) async throws
    func unlinkBlob(_ repository: RepositoryName, _ digest: Digest) async throws -> Bool

    func manifest(_ repository: RepositoryName, _ reference: ManifestReference) async throws -> StoredManifest?
    /// Stores the manifest and points `tags` at it; throws `RegistryError.manifestBlobUnknown` when a
    /// required blob or child manifest is missing, checked in the same transaction as the insert.
    func putManifest(_ repository: RepositoryName, _ record: ManifestRecord, tags: [Tag]) async throws
    func deleteManifest(_ repository: RepositoryName, _ digest: Digest) async throws -> Bool
    func deleteTag(_ repository: RepositoryName, _ tag: Tag) async throws -> Bool
    /// The signatures stored for a manifest (nil when the repository has no such manifest).
    func signatures(_ repository: RepositoryName, _ digest: Digest) async throws -> [StoredSignature]?
    /// Stores a signature for a manifest; false when the repository has no such manifest.
    func addSignature(_ repository: RepositoryName, _ digest: Digest, _ signature: StoredSignature) async throws -> Bool
    /// Tags in byte order after `last`; nil when the repository does not exist.
    func tags(_ repository: RepositoryName, after last: String?, limit: Int?) async throws -> Page<String>?
    func repositories(after last: String?, limit: Int) async throws -> Page<String>
    /// Manifests in `repository` whose subject is `subject`, in digest order after `last`.
    func referrers(
        _ repository: RepositoryName, subject: Digest, artifactType: String?, after last: String?, limit: Int
    ) async throws -> Page<Descriptor>

    func createUpload(_ upload: UploadRecord) async throws
    func upload(_ id: UUID) async throws -> UploadRecord?
    func setUploadOffset(_ id: UUID, _ offset: Int64) async throws
    func deleteUpload(_ id: UUID) async throws
    /// Deletes, in one transaction, manifests last pushed before `cutoff` that no tag, index or
    /// present subject keeps (when `untaggedManifests`), then blobs last linked before `cutoff`
    /// that no manifest references. The caller removes the blob files. A dry run reports and
    /// changes nothing.
    func collectGarbage(before cutoff: Date, untaggedManifests: Bool, dryRun: Bool) async throws -> GarbageReport
    /// Queues webhook events (`id` and `attempts` are ignored).
    func enqueueNotifications(_ events: [QueuedNotification]) async throws
    /// Events for `endpoint` whose next attempt is due, oldest first.
    func dueNotifications(endpoint: String, now: Date, limit: Int) async throws -> [QueuedNotification]
    /// Deletes delivered events, or (with `retryAt`) counts a failed attempt and defers them.
    func finishNotifications(_ ids: [Int64], retryAt: Date?) async throws
    /// Every blob row (for `garbage-collect --verify`).
    func allBlobs() async throws -> [StorageBlob]
    /// What the store holds: blobs, their bytes, and upload sessions open; also proves the
    /// database answers.
    func statistics() async throws -> StorageStatistics
    /// Upload sessions started before `date`, oldest first.
    func uploads(startedBefore date: Date) async throws -> [UploadRecord]
    /// Ends an upload and records its blob as visible in the upload's repository, in one transaction.
    func finishUpload(_ id: UUID, repository: RepositoryName, digest: Digest, size: Int64) async throws
}

/// A signature of the extension API: its name (`<digest>@<random hex>`) and the OpenPGP bytes.
public struct StoredSignature: Sendable, Equatable {
    public let name: String
    public let content: [UInt8]

    public init(name: String, content: [UInt8]) {
        self.name = name
        self.content = content
    }
}
