import Foundation
import NIOCore
import OCI
import Synchronization

/// The distribution spec's operations over a `BlobStore` and a `MetadataStore`.
/// The HTTP layer translates requests into these calls and `RegistryError`s into spec errors.
public final class Registry: Sendable {
    public struct Options: Sendable {
        public var deleteEnabled = true
        public var readOnly = false
        public var maxManifestBytes = 4 * 1024 * 1024
        /// When false, a manifest may name blobs and child manifests not (yet) in the repository.
        public var requireReferences = true
        /// Deleting a manifest by digest also deletes its cosign signature tag (`sha256-<hex>.sig`).
        public var deleteSignatureTags = true
        public init() {}
    }

    public let blobs: any BlobStore
    public let metadata: any MetadataStore
    public let options: Options
    /// `options.readOnly`, switchable while serving (a configuration reload).
    private let readOnly: Atomic<Bool>

    /// Turns read-only mode on or off for the requests that follow.
    private let lastCollection = Mutex<(at: Date, report: GarbageReport)?>(nil)

    public func setReadOnly(_ on: Bool) { readOnly.store(on, ordering: .relaxed) }
    public var isReadOnly: Bool { readOnly.load(ordering: .relaxed) }
    private let sessions: UploadSessions
    private let cache = ReadCache()
    /// Held shared while a blob file and its row come into being (upload commit, mount) and
    /// exclusively while the collector deletes rows and then files, so a blob is never re-linked
    /// between the two. Commits do not exclude each other: two of one digest write the same
    /// bytes to the same name, and the store links each once.
    private let blobGate = BlobGate()

    /// `body` under the blob gate of this process and the store's blob lock across servers
    /// (shared for commits and mounts, exclusive for the collector).
    private func blobLocked<T: Sendable>(exclusive: Bool, _ body: @Sendable () async throws -> T) async throws -> T {
        try await blobGate.holding(exclusive: exclusive) { try await metadata.withBlobLock(exclusive: exclusive, body) }
    }

    public init(blobs: any BlobStore, metadata: any MetadataStore, options: Options) {
        self.blobs = blobs
        self.metadata = metadata
        self.options = options
        readOnly = Atomic(options.readOnly)
        sessions = UploadSessions(metadata: metadata)
    }

    /// Keeps the read cache true to changes other servers commit to a shared metadata store,
    /// until cancelled: caching is off until the feed listens and whenever it breaks (everything
    /// cached is then dropped). Returns at once for stores no other server shares.
    public func followChanges() async {
        guard let feed = metadata.changeFeed() else { return }
        cache.setEnabled(false)
        for await change in feed {
            switch change {
            case .listening: cache.setEnabled(true)
            case .repository(let name): cache.invalidate(name)
            case .lost: cache.setEnabled(false)
            }
        }
    }

    // MARK: blobs

    /// The size of a blob visible in `repository`.
    public func blobSize(_ repository: RepositoryName, _ digest: Digest) async throws -> Int64 {
        let key = ReadCache.Key(repository: repository.value, item: "blob \(digest)")
        let size = try await cache.value(key, cost: { _ in 8 }) { try await metadata.linkedBlobSize(repository, digest) }
        guard let size else { throw RegistryError.blobUnknown(digest) }
        return size
    }

    /// Opens a blob the caller has found visible (`blobSize`) for reading.
    public func openBlob(_ digest: Digest) async throws -> any BlobReader {
        do {
            return try await blobs.openBlob(digest)
        } catch {
            // Metadata says yes but the bytes are gone: report it as unknown rather than fail the server.
            throw RegistryError.blobUnknown(digest)
        }
    }

    /// Where a client may fetch a visible blob itself (a presigned object URL), when the store offers that.
    public func blobRedirect(_ digest: Digest) async throws -> String? {
        try await blobs.redirectURL(for: digest)
    }

    public func deleteBlob(_ repository: RepositoryName, _ digest: Digest) async throws {
        try checkDeletable()
        defer { cache.invalidate(repository.value) }
        guard try await metadata.unlinkBlob(repository, digest) else { throw RegistryError.blobUnknown(digest) }
    }

