// RegistryStorage: where a registry keeps its data. `BlobStore` holds content-addressed bytes
// and in-progress uploads; `MetadataStore` holds everything else (repositories, blob visibility,
// manifests with their bytes, tags, referrers, upload sessions). `Registry` composes the two into
// the operations of the distribution spec. The layout and schema are described in docs/storage.md.

import Foundation
import NIOCore
import OCI

/// Content-addressed blob bytes plus the scratch space uploads stream into. Implemented by
/// `FileSystemBlobStore` (local files, direct I/O, sendfile) and `S3BlobStore` (object storage,
/// multipart uploads, presigned URLs).
public protocol BlobStore: Sendable {
    /// The size of a stored blob, or nil when it is not stored.
    func size(of digest: Digest) async throws -> Int64?
    /// Opens a stored blob for reading.
    func openBlob(_ digest: Digest) async throws -> any BlobReader
    /// A URL from which a client may fetch the blob itself (a presigned object URL), or nil when
    /// the registry serves the bytes.
    func redirectURL(for digest: Digest) async throws -> String?
    /// Opens an upload to append to: a new one (`resuming` nil) or one continued from the
    /// checkpoint saved after its last successful request. Bytes written after that checkpoint by
    /// a request that failed are dropped.
    func openUpload(_ id: UUID, resuming: UploadCheckpoint?) async throws -> any UploadWriter
    /// Reads an upload's bytes up to its checkpoint, in order (to hash them with another
    /// algorithm). Stores whose uploads cannot be read back before they are committed throw.
    func readUpload(_ id: UUID, _ checkpoint: UploadCheckpoint, _ body: (UnsafeRawBufferPointer) throws -> Void) async throws
    /// Removes an upload no request holds, whatever it had stored.
    func deleteUpload(_ id: UUID, _ checkpoint: UploadCheckpoint?) async throws
    /// Writes and removes something where uploads go; throws when that fails.
    func probeWritable() async throws
    /// Uploads with their last change, including ones no session knows about.
    func uploadFiles() async throws -> [(id: UUID, modified: Date)]
    func deleteBlob(_ digest: Digest) async throws
}

/// Random access to one stored blob.
public protocol BlobReader: Sendable {
    var size: Int64 { get }
    /// The bytes of `range`, in order, as they are read.
    func bytes(_ range: Range<Int64>) async throws -> any AsyncSequence<ByteBuffer, any Error>
    /// A new descriptor for the blob's file, owned by the caller, when the blob is a local file
    /// (so the HTTP layer can send it with sendfile); nil for stores that are not files.
    func duplicateDescriptor() -> Int32?
    func close()
}

/// Where an upload stands after a successful request: its size and what its store needs to
/// continue it on any replica (nothing for files; the multipart upload, its parts and the
/// pending tail for S3). Saved with the upload session.
public struct UploadCheckpoint: Sendable, Equatable {
    public var offset: Int64
    public var storageState: [UInt8]

    public init(offset: Int64, storageState: [UInt8] = []) {
        self.offset = offset
        self.storageState = storageState
    }
}

/// Appends to an upload; used by one request at a time.
public protocol UploadWriter: Sendable {
    var offset: Int64 { get }
    func write(_ buffer: ByteBuffer) async throws
    /// Makes the bytes written so far durable; returns what to save with the session.
    func checkpoint() async throws -> UploadCheckpoint
    /// Makes everything written the blob `digest`; when that blob is stored already the upload's
    /// bytes are dropped (content-addressed: they are the same bytes). Ends the writer.
    func commit(as digest: Digest) async throws
    /// Ends use of the writer; what was checkpointed stays.
    func close() async
    /// Ends use of the writer and removes everything the upload stored, checkpointed or not.
    func discard() async
}

/// A stored manifest as the registry serves it.
public struct StoredManifest: Sendable, Equatable {
    public let digest: Digest
    public let mediaType: String
    public let payload: [UInt8]

    public init(digest: Digest, mediaType: String, payload: [UInt8]) {
        self.digest = digest
        self.mediaType = mediaType
        self.payload = payload
    }
}

/// A manifest ready to be recorded: its bytes and what it references.
public struct ManifestRecord: Sendable {
    public let digest: Digest
    public let summary: ManifestSummary
    public let payload: [UInt8]
    /// Blobs the manifest uses (config and distributable layers): kept by the collector for it.
    public let requiredBlobs: [Digest]
    /// Manifests the manifest uses (an index's children).
    public let requiredManifests: [Digest]
    /// When true the store refuses the manifest unless every required blob is visible in the
    /// repository and every required manifest exists; a pull-through cache stores a manifest
    /// before fetching what it names.
    public let checkReferences: Bool
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

/// A manifest and when it was last pulled (or pushed, when never pulled).
public struct ManifestPull: Sendable, Equatable {
    public let repository: RepositoryName
    public let digest: Digest
    public let at: Date

