import Foundation
import NIOCore
import OCI
import RegistryClient
import Signing
import Synchronization

/// Copies one image, or an index and its images, from a source to a destination: blobs in
/// parallel (each one checked for at the destination first, mounted when the registry allows),
/// streamed and verified, converted where the destination or the flags require it, and the
/// manifests last, children before their index.
public final class Copier: Sendable {
    let source: any ImageSource
    let destination: any ImageDestination
    let options: CopyOptions
    let locations: BlobLocations
    private let slots: Semaphore
    private let counters = Mutex<(copied: Int, reused: Int, bytes: Int64)>((0, 0, 0))

    /// Copies `source` to the destination `open` makes, which is opened only once the source's
    /// manifest has been read, so a missing source leaves nothing behind.
    public static func copy(
        from source: any ImageSource, to open: () throws -> any ImageDestination, options: CopyOptions,
        locations: BlobLocations = BlobLocations()
    ) async throws -> CopyResult {
        let top = try await source.manifest(nil)
        if let policy = options.policy {
            let (transport, scope) = source.name.policyScope
            try policy.check(
                transport: transport, scope: scope, reference: source.name.dockerReference, manifest: top.bytes,
                signatures: try await source.signatures(for: top.digest), describedAs: source.name.description)
        }
        let destination = try open()
        if options.signBy != nil { try destination.checkCanSign(sigstore: false) }
        if options.sigstoreSigner != nil { try destination.checkCanSign(sigstore: true) }
        return try await Copier(from: source, to: destination, options: options, locations: locations).run(top)
    }

    init(from source: any ImageSource, to destination: any ImageDestination, options: CopyOptions, locations: BlobLocations) {
        self.source = source
        self.destination = destination
        self.options = options
        self.locations = locations
        slots = Semaphore(max(1, options.parallelBlobs))
    }

    func run(_ top: RawManifest) async throws -> CopyResult {
        let written: RawManifest
        // The source manifest the written one came from (an index's instance for `.system`).
        var origin = top.digest
        if top.isIndex {
            (written, origin) = try await copyIndex(top)
        } else {
            written = try await copyImage(top, topLevel: true)
        }
        // Attachments first: a sigstore signature added below then joins the copied `.sig` tag
        // instead of being overwritten by it.
        let attachments = try await copyAttachments(of: written)
        try await copySignatures(of: origin, as: written, signing: true)
        try await destination.commit()
        let (copied, reused, bytes) = counters.withLock { $0 }
        return CopyResult(digest: written.digest, blobsCopied: copied, blobsReused: reused, bytesSent: bytes, attachments: attachments)
    }

    /// Between registries, and only when the manifest kept its digest (their `subject` names it).
    private func copyAttachments(of written: RawManifest) async throws -> Int {
        guard options.copyAttachments, let source = source as? DockerSource, let destination = destination as? DockerDestination,
            try await source.wrap({ try await source.client.manifestDescriptor(source.reference.repository, .digest(written.digest)) }) != nil
        else { return 0 }
        return try await Attachments(source: source, destination: destination, options: options, locations: locations).copy(attachedTo: written.digest)
    }

    // MARK: indexes

    /// The source's signatures (unless removed) and, when `signing`, a new one (`--sign-by`),
    /// stored with the manifest. Instances of an index keep their own signatures; only the
    /// top-level manifest is signed anew, as skopeo does.
    private func copySignatures(of origin: Digest, as written: RawManifest, signing: Bool) async throws {
        var signatures = options.removeSignatures ? [] : try await source.signatures(for: origin)
        if !signatures.isEmpty, written.digest != origin {
            throw TransportError.unsupported(
                destination.name.description, "the manifest changes on the way (\(origin) → \(written.digest)), which would invalidate its signatures; use --remove-signatures")
        }
        if signing, options.signBy != nil || options.sigstoreSigner != nil {
            guard let identity = options.signIdentity ?? destination.name.dockerReference else {
                throw TransportError.unsupported(destination.name.description, "no docker reference to sign for; give one with --sign-identity")
            }
            if let fingerprint = options.signBy {
                signatures.append(
                    try SimpleSigning.sign(manifest: written.bytes, dockerReference: identity.description, fingerprint: fingerprint, passphrase: options.signPassphrase))
            }
            if let signer = options.sigstoreSigner { signatures.append(try signer(written.bytes, identity)) }
        }
        if !signatures.isEmpty { options.progress?.storingSignatures() }
        try await destination.putSignatures(signatures, for: written.digest)
    }

