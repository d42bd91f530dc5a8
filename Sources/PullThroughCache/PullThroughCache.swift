// PullThroughCache: berth serve as a cache of upstream registries. Owns which repositories are
// cached, fetching from upstreams (coalesced, streamed, verified), serving stale content when an
// upstream fails, the rate-limit circuit, remembered 404s and eviction under a size cap; storage
// is the Registry's, HTTP serving is RegistryServer's.

import Foundation
import Logging
import NIOCore
import OCI
import RegistryClient
import RegistryStorage
import Synchronization

/// `berth serve` as a pull-through cache: the repositories under an upstream's prefix (or named
/// by `?ns=`) are filled from that upstream on demand and then served from the registry's own
/// stores, whichever backend they are. Digests are never asked for twice; a tag is re-checked
/// with one HEAD at most once per `tagrecheck`; one fetch serves every concurrent client; cached
/// content is served when the upstream is down, failing or rate limiting.
public final class PullThroughCache: Sendable {
    let registry: Registry
    let settings: CacheSettings
    private let upstreams: [Upstream]
    let observer: any CacheObserver
    let logger: Logger
    private let manifestFetches = Coalescer<StoredManifest>()
    private let tagChecks = Coalescer<Digest>()
    private let fills = Mutex<[Digest: BlobFill]>([:])
    /// Manifests served since pull times were last saved, by repository and digest.
    let pulls = Mutex<[String: ManifestPull]>([:])

    public init(settings: CacheSettings, registry: Registry, observer: any CacheObserver, logger: Logger) throws {
        self.registry = registry
        self.settings = settings
        self.observer = observer
        self.logger = logger
        try FileManager.default.createDirectory(atPath: settings.spoolDirectory, withIntermediateDirectories: true)
        // Longest prefix first, so `docker.io/library` wins over `docker.io` and both over "".
        upstreams = try settings.upstreams.sorted { $0.prefix.count > $1.prefix.count }
            .map { try Upstream($0, cache: settings, observer: observer) }
    }

    /// A repository of the cache: its name here and at its upstream.
    public struct Repository: Sendable {
        public let local: RepositoryName
        public let remote: RepositoryName
        /// The `ns` the request named, echoed as `OCI-Namespace` (the spec's proxying section).
        public let namespace: String?
        let upstream: Upstream
        public var prefix: String { upstream.settings.prefix }
    }

    /// The cached repository a request names, or nil for an ordinary repository of this registry.
    /// `?ns=` (containerd sends the source host) selects the upstream whose prefix or host it names.
    public func repository(_ name: RepositoryName, namespace: String?) -> Repository? {
        if let namespace, !namespace.isEmpty,
            let upstream = upstreams.first(where: { !$0.settings.prefix.isEmpty && ($0.settings.prefix == namespace || $0.name == namespace) })
        {
            if let remote = Self.remote(name, under: upstream.settings.prefix) {
                return Repository(local: name, remote: remote, namespace: namespace, upstream: upstream)
            }
            if let local = try? RepositoryName(parsing: "\(upstream.settings.prefix)/\(name)") {
                return Repository(local: local, remote: name, namespace: namespace, upstream: upstream)
            }
        }
        for upstream in upstreams {
            if let remote = Self.remote(name, under: upstream.settings.prefix) {
                return Repository(local: name, remote: remote, namespace: nil, upstream: upstream)
            }
        }
        return nil
    }

    /// `name` without `prefix/` (all of it for an empty prefix), or nil when it is not under it.
    private static func remote(_ name: RepositoryName, under prefix: String) -> RepositoryName? {
        if prefix.isEmpty { return name }
        guard name.value.hasPrefix(prefix + "/") else { return nil }
        return try? RepositoryName(parsing: String(name.value.dropFirst(prefix.count + 1)))
    }

    // MARK: manifests

    public func manifest(_ repository: Repository, _ reference: ManifestReference) async throws -> StoredManifest {
        let manifest = try await lookUp(repository, reference)
        notePull(repository.local, manifest.digest)
        return manifest
    }