    /// Makes a blob from `source` (or, without a source, from any repository) visible in
    /// `repository`. Returns false when it cannot, so the caller starts a normal upload instead.
    public func mount(_ digest: Digest, into repository: RepositoryName, from source: RepositoryName?) async throws -> Bool {
        try checkWritable()
        if try await metadata.linkedBlobSize(repository, digest) != nil { return true }
        let linked = try await blobLocked(exclusive: false) { () async throws -> Bool in
            let origin: RepositoryName?
            if let source { origin = source } else { origin = try await metadata.anyRepositoryHolding(digest, excluding: repository) }
            guard let origin, let size = try await metadata.linkedBlobSize(origin, digest),
                try await blobs.size(of: digest) != nil
            else { return false }
            try await metadata.linkBlob(repository, digest, size: size)
            return true
        }
        if linked { cache.invalidate(repository.value) }
        return linked
    }

    // MARK: uploads

    public func startUpload(_ repository: RepositoryName, algorithm: Digest.Algorithm) async throws -> UploadRecord {
        try checkWritable()
        let id = UUID()
        // Created now (an upload file exists from the start); an empty upload has nothing to checkpoint.
        try await blobs.openUpload(id, resuming: nil).close()
        let record = UploadRecord(
            id: id, repository: repository, algorithm: algorithm, checkpoint: UploadCheckpoint(offset: 0),
            hashState: ResumableHasher(algorithm).state, startedAt: Date())
        try await metadata.createUpload(record)
        return record
    }

    public func uploadStatus(_ repository: RepositoryName, _ id: UUID) async throws -> UploadRecord {
        guard let record = try await metadata.upload(id), record.repository == repository else {
            throw RegistryError.uploadUnknown(id.uuidString)
        }
        return record
    }

    public func cancelUpload(_ repository: RepositoryName, _ id: UUID) async throws {
        let record = try await uploadStatus(repository, id)
        try await sessions.holding(id) {
            try await blobs.deleteUpload(id, record.checkpoint)
            try await metadata.deleteUpload(id)
        }
    }

    /// Online garbage collection: what nothing keeps and was last pushed more than `grace`
    /// ago goes, rows first (one transaction, serialised with pushes by SQLite) and then files,
    /// under the gate that uploads and mounts take. Nothing happens in read-only mode.
    public func collectGarbage(grace: TimeInterval, untaggedManifests: Bool = true, dryRun: Bool = false, now: Date = Date()) async throws
        -> GarbageReport
    {
        guard !isReadOnly else { return GarbageReport(manifests: 0, blobs: [], repositories: []) }
        let report = try await blobLocked(exclusive: true) {
            let report = try await metadata.collectGarbage(
                before: now.addingTimeInterval(-grace), untaggedManifests: untaggedManifests, dryRun: dryRun)
            if !dryRun { for blob in report.blobs { try await blobs.deleteBlob(blob.digest) } }
            return report
        }
        for repository in report.repositories { cache.invalidate(repository) }
        if !dryRun { lastCollection.withLock { $0 = (now, report) } }
        return report
    }

    /// When this process last collected garbage, and what went (nil: not since it started).
    public var lastGarbageCollection: (at: Date, report: GarbageReport)? { lastCollection.withLock { $0 } }

    // MARK: pull-through cache

    /// Notes when manifests were pulled, for `evictionCandidates`.
    public func recordPulls(_ pulls: [ManifestPull]) async throws { try await metadata.recordPulls(pulls) }

    /// Images under `prefixes`, least recently pulled first (see `MetadataStore.evictionCandidates`).
    public func evictionCandidates(under prefixes: [String], limit: Int) async throws -> [ManifestPull] {
        try await metadata.evictionCandidates(under: prefixes, limit: limit)
    }

    public func bytesLinked(under prefixes: [String]) async throws -> Int64 { try await metadata.bytesLinked(under: prefixes) }

    /// Deletes a cached image whole, and the blob files nothing else uses, as the collector does
    /// (rows first, then files, under the gate uploads and mounts take).
    public func evict(_ repository: RepositoryName, _ digest: Digest, within prefixes: [String]) async throws -> GarbageReport {
        try checkWritable()
        defer { cache.invalidate(repository.value) }
        return try await blobLocked(exclusive: true) {
            let report = try await metadata.evict(repository, digest, within: prefixes)
            for blob in report.blobs { try await blobs.deleteBlob(blob.digest) }
            return report
        }
    }