    private func copyIndex(_ top: RawManifest) async throws -> (RawManifest, Digest) {
        let index = try decode(ImageIndex.self, top)
        let platform = options.platform ?? .current
        switch options.selection {
        case .system:
            guard let chosen = index.instance(for: platform) else {
                throw TransportError.notFound(source.name.description, "no image for \(platform.description) in the index (use --all or --override-arch/--override-os)")
            }
            return (try await copyImage(try await source.manifest(chosen.digest), topLevel: true), chosen.digest)
        case .indexOnly:
            let converted = try convertIndex(top, index, children: index.manifests)
            try await putManifest(converted, topLevel: true)
            return (converted, top.digest)
        case .all, .platforms:
            var selected = index.manifests
            if case .platforms(let wanted) = options.selection {
                selected = index.manifests.filter { entry in wanted.contains { entry.platform.map($0.accepts) ?? false } }
                let missing = wanted.filter { want in !selected.contains { $0.platform.map(want.accepts) ?? false } }
                guard missing.isEmpty else {
                    throw TransportError.notFound(source.name.description, "no image for \(missing.map(\.description).joined(separator: ", ")) in the index")
                }
            }
            let children = try await withThrowingTaskGroup(of: (Int, Descriptor).self) { group in
                for (position, entry) in selected.enumerated() {
                    group.addTask {
                        guard MediaType.imageManifestTypes.contains(entry.mediaType) || MediaType.indexTypes.contains(entry.mediaType) else {
                            return (position, entry)
                        }
                        let child = try await self.source.manifest(entry.digest)
                        let written = child.isIndex ? try await self.copyNestedIndex(child) : try await self.copyImage(child, topLevel: false)
                        try await self.copySignatures(of: entry.digest, as: written, signing: false)
                        var updated = entry
                        updated.digest = written.digest
                        updated.size = Int64(written.bytes.count)
                        updated.mediaType = written.mediaType
                        return (position, updated)
                    }
                }
                var result = [Descriptor?](repeating: nil, count: selected.count)
                for try await (position, descriptor) in group { result[position] = descriptor }
                return result.compactMap { $0 }
            }
            let converted = try convertIndex(top, index, children: children)
            try await putManifest(converted, topLevel: true)
            return (converted, top.digest)
        }
    }

    private func copyNestedIndex(_ manifest: RawManifest) async throws -> RawManifest {
        try await putManifest(manifest, topLevel: false)
        return manifest
    }

    /// The index to write: the source's bytes when nothing changed, else rewritten.
    private func convertIndex(_ raw: RawManifest, _ index: ImageIndex, children: [Descriptor]) throws -> RawManifest {
        let targetType = try targetType(for: raw.mediaType, isIndex: true)
        if targetType == raw.mediaType, children == index.manifests { return raw }
        var rewritten = index
        rewritten.manifests = children
        rewritten.mediaType = targetType
        return try encode(rewritten, mediaType: targetType, changing: raw)
    }

    // MARK: images