    private func lookUp(_ repository: Repository, _ reference: ManifestReference) async throws -> StoredManifest {
        let upstream = repository.upstream
        let key = "\(repository.remote)@\(reference)"
        if upstream.isKnownMissing(key) {
            observer.negativeHit()
            throw CacheError.manifestNotFound(upstream: upstream.name, reference: key)
        }
        let local = try await stored(repository.local, reference)
        guard case .tag(let tag) = reference else {
            if let local {
                observer.lookup(kind: .manifest, hit: true)
                return local
            }
            observer.lookup(kind: .manifest, hit: false)
            return try await fetchManifest(repository, reference, tag: nil)
        }
        guard let local else {
            observer.lookup(kind: .manifest, hit: false)
            return try await fetchManifest(repository, reference, tag: tag)
        }
        if upstream.isFresh(key) {
            observer.lookup(kind: .manifest, hit: true)
            return local
        }
        let current: Digest
        do {
            // One HEAD, shared by every pull of the tag that arrives while it is out; a failed
            // HEAD is never repeated as a GET (Docker Hub counts GETs).
            current = try await tagChecks.value("\(upstream.name) \(key)", joined: { observer.coalesced(kind: .manifest) }) {
                try await upstream.request {
                    guard let found = try await upstream.client.manifestDescriptor(repository.remote, reference) else { throw Upstream.NotFound() }
                    return found.digest
                }
            }
        } catch is Upstream.NotFound {
            upstream.rememberMissing(key)
            throw CacheError.manifestNotFound(upstream: upstream.name, reference: key)
        } catch let error as CacheError {
            observer.staleServed(kind: .manifest)
            logger.warning("serving cached \(repository.local):\(tag) (\(local.digest)): \(error)")
            return local
        }
        upstream.markChecked(key)
        if current == local.digest {
            observer.lookup(kind: .manifest, hit: true)
            return local
        }
        observer.lookup(kind: .manifest, hit: false)
        return try await fetchManifest(repository, .digest(current), tag: tag)
    }

    /// The manifest fetched once however many ask at the same time, stored (under `tag` too), returned.
    private func fetchManifest(_ repository: Repository, _ reference: ManifestReference, tag: Tag?) async throws -> StoredManifest {
        let upstream = repository.upstream
        let registry = self.registry
        let key = "\(upstream.name) \(repository.local)@\(reference) \(tag?.value ?? "")"
        return try await manifestFetches.value(key, joined: { observer.coalesced(kind: .manifest) }) { [self] in
            // Someone may have stored it between our look and this fetch starting.
            if tag == nil, let stored = try await stored(repository.local, reference) { return stored }
            let fetched: RegistryClient.FetchedManifest
            do {
                fetched = try await upstream.request { try await upstream.client.manifest(repository.remote, reference) }
            } catch is Upstream.NotFound {
                let missing = "\(repository.remote)@\(tag.map { ManifestReference.tag($0) } ?? reference)"
                upstream.rememberMissing(missing)
                throw CacheError.manifestNotFound(upstream: upstream.name, reference: missing)
            }
            _ = try await registry.putMirroredManifest(
                repository.local, tag.map { .tag($0) } ?? .digest(fetched.digest), contentType: fetched.mediaType, body: fetched.bytes)
            if let tag { upstream.markChecked("\(repository.remote)@\(ManifestReference.tag(tag))") }
            return StoredManifest(digest: fetched.digest, mediaType: fetched.mediaType, payload: fetched.bytes)
        }
    }

    private func stored(_ repository: RepositoryName, _ reference: ManifestReference) async throws -> StoredManifest? {
        do { return try await registry.manifest(repository, reference) } catch RegistryError.manifestUnknown { return nil }
    }

    // MARK: blobs

    /// A blob as the cache can answer for it.
    public enum Blob: Sendable {
        /// In the store and visible in the repository: served as any stored blob.
        case stored(size: Int64)
        /// Only the upstream has it (the answer to a HEAD, which downloads nothing).
        case upstream(size: Int64)
        /// On its way from the upstream; stream it from the download.
        case downloading(BlobDownload)
    }