    /// Every stored blob whose bytes no longer hash to its digest (or whose file is missing).
    /// What the metadata database's consistency check finds.
    public func metadataProblems() async throws -> [String] { try await metadata.integrityProblems() }

    public func verifyBlobs() async throws -> [Digest] {
        var corrupt: [Digest] = []
        for blob in try await metadata.allBlobs() {
            var hasher = blob.digest.algorithm.hasher()
            do {
                let reader = try await blobs.openBlob(blob.digest)
                defer { reader.close() }
                var offset: Int64 = 0
                for try await chunk in try await reader.bytes(0..<reader.size) {
                    chunk.withUnsafeReadableBytes { hasher.update($0) }
                    offset += Int64(chunk.readableBytes)
                }
                if hasher.finalize() != blob.digest || offset != blob.size { corrupt.append(blob.digest) }
            } catch {
                corrupt.append(blob.digest)
            }
        }
        return corrupt
    }

    public func statistics() async throws -> StorageStatistics { try await metadata.statistics() }

    /// Whether blobs can be written: something is created and removed where uploads go.
    public func probeStorage() async throws { try await blobs.probeWritable() }

    /// Deletes upload sessions started more than `age` ago, and upload files no session owns
    /// that have not changed for as long (`storage.maintenance.uploadpurging`, as distribution).
    /// A session a request is using right now is left for the next round. Returns what was
    /// (or, with `dryRun`, would be) deleted.
    public func purgeUploads(olderThan age: TimeInterval, dryRun: Bool = false, now: Date = Date()) async throws -> [UUID] {
        let cutoff = now.addingTimeInterval(-age)
        var purged: [UUID] = []
        for record in try await metadata.uploads(startedBefore: cutoff) {
            if dryRun {
                purged.append(record.id)
                continue
            }
            do {
                try await sessions.holding(record.id) {
                    try await blobs.deleteUpload(record.id, record.checkpoint)
                    try await metadata.deleteUpload(record.id)
                }
            } catch RegistryError.uploadBusy {
                continue
            }
            purged.append(record.id)
        }
        for (id, modified) in try await blobs.uploadFiles() where modified < cutoff && !purged.contains(id) {
            guard try await metadata.upload(id) == nil else { continue }
            if !dryRun { try await blobs.deleteUpload(id, nil) }
            purged.append(id)
        }
        return purged
    }

    /// Appends a chunk. `start` is the chunk's first byte when the client sent `Content-Range`;
    /// `length` the byte count it declared. Returns the new size of the upload. A request that
    /// fails leaves the upload as the last successful one did.
    public func appendChunk(
        _ repository: RepositoryName, _ id: UUID, start: Int64?, length: Int64?,
        body: some AsyncSequence<ByteBuffer, any Error>
    ) async throws -> Int64 {
        try checkWritable()
        let record = try await uploadStatus(repository, id)
        return try await sessions.holding(id) {
            var (hasher, writer) = try await resume(record)
            do {
                let received = try await append(writer, &hasher, start: start, length: length, body: body)
                if received > 0 {
                    try await metadata.saveUploadProgress(id, try await writer.checkpoint(), hashState: hasher.state)
                }
                await writer.close()
                return writer.offset
            } catch {
                await writer.close()
                throw error
            }
        }
    }

    /// Closes an upload with its optional last chunk, checks `digest` and stores the blob.
    public func finishUpload(
        _ repository: RepositoryName, _ id: UUID, digest: Digest, start: Int64?, length: Int64?,
        body: some AsyncSequence<ByteBuffer, any Error>
    ) async throws -> Int64 {
        try checkWritable()
        let record = try await uploadStatus(repository, id)
        return try await sessions.holding(id) {
            var (hasher, writer) = try await resume(record)
            do {
                _ = try await append(writer, &hasher, start: start, length: length, body: body)
                return try await commit(writer, hasher, id: id, repository: repository, digest: digest)
            } catch RegistryError.digestInvalid(let detail) {
                // distribution drops an upload whose digest does not match; the client starts over.
                await writer.discard()
                try? await metadata.deleteUpload(id)
                throw RegistryError.digestInvalid(detail)
            } catch {
                await writer.close()
                throw error
            }
        }
    }