    public init(repository: RepositoryName, digest: Digest, at: Date) {
        self.repository = repository
        self.digest = digest
        self.at = at
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

/// An upload session as persisted, so it survives a restart and continues on any replica.
public struct UploadRecord: Sendable, Equatable {
    public let id: UUID
    public let repository: RepositoryName
    public let algorithm: Digest.Algorithm
    public var checkpoint: UploadCheckpoint
    /// The running hash's saved state (`ResumableHasher.state`); nil for sessions saved before
    /// states were kept, whose bytes are read back and hashed again.
    public var hashState: [UInt8]?
    public let startedAt: Date

    public var offset: Int64 { checkpoint.offset }

    public init(id: UUID, repository: RepositoryName, algorithm: Digest.Algorithm, checkpoint: UploadCheckpoint, hashState: [UInt8]?, startedAt: Date) {
        self.id = id
        self.repository = repository
        self.algorithm = algorithm
        self.checkpoint = checkpoint
        self.hashState = hashState
        self.startedAt = startedAt
    }
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

extension Page where Element == String {
    /// The first `limit` of `names` (fetched one past the limit), and whether there were more.
    init(prefixOf names: [String], limit: Int?) {
        guard let limit, names.count > limit else {
            self.init(items: names, hasMore: false)
            return
        }
        self.init(items: Array(names.prefix(limit)), hasMore: true)
    }
}

/// What other servers sharing a metadata store changed, so read caches stay true.
public enum MetadataChange: Sendable, Equatable {
    /// The feed is live: from now on every change arrives. What was cached before may be stale.
    case listening
    /// A repository's tags, manifests or blobs changed.
    case repository(String)
    /// The feed broke: nothing may be cached until it is `listening` again.
    case lost
}

/// The registry's metadata.
public protocol MetadataStore: Sendable {
    /// Ends use of the store (a clean shutdown): later calls fail.
    func close() throws
    /// Changes committed by any server sharing the store, as they commit; nil when no other
    /// server can share it, so a process's own writes are all there is to see.
    func changeFeed() -> AsyncStream<MetadataChange>?
    /// Whether other servers can share this store (PostgreSQL), so upload sessions need marks
    /// across servers; false for SQLite, one server per file.
    var isShared: Bool { get }
    /// Runs `body` holding the blob lock across every server sharing the store: `exclusive` for
    /// the collector deleting rows and then objects, shared for commits and mounts bringing blobs
    /// into being, so no blob is re-linked between the collector's two steps. (Within one
    /// process `Registry` also serialises them.)
    func withBlobLock<T: Sendable>(exclusive: Bool, _ body: () async throws -> T) async throws -> T
    /// Runs `body` unless another server sharing the store is running `job` (then returns nil):
    /// garbage collection, upload purging and each webhook endpoint's deliveries run on one
    /// server at a time.
    func asSoleRunner<T: Sendable>(_ job: String, _ body: () async throws -> T) async throws -> T?
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
    /// Every repository with its totals, by name (`RegistryOverview.swift`).
    func repositorySummaries() async throws -> [RepositorySummary]
    /// A repository's tags with the manifests they name, by tag; nil when it does not exist.
    func tagDetails(_ repository: RepositoryName) async throws -> [TagDetail]?
    /// Up to `limit` of each: tags whose name contains `term`, manifests whose digest starts with
    /// `digestPrefix` (when given), manifests whose annotations contain `term` (any case).
    func search(_ term: String, digestPrefix: String?, limit: Int) async throws -> [SearchHit]
    /// Every referrer's subject in `repository` with the referrer's artifact type (for badges).
    func referrerTypes(_ repository: RepositoryName) async throws -> [(subject: String, artifactType: String?)]
    /// Manifests in `repository` whose subject is `subject`, in digest order after `last`.
    func referrers(
        _ repository: RepositoryName, subject: Digest, artifactType: String?, after last: String?, limit: Int
    ) async throws -> Page<Descriptor>

    func createUpload(_ upload: UploadRecord) async throws
    func upload(_ id: UUID) async throws -> UploadRecord?
    /// Saves where an upload stands after a request (offset, store state, hash state).
    func saveUploadProgress(_ id: UUID, _ checkpoint: UploadCheckpoint, hashState: [UInt8]) async throws
    func deleteUpload(_ id: UUID) async throws
    /// Deletes, in one transaction, manifests last pushed before `cutoff` that no tag, index or
    /// present subject keeps (when `untaggedManifests`), then blobs last linked before `cutoff`
    /// that no manifest references. The caller removes the blob files. A dry run reports and
    /// changes nothing.
    func collectGarbage(before cutoff: Date, untaggedManifests: Bool, dryRun: Bool) async throws -> GarbageReport
    /// Records when manifests were last pulled (a pull-through cache's eviction order).
    func recordPulls(_ pulls: [ManifestPull]) async throws
    /// The images of repositories under `prefixes` (every repository for an empty prefix) that
    /// eviction may take, least recently used first: manifests no index of their repository lists
    /// and that are not a referrer of a manifest present.
    func evictionCandidates(under prefixes: [String], limit: Int) async throws -> [ManifestPull]
    /// Bytes of the distinct blobs visible in repositories under `prefixes`.
    func bytesLinked(under prefixes: [String]) async throws -> Int64
    /// Deletes an image whole in one transaction: the manifest, the children of an index that no
    /// other manifest of the repository lists, its referrers and cosign `sha256-<hex>.sig/.att/.sbom`
    /// tags, then the blobs they used that no manifest references any more and no repository
    /// outside `prefixes` holds (those are the collector's, whose grace protects pushes under way).
    /// The caller removes the blob files.
    func evict(_ repository: RepositoryName, _ digest: Digest, within prefixes: [String]) async throws -> GarbageReport
    /// Stores a UI session, first deleting those last seen before `expiredBefore` or created
    /// before `startedBefore`.
    func createSession(_ session: StoredSession, expiredBefore: Date, startedBefore: Date) async throws
    /// The session under `key` unless it expired (then it is deleted); its last-seen time is
    /// moved to `now` when older than `touchAfter`.
    func session(_ key: String, now: Date, expiredBefore: Date, startedBefore: Date, touchAfter: Date) async throws -> StoredSession?
    func deleteSession(_ key: String) async throws
    /// Queued webhook events per endpoint (endpoints with none are absent).
    func notificationBacklog() async throws -> [NotificationBacklog]
    /// Queues webhook events (`id` and `attempts` are ignored).
    func enqueueNotifications(_ events: [QueuedNotification]) async throws
    /// Events for `endpoint` whose next attempt is due, oldest first.
    func dueNotifications(endpoint: String, now: Date, limit: Int) async throws -> [QueuedNotification]
    /// Deletes delivered events, or (with `retryAt`) counts a failed attempt and defers them.
    func finishNotifications(_ ids: [Int64], retryAt: Date?) async throws
    /// Every blob row (for `garbage-collect --verify`).
    func allBlobs() async throws -> [StorageBlob]
    /// What the database's own consistency check finds (none: an empty list), for
    /// `garbage-collect --verify` after a crash.
    func integrityProblems() async throws -> [String]
    /// Everything `repository` holds, for copying it elsewhere; nil when it does not exist.
    func inventory(_ repository: RepositoryName) async throws -> RepositoryInventory?
    /// What the store holds: blobs, their bytes, and upload sessions open; also proves the
    /// database answers.
    func statistics() async throws -> StorageStatistics
    /// Upload sessions started before `date`, oldest first.
    func uploads(startedBefore date: Date) async throws -> [UploadRecord]
    /// Marks upload `id` as written by `holder` until `until`, unless another holder's mark has
    /// not run out by `now` (false then); renewing one's own mark succeeds, and so does claiming a
    /// session that no longer exists (the request then finds it unknown). Called only on shared
    /// stores; for the others the process's own set of sessions in use suffices.
    func claimUpload(_ id: UUID, holder: String, until: Date, now: Date) async throws -> Bool
    /// Clears `holder`'s mark on upload `id`.
    func releaseUpload(_ id: UUID, holder: String) async throws
    /// Ends an upload and records its blob as visible in the upload's repository, in one transaction.
    func finishUpload(_ id: UUID, repository: RepositoryName, digest: Digest, size: Int64) async throws
}

/// What one repository holds: its visible blobs, its manifests in the order they were pushed
/// (so an index comes after its children), and its tags with the manifest each names.
public struct RepositoryInventory: Sendable, Equatable {
    public let blobs: [StorageBlob]
    public let manifests: [Digest]
    public let tags: [String: Digest]
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