    public func blob(_ repository: Repository, _ digest: Digest, head: Bool) async throws -> Blob {
        let upstream = repository.upstream
        if let size = try await linkedSize(repository.local, digest) {
            observer.lookup(kind: .blob, hit: true)
            return .stored(size: size)
        }
        // Stored for another repository: linked here once the upstream confirms this repository
        // has it, so a digest alone never opens content pushed to a repository the client may not read.
        let elsewhere = try await registry.metadata.anyRepositoryHolding(digest, excluding: repository.local) != nil
        if head || elsewhere {
            let size: Int64
            do {
                size = try await upstream.request {
                    guard let size = try await upstream.client.blobSize(repository.remote, digest) else { throw Upstream.NotFound() }
                    return size
                }
            } catch is Upstream.NotFound {
                throw CacheError.blobNotFound(upstream: upstream.name, digest: digest)
            }
            if elsewhere, try await registry.mount(digest, into: repository.local, from: nil), let linked = try await linkedSize(repository.local, digest) {
                observer.lookup(kind: .blob, hit: true)
                return .stored(size: linked)
            }
            if head { return .upstream(size: size) }
        }
        observer.lookup(kind: .blob, hit: false)
        let fill = try join(repository, digest)
        var current = fill.snapshot()
        while !current.started, current.failure == nil { current = await fill.wait(after: current.version) }
        if let failure = current.failure { throw failure }
        return .downloading(BlobDownload(fill: fill, length: current.length, repository: repository.local, registry: registry))
    }

    /// Blob downloads still under way: clients may have every byte while the store still commits.
    public var downloadsUnderWay: Int { fills.withLock { $0.count } }

    private func linkedSize(_ repository: RepositoryName, _ digest: Digest) async throws -> Int64? {
        do { return try await registry.blobSize(repository, digest) } catch RegistryError.blobUnknown { return nil }
    }

    /// The download of `digest` under way, or a new one.
    private func join(_ repository: Repository, _ digest: Digest) throws -> BlobFill {
        let (fill, started) = try fills.withLock { fills -> (BlobFill, Bool) in
            if let fill = fills[digest] { return (fill, false) }
            let fill = try BlobFill(digest: digest, spoolDirectory: settings.spoolDirectory)
            fills[digest] = fill
            return (fill, true)
        }
        if started {
            // Not a child of the request: the download outlives a client that leaves.
            Task { await download(fill, repository) }
        } else {
            observer.coalesced(kind: .blob)
        }
        return fill
    }

    private func download(_ fill: BlobFill, _ repository: Repository) async {
        let upstream = repository.upstream
        do {
            // A request that looked for the blob just before the previous download committed it
            // and joined just after that download left `fills` starts a new one: it takes the
            // stored copy instead of fetching the blob from the upstream a second time.
            if try await fillFromStore(fill, repository.local) {
                fills.withLock { fills in
                    if fills[fill.digest] === fill { fills[fill.digest] = nil }
                }
                return
            }
            let body: ResumingBlobBody
            do {
                body = try await upstream.request { try await upstream.client.unverifiedBlob(repository.remote, fill.digest) }
            } catch is Upstream.NotFound {
                throw CacheError.blobNotFound(upstream: upstream.name, digest: fill.digest)
            }
            fill.start(length: body.declaredLength)
            let size = try await spoolVerified(body, into: fill, from: upstream)
            // Clients have their last byte now; the store's sync and commit are not theirs to wait for.
            fill.verified()
            try await registry.putVerifiedFile(repository.local, digest: fill.digest, size: size, descriptor: fill.descriptor)
        } catch {
            logger.warning("fetching \(fill.digest) for \(repository.local) from \(upstream.name): \(error)")
            fill.fail(error)
        }
        fills.withLock { fills in
            if fills[fill.digest] === fill { fills[fill.digest] = nil }
        }
    }

    /// Hashes and spools the upstream's body as it arrives (the hash is the only one: the store
    /// takes the spool as verified); returns its size once it matches the digest and the
    /// declared length, and throws otherwise.
    private func spoolVerified(_ body: ResumingBlobBody, into fill: BlobFill, from upstream: Upstream) async throws -> Int64 {
        var check = BodyCheck(declared: body.declaredLength)
        var hasher = ResumableHasher(fill.digest.algorithm)
        do {
            for try await piece in body {
                try check.count(piece)
                piece.withUnsafeReadableBytes { hasher.update($0) }
                try fill.spool(piece)
                observer.upstreamBytes(upstream: upstream.name, Int64(piece.readableBytes))
            }
            try check.finish()
            try BodyCheck.check(hasher.finalize(), is: fill.digest)
        } catch let error as RegistryError {
            throw CacheError.upstreamUnavailable(upstream: upstream.name, reason: "sent a body that does not match: \(error.description)")
        }
        return check.received
    }