    /// A whole blob in one request (`POST ?digest=`). No session row is written: it ends in this request.
    public func putBlob(
        _ repository: RepositoryName, digest: Digest, length: Int64?, body: some AsyncSequence<ByteBuffer, any Error>
    ) async throws -> Int64 {
        try checkWritable()
        let id = UUID()
        var hasher = ResumableHasher(digest.algorithm)
        let writer = try await blobs.openUpload(id, resuming: nil)
        do {
            _ = try await append(writer, &hasher, start: nil, length: length, body: body)
            return try await commit(writer, hasher, id: id, repository: repository, digest: digest)
        } catch {
            await writer.discard()
            throw error
        }
    }

    /// A blob whose first `size` bytes the caller holds in a local file and has verified to be
    /// `digest` (a pull-through cache hashes its download as it spools it): copied into the store
    /// as an upload, with no second hash, and linked into `repository`.
    public func putVerifiedFile(_ repository: RepositoryName, digest: Digest, size: Int64, descriptor: Int32) async throws {
        try checkWritable()
        let file = try FileBlobReader(duplicating: descriptor, size: size, naming: "the file of \(digest)")
        defer { file.close() }
        let id = UUID()
        let writer = try await blobs.openUpload(id, resuming: nil)
        do {
            for try await piece in FileChunks(reader: file, range: 0..<size) { try await writer.write(piece) }
            try await install(writer, id: id, as: digest, size: size, in: repository)
        } catch {
            await writer.discard()
            throw error
        }
    }

    /// Makes a verified upload the blob `digest` and links it into `repository`.
    private func install(_ writer: any UploadWriter, id: UUID, as digest: Digest, size: Int64, in repository: RepositoryName) async throws {
        try await blobLocked(exclusive: false) {
            try await writer.commit(as: digest)
            try await metadata.finishUpload(id, repository: repository, digest: digest, size: size)
        }
        cache.invalidate(repository.value)
    }

    /// An upload as its last successful request left it: the running hash, restored from its
    /// saved state (or, for sessions saved before states were kept, rebuilt from the bytes), and
    /// the store's writer reopened at the checkpoint.
    private func resume(_ record: UploadRecord) async throws -> (ResumableHasher, any UploadWriter) {
        var hasher: ResumableHasher
        if let state = record.hashState, let restored = ResumableHasher(record.algorithm, state: state) {
            hasher = restored
        } else {
            hasher = ResumableHasher(record.algorithm)
            try await blobs.readUpload(record.id, record.checkpoint) { hasher.update($0) }
        }
        return (hasher, try await blobs.openUpload(record.id, resuming: record.checkpoint))
    }

    /// Streams `body` into the upload while hashing it; returns the byte count.
    private func append(
        _ writer: any UploadWriter, _ hasher: inout ResumableHasher, start: Int64?, length: Int64?,
        body: some AsyncSequence<ByteBuffer, any Error>
    ) async throws -> Int64 {
        if let start, start != writer.offset {
            throw RegistryError.rangeInvalid(
                offset: writer.offset, detail: "chunk starts at \(start) but the upload has \(writer.offset) bytes")
        }
        var check = BodyCheck(declared: length)
        for try await buffer in body {
            try check.count(buffer)
            buffer.withUnsafeReadableBytes { hasher.update($0) }
            try await writer.write(buffer)
        }
        try check.finish()
        return check.received
    }

    private func commit(
        _ writer: any UploadWriter, _ hasher: ResumableHasher, id: UUID, repository: RepositoryName, digest: Digest
    ) async throws -> Int64 {
        let actual: Digest
        if hasher.algorithm == digest.algorithm {
            actual = hasher.finalize()
        } else {
            // The client names another algorithm than the session was started with: hash once more.
            let checkpoint = try await writer.checkpoint()
            var other = ResumableHasher(digest.algorithm)
            try await blobs.readUpload(id, checkpoint) { other.update($0) }
            actual = other.finalize()
        }
        try BodyCheck.check(actual, is: digest)
        let size = writer.offset
        try await install(writer, id: id, as: digest, size: size, in: repository)
        return size
    }

    // MARK: manifests

    public func manifest(_ repository: RepositoryName, _ reference: ManifestReference) async throws -> StoredManifest {
        let key = ReadCache.Key(repository: repository.value, item: "manifest \(reference)")
        let found = try await cache.value(key, cost: { $0?.payload.count ?? 0 }) { try await metadata.manifest(repository, reference) }
        guard let manifest = found else {
            throw RegistryError.manifestUnknown(reference.description)
        }
        return manifest
    }