    private func copyImage(_ raw: RawManifest, topLevel: Bool) async throws -> RawManifest {
        var manifest = try decode(ImageManifest.self, raw)
        let targetType = try targetType(for: raw.mediaType, isIndex: false)
        let toOCI = targetType == MediaType.ociManifest
        let converting = targetType != raw.mediaType
        let sourceConfig = manifest.config
        let sourceLayers = manifest.layers
        async let config = copyBlob(sourceConfig, isConfig: true, transform: [])
        let layers = try await withThrowingTaskGroup(of: (Int, Descriptor).self) { group in
            for (position, layer) in sourceLayers.enumerated() {
                group.addTask {
                    if MediaType.isNonDistributable(layer.mediaType) { return (position, layer) }
                    return (position, try await self.copyBlob(layer, isConfig: false, transform: try self.transform(for: layer)))
                }
            }
            var result = sourceLayers
            for try await (position, descriptor) in group { result[position] = descriptor }
            return result
        }
        _ = try await config
        var changed = layers != manifest.layers
        manifest.layers = layers
        if converting {
            changed = true
            manifest.mediaType = targetType
            manifest.config.mediaType = try convert(manifest.config.mediaType, toOCI: toOCI)
            for i in manifest.layers.indices { manifest.layers[i].mediaType = try convert(manifest.layers[i].mediaType, toOCI: toOCI) }
        }
        let output = changed ? try encode(manifest, mediaType: targetType, changing: raw) : raw
        try await putManifest(output, topLevel: topLevel)
        return output
    }

    private func putManifest(_ manifest: RawManifest, topLevel: Bool) async throws {
        if topLevel { options.progress?.writingManifest() }
        try await destination.putManifest(manifest, topLevel: topLevel)
    }

    /// The manifest type to write: `--format`, else the source's, else what the destination takes.
    private func targetType(for sourceType: String, isIndex: Bool) throws -> String {
        var wanted = sourceType
        if let format = options.format {
            switch (format, isIndex) {
            case (.oci, false): wanted = MediaType.ociManifest
            case (.oci, true): wanted = MediaType.ociIndex
            case (.v2s2, false): wanted = MediaType.dockerManifest
            case (.v2s2, true): wanted = MediaType.dockerManifestList
            }
        }
        if let supported = destination.supportedManifestTypes, !supported.contains(wanted) {
            let kind = isIndex ? MediaType.indexTypes : MediaType.imageManifestTypes
            guard let fallback = supported.first(where: kind.contains) else {
                throw TransportError.unsupported(destination.name.description, "cannot store \(isIndex ? "a multi-platform index" : "a \(wanted) manifest")")
            }
            wanted = fallback
        }
        return wanted
    }

    private func convert(_ mediaType: String, toOCI: Bool) throws -> String {
        guard let converted = MediaType.convert(mediaType, toOCI: toOCI) else {
            throw TransportError.unsupported(
                destination.name.description, "\(mediaType) cannot be expressed in a \(toOCI ? "OCI" : "Docker schema 2") manifest")
        }
        return converted
    }