    /// Spools the stored blob for the clients of `fill`, when the store has it; false if not.
    private func fillFromStore(_ fill: BlobFill, _ repository: RepositoryName) async throws -> Bool {
        guard let size = try await linkedSize(repository, fill.digest) else { return false }
        let reader = try await registry.openBlob(fill.digest)
        defer { reader.close() }
        fill.start(length: size)
        for try await piece in try await reader.bytes(0..<size) { try fill.spool(piece) }
        fill.verified()
        return true
    }

    // MARK: listings

    /// The upstream's tags (the cache's own when the upstream cannot answer).
    public func tags(_ repository: Repository, after last: String?, limit: Int?) async throws -> Registry.TagPage {
        let upstream = repository.upstream
        do {
            let tags = try await upstream.request { try await upstream.client.tags(repository.remote) }
            return Registry.TagPage(repository.local, tags: tags, after: last, limit: limit)
        } catch is Upstream.NotFound {
            throw RegistryError.nameUnknown(repository.local)
        } catch let error as CacheError {
            do {
                let page = try await registry.tags(repository.local, after: last, limit: limit)
                observer.staleServed(kind: .tags)
                return page
            } catch RegistryError.nameUnknown {
                throw error
            }
        }
    }

    /// The upstream's referrers of `digest` (from its referrers API or its `sha256-<hex>` tag);
    /// the cache's own when the upstream cannot answer.
    public func referrers(_ repository: Repository, _ digest: Digest, artifactType: String?) async throws -> [Descriptor] {
        let upstream = repository.upstream
        do {
            let all = try await upstream.request { try await upstream.client.referrers(repository.remote, digest) }
            return all.filter { artifactType == nil || $0.artifactType == artifactType }
        } catch let error as CacheError {
            let page = try await registry.referrers(repository.local, subject: digest, artifactType: artifactType, after: nil, limit: 1000)
            if page.items.isEmpty, case .rateLimited = error { throw error }
            observer.staleServed(kind: .referrers)
            return page.items
        } catch is Upstream.NotFound {
            return []
        }
    }
}

extension PullThroughCache {
    /// Simple signatures of a manifest (the extension API skopeo and podman use): the upstream's,
    /// when it offers the API, kept beside the cached manifest and asked for again at most once
    /// per `tagrecheck`; the cache's own when the upstream cannot answer.
    public func signatures(_ repository: Repository, _ digest: Digest) async throws -> [StoredSignature] {
        let upstream = repository.upstream
        let key = "signatures \(repository.remote)@\(digest)"
        let local = try? await registry.signatures(repository.local, digest)
        if let local, upstream.isFresh(key) { return local }
        do {
            guard try await upstream.request({ try await upstream.client.supportsSignatureExtension() }) else {
                upstream.markChecked(key)
                return local ?? []
            }
            let found = try await upstream.request { try await upstream.client.signatures(repository.remote, digest) }
            // Signatures belong to a stored manifest.
            if local == nil { _ = try await manifest(repository, .digest(digest)) }
            let held = Set(try await registry.signatures(repository.local, digest).map(\.content))
            for content in found where !held.contains(content) {
                // Named after the content, so the same signature is never stored twice.
                let name = "\(digest)@\(Digest.of(content).encoded.prefix(32))"
                try await registry.addSignature(repository.local, digest, StoredSignature(name: name, content: content))
            }
            upstream.markChecked(key)
            return try await registry.signatures(repository.local, digest)
        } catch let error as CacheError {
            guard let local else { throw error }
            observer.staleServed(kind: .signatures)
            return local
        }
    }
}

/// A blob download clients stream from as it arrives.
public struct BlobDownload: Sendable {
    let fill: BlobFill
    /// The upstream's `Content-Length`, when it sent one.
    public let length: Int64?
    let repository: RepositoryName
    let registry: Registry

    /// Sends `range` (the whole blob when nil) to `write`; throws if the download fails first.
    public func stream(_ range: Range<Int64>?, to write: (ByteBuffer) async throws -> Void) async throws {
        try await fill.stream(range, to: write)
        // A client of another repository joined this download: the blob becomes visible there too.
        _ = try? await registry.mount(fill.digest, into: repository, from: nil)
    }
}