    public struct PushedManifest: Sendable {
        public let digest: Digest
        public let subject: Digest?
        public let tags: [Tag]
    }

    /// Validates and stores a manifest under `reference`, plus `extraTags` (the `?tag=` parameters).
    public func putManifest(
        _ repository: RepositoryName, _ reference: ManifestReference, contentType: String?, body: [UInt8], extraTags: [Tag]
    ) async throws -> PushedManifest {
        try await storeManifest(
            repository, reference, contentType: contentType, body: body, extraTags: extraTags, checkReferences: options.requireReferences)
    }

    /// Stores a manifest a pull-through cache fetched from its upstream: validated as a push is,
    /// but what it names is fetched later, on demand (the references are recorded for the collector).
    public func putMirroredManifest(
        _ repository: RepositoryName, _ reference: ManifestReference, contentType: String?, body: [UInt8]
    ) async throws -> PushedManifest {
        try await storeManifest(repository, reference, contentType: contentType, body: body, extraTags: [], checkReferences: false)
    }

    private func storeManifest(
        _ repository: RepositoryName, _ reference: ManifestReference, contentType: String?, body: [UInt8], extraTags: [Tag],
        checkReferences: Bool
    ) async throws -> PushedManifest {
        try checkWritable()
        guard body.count <= options.maxManifestBytes else { throw RegistryError.manifestTooLarge(limit: options.maxManifestBytes) }
        let summary: ManifestSummary
        do {
            summary = try ManifestSummary(parsing: body, contentType: contentType)
        } catch {
            throw RegistryError.manifestInvalid(error.description)
        }
        var tags = extraTags
        let digest: Digest
        switch reference {
        case .digest(let expected):
            digest = Digest.of(body, algorithm: expected.algorithm)
            guard digest == expected else {
                throw RegistryError.digestInvalid("manifest digest is \(digest), not \(expected)")
            }
        case .tag(let tag):
            digest = Digest.of(body)
            tags.insert(tag, at: 0)
        }
        let requiredBlobs: [Digest]
        let requiredManifests: [Digest]
        switch summary.kind {
        case .image(let config, let layers):
            requiredBlobs = ([config] + layers)
                .filter { !MediaType.isNonDistributable($0.mediaType) && ($0.urls ?? []).isEmpty }
                .map(\.digest)
            requiredManifests = []
        case .index(let manifests):
            requiredBlobs = []
            requiredManifests = manifests.map(\.digest)
        }
        let record = ManifestRecord(
            digest: digest, summary: summary, payload: body, requiredBlobs: Array(Set(requiredBlobs)),
            requiredManifests: Array(Set(requiredManifests)), checkReferences: checkReferences)
        defer { cache.invalidate(repository.value) }
        try await metadata.putManifest(repository, record, tags: tags)
        return PushedManifest(digest: digest, subject: summary.subject?.digest, tags: tags)
    }

    public func deleteManifest(_ repository: RepositoryName, _ reference: ManifestReference) async throws {
        try checkDeletable()
        defer { cache.invalidate(repository.value) }
        let deleted: Bool
        switch reference {
        case .digest(let digest): deleted = try await metadata.deleteManifest(repository, digest)
        case .tag(let tag): deleted = try await metadata.deleteTag(repository, tag)
        }
        guard deleted else { throw RegistryError.manifestUnknown(reference.description) }
        if case .digest(let digest) = reference, options.deleteSignatureTags,
            let tag = try? Tag(parsing: "\(digest.algorithm.rawValue)-\(digest.encoded).sig"),
            let signatures = try await metadata.manifest(repository, .tag(tag))
        {
            _ = try await metadata.deleteManifest(repository, signatures.digest)
        }
    }

    // MARK: signatures (the extension API skopeo and containers/image use when `/v2/` announces it)

    public func signatures(_ repository: RepositoryName, _ digest: Digest) async throws -> [StoredSignature] {
        guard let found = try await metadata.signatures(repository, digest) else { throw RegistryError.manifestUnknown(digest.description) }
        return found
    }