    private func encode(_ value: some Encodable, mediaType: String, changing raw: RawManifest) throws -> RawManifest {
        if options.preserveDigests {
            throw TransportError.unsupported(
                destination.name.description, "copying would change the manifest digest \(raw.digest), and --preserve-digests forbids it")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return RawManifest(bytes: Array(try encoder.encode(value)), mediaType: mediaType)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ raw: RawManifest) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(raw.bytes))
        } catch {
            throw TransportError.invalidContent(source.name.description, "manifest \(raw.digest) is not a valid \(raw.mediaType)")
        }
    }

    // MARK: blobs

    /// How a layer's bytes change on the way: nothing, or codecs applied in order.
    private func transform(for layer: Descriptor) throws -> [LayerCodec] {
        guard MediaType.isImageLayer(layer.mediaType) else { return [] }
        let current = MediaType.compression(ofLayer: layer.mediaType)
        var wanted = current
        switch destination.layerCompression {
        case .decompress: wanted = .none
        case .compress where current == .none: wanted = options.compressFormat ?? .gzip
        default: if let format = options.compressFormat { wanted = format }
        }
        guard wanted != current else { return [] }
        if options.preserveDigests {
            throw TransportError.unsupported(destination.name.description, "layer \(layer.digest) would be recompressed, and --preserve-digests forbids it")
        }
        var codecs: [LayerCodec] = []
        if current != .none { codecs.append(.decompress(current)) }
        if wanted != .none { codecs.append(.compress(wanted, level: options.compressLevel)) }
        return codecs
    }

    /// Copies one blob once per run and destination, however many images share it: a second
    /// image waits for the first one's upload instead of racing it (distribution answers
    /// DIGEST_INVALID to manifests pushed while the same blob is committed twice).
    private func copyBlob(_ descriptor: Descriptor, isConfig: Bool, transform: [LayerCodec]) async throws -> Descriptor {
        let key = "\(destination.blobScope) \(descriptor.digest) \(transform)"
        return try await locations.transfers.run(key) {
            try await self.slots.withSlot { try await self.transfer(descriptor, isConfig: isConfig, transform: transform) }
        }
    }

    private func transfer(_ descriptor: Descriptor, isConfig: Bool, transform: [LayerCodec]) async throws -> Descriptor {
        let progress = options.progress
        if let source = source as? DockerSource { await locations.record(descriptor.digest, source.location) }
        if transform.isEmpty, try await destination.reuse(descriptor, knownLocations: await locations.known(descriptor.digest)) {
            progress?.blobSkipped(descriptor, isConfig: isConfig)
            counters.withLock { $0.reused += 1 }
            return descriptor
        }
        progress?.blobStarted(descriptor, isConfig: isConfig)
        let verified = DigestingSequence(
            Counting(base: AnyBlobStream(try await source.blob(descriptor)), descriptor: descriptor, progress: progress),
            expected: descriptor.digest, expectedSize: descriptor.size)
        var result = descriptor
        if let last = transform.last {
            var stream: BlobStream = verified
            for codec in transform { stream = CodecSequence(base: AnyBlobStream(stream), codec: codec) }
            let (digest, size) = try await destination.putBlob(stream, expected: nil)
            var compression = MediaType.Compression.none
            if case .compress(let format, _) = last { compression = format }
            guard let mediaType = MediaType.layer(descriptor.mediaType, withCompression: compression) else {
                throw TransportError.unsupported(destination.name.description, "\(compression) compression is not supported for docker images")
            }
            result.mediaType = mediaType
            result.digest = digest
            result.size = size
        } else {
            _ = try await destination.putBlob(verified, expected: descriptor)
        }
        if let destination = destination as? DockerDestination { await locations.record(result.digest, destination.location) }
        progress?.blobDone(descriptor)
        counters.withLock {
            $0.copied += 1
            $0.bytes += result.size
        }
        return result
    }
}

/// Where each blob was seen during a run (sources read, destinations written), so a destination
/// on the same registry mounts instead of uploading.
public actor BlobLocations {
    private var seen: [Digest: Set<BlobLocation>] = [:]
    /// Blob transfers of the run, by destination and digest.
    nonisolated let transfers = OnceMap()
    public init() {}
    func record(_ digest: Digest, _ location: BlobLocation) { seen[digest, default: []].insert(location) }
    func known(_ digest: Digest) -> [BlobLocation] { Array(seen[digest] ?? []) }
}

/// Runs the work for a key once; concurrent and later callers for the same key share its
/// result. A failure is forgotten, so a later caller tries again.
public final class OnceMap: Sendable {
    private let tasks = Mutex<[String: Task<Descriptor, any Error>]>([:])

    func run(_ key: String, _ work: @escaping @Sendable () async throws -> Descriptor) async throws -> Descriptor {
        let task = tasks.withLock { tasks in
            if let existing = tasks[key] { return existing }
            let created = Task { try await work() }
            tasks[key] = created
            return created
        }
        do {
            return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
        } catch {
            tasks.withLock { tasks in
                if tasks[key] == task { tasks[key] = nil }
            }
            throw error
        }
    }
}

/// A counting semaphore for async work.
final class Semaphore: Sendable {
    private let state: Mutex<(available: Int, waiters: [CheckedContinuation<Void, Never>])>

    init(_ count: Int) { state = Mutex((count, [])) }

    func withSlot<T>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if state.waiters.isEmpty {
                    state.available += 1
                    return nil
                }
                return state.waiters.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}

/// Reports the bytes of a blob as they pass.
struct Counting<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let descriptor: Descriptor
    let progress: (any CopyProgress)?

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let descriptor: Descriptor
        let progress: (any CopyProgress)?

        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await base.next() else { return nil }
            progress?.bytes(chunk.readableBytes, of: descriptor)
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), descriptor: descriptor, progress: progress) }
}