    /// Stores one signature for a manifest of this repository. Its name must be
    /// `<manifest digest>@<1–64 letters or digits>`, as containers/image makes them.
    public func addSignature(_ repository: RepositoryName, _ digest: Digest, _ signature: StoredSignature) async throws {
        try checkWritable()
        let prefix = "\(digest)@"
        let suffix = signature.name.dropFirst(prefix.count)
        guard signature.name.hasPrefix(prefix), (1...64).contains(suffix.count), suffix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else { throw RegistryError.signatureInvalid("name must be \(prefix)<id>") }
        guard !signature.content.isEmpty, signature.content.count <= Self.maxSignatureBytes else {
            throw RegistryError.signatureInvalid("content must be 1 to \(Self.maxSignatureBytes) bytes")
        }
        guard try await metadata.addSignature(repository, digest, signature) else { throw RegistryError.manifestUnknown(digest.description) }
    }

    public static let maxSignatureBytes = 256 << 10

    // MARK: listings

    /// A page of tags, rendered as the `tags/list` body; cached until the repository changes.
    public struct TagPage: Sendable {
        public let json: [UInt8]
        public let hasMore: Bool
        /// The page's last tag, for the `Link` to the next page.
        public let last: String?

        /// A page of `tags` (in the spec's lexical order) after `last`, at most `limit` long.
        public init(_ repository: RepositoryName, tags: [String], after last: String?, limit: Int?) {
            let page = Page(prefixOf: tags.sorted().filter { last == nil || $0 > last! }, limit: limit)
            self.init(json: ListingJSON.tags(repository, page.items), hasMore: page.hasMore, last: page.items.last)
        }

        init(json: [UInt8], hasMore: Bool, last: String?) {
            self.json = json
            self.hasMore = hasMore
            self.last = last
        }
    }

    public func tags(_ repository: RepositoryName, after last: String?, limit: Int?) async throws -> TagPage {
        let key = ReadCache.Key(repository: repository.value, item: "tags \(last ?? "") \(limit ?? -1)")
        let found = try await cache.value(key, cost: { $0?.json.count ?? 0 }) { () async throws -> TagPage? in
            guard let page = try await metadata.tags(repository, after: last, limit: limit) else { return nil }
            return TagPage(json: ListingJSON.tags(repository, page.items), hasMore: page.hasMore, last: page.items.last)
        }
        guard let page = found else { throw RegistryError.nameUnknown(repository) }
        return page
    }

    public func catalog(after last: String?, limit: Int) async throws -> Page<String> {
        try await metadata.repositories(after: last, limit: limit)
    }

    /// Every repository with its totals (a browsing interface's list).
    /// Cached until anything changes: the query visits every repository.
    public func repositorySummaries() async throws -> [RepositorySummary] {
        try await cache.overallValue { try await metadata.repositorySummaries() }
    }

    /// A repository's tags with their manifests, in one read.
    public func tagDetails(_ repository: RepositoryName) async throws -> [TagDetail] {
        guard let tags = try await metadata.tagDetails(repository) else { throw RegistryError.nameUnknown(repository) }
        return tags
    }

    // MARK: web-interface sessions (in the metadata store, so every replica knows them)

    public func createSession(_ session: StoredSession, expiredBefore: Date, startedBefore: Date) async throws {
        try await metadata.createSession(session, expiredBefore: expiredBefore, startedBefore: startedBefore)
    }

    public func session(_ key: String, now: Date, expiredBefore: Date, startedBefore: Date, touchAfter: Date) async throws -> StoredSession? {
        try await metadata.session(key, now: now, expiredBefore: expiredBefore, startedBefore: startedBefore, touchAfter: touchAfter)
    }

    public func deleteSession(_ key: String) async throws { try await metadata.deleteSession(key) }

    /// Webhook events waiting, per endpoint.
    public func notificationBacklog() async throws -> [NotificationBacklog] { try await metadata.notificationBacklog() }

    /// Tags, digest prefixes and annotations matching `term` (the UI's search).
    public func search(_ term: String, digestPrefix: String?, limit: Int) async throws -> [SearchHit] {
        try await metadata.search(term, digestPrefix: digestPrefix, limit: limit)
    }

    /// Each referrer's subject and artifact type in `repository`, in one read.
    public func referrerTypes(_ repository: RepositoryName) async throws -> [(subject: String, artifactType: String?)] {
        try await metadata.referrerTypes(repository)
    }

    public func referrers(
        _ repository: RepositoryName, subject: Digest, artifactType: String?, after last: String?, limit: Int
    ) async throws -> Page<Descriptor> {
        try await metadata.referrers(repository, subject: subject, artifactType: artifactType, after: last, limit: limit)
    }

    // MARK: policy

    private func checkWritable() throws {
        if readOnly.load(ordering: .relaxed) { throw RegistryError.unsupported("the registry is in read-only mode") }
    }

    private func checkDeletable() throws {
        try checkWritable()
        if !options.deleteEnabled { throw RegistryError.unsupported("deletion is disabled (storage.delete.enabled)") }
    }
}

/// Upload sessions a request is working on: a second request for the same session — in this
/// process, or on another server sharing the metadata — is refused rather than interleaved.
/// Everything else about a session is in the metadata store, so any request (or replica) can
/// continue it once the first is done.
final class UploadSessions: Sendable {
    /// How long a server's mark on a session lasts unless renewed: a crashed server's sessions
    /// can be continued elsewhere after this. Renewed every third of it while the request runs.
    static let markLifetime: Duration = .seconds(30)

    private let busy = Mutex<Set<UUID>>([])
    private let metadata: any MetadataStore

    init(metadata: any MetadataStore) { self.metadata = metadata }

    /// Runs `body` holding session `id`; throws `uploadBusy` when another request holds it.
    func holding<T: Sendable>(_ id: UUID, _ body: () async throws -> T) async throws -> T {
        let claimed = busy.withLock { $0.insert(id).inserted }
        guard claimed else { throw RegistryError.uploadBusy }
        defer { _ = busy.withLock { $0.remove(id) } }
        // No other server: nothing to mark, no renewal task per request.
        guard metadata.isShared else { return try await body() }
        let holder = UUID().uuidString
        guard try await mark(id, holder) else { throw RegistryError.uploadBusy }
        let renewal = Task { [metadata] in
            while !Task.isCancelled {
                try await Task.sleep(for: Self.markLifetime / 3)
                _ = try await metadata.claimUpload(id, holder: holder, until: Date().addingTimeInterval(Self.seconds(Self.markLifetime)), now: Date())
            }
        }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        // The renewal ends before the release: a renewal still in flight would otherwise mark the
        // session again after it, and the client's next request would be refused for 30 s.
        renewal.cancel()
        _ = await renewal.result
        // A mark left behind (the database gone meanwhile) runs out by itself.
        try? await metadata.releaseUpload(id, holder: holder)
        return try result.get()
    }

    private func mark(_ id: UUID, _ holder: String) async throws -> Bool {
        let now = Date()
        return try await metadata.claimUpload(id, holder: holder, until: now.addingTimeInterval(Self.seconds(Self.markLifetime)), now: now)
    }

    private static func seconds(_ duration: Duration) -> TimeInterval { Double(duration.components.seconds) }
}

/// A shared/exclusive lock for async code: commits and mounts hold it together, the collector
/// alone. Waiters enter in arrival order, so a collector waiting holds back the commits that
/// arrive after it and is never starved by a steady stream of them.
actor BlobGate {
    private var shared = 0
    private var exclusive = false
    private var waiters: [(exclusive: Bool, continuation: CheckedContinuation<Void, Never>)] = []

    func holding<T: Sendable>(exclusive wanted: Bool, _ body: @Sendable () async throws -> T) async rethrows -> T {
        if waiters.isEmpty, admits(wanted) {
            enter(wanted)
        } else {
            // `admitWaiters` enters on the waiter's behalf before resuming it.
            await withCheckedContinuation { waiters.append((wanted, $0)) }
        }
        defer { leave(wanted) }
        return try await body()
    }

    /// How many wait to enter (the tests' way to know a waiter has arrived).
    var queued: Int { waiters.count }

    private func admits(_ wanted: Bool) -> Bool { wanted ? !exclusive && shared == 0 : !exclusive }

    private func enter(_ wanted: Bool) {
        if wanted { exclusive = true } else { shared += 1 }
    }

    private func leave(_ wanted: Bool) {
        if wanted { exclusive = false } else { shared -= 1 }
        while let first = waiters.first, admits(first.exclusive) {
            waiters.removeFirst()
            enter(first.exclusive)
            first.continuation.resume()
        }
    }
}
