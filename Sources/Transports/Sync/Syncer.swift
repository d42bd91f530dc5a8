import Foundation
import OCI
import RegistryClient
import Synchronization

public struct SyncOptions: Sendable {
    public enum SourceKind: String, Sendable { case docker, dir, yaml }
    public enum DestinationKind: String, Sendable { case docker, dir, oci }

    public var copy = CopyOptions()
    public var sourceAccess = AccessOptions()
    public var destinationAccess = AccessOptions()
    /// Images in flight at once; each has `copy.parallelBlobs` blobs in flight.
    public var imageParallelCopies = 4
    public var scoped = false
    public var appendSuffix = ""
    public var dryRun = false
    public var keepGoing = false
    public var prune = false
    /// Tags never synced (and never pruned), for docker and yaml sources.
    public var excludeTagRegex: String?
    public var progress: (@Sendable (String) -> Void)?
    /// How to reach a source registry (host, repository); the CLI looks credentials up here.
    public var resolveSourceAccess: @Sendable (String, String) async throws -> AccessOptions

    public init() {
        let access = AccessOptions()
        resolveSourceAccess = { _, _ in access }
    }
}

/// One line of the report: what happened to one image (or one pruned tag).
public struct SyncEntry: Codable, Sendable {
    public enum Action: String, Codable, Sendable {
        case copied, unchanged, failed, pruned
        case wouldCopy = "would-copy"
        case wouldPrune = "would-prune"
    }
    public var source: String
    public var destination: String
    public var digest: String?
    public var action: Action
    public var bytes: Int64
    public var seconds: Double
    public var error: String?
}

/// Mirrors images from a registry, a skopeo `dir` tree or a YAML list into a registry, a `dir`
/// tree or OCI layouts: only what changed is copied (an unchanged tag costs one manifest HEAD on
/// each side), several images at once sharing one view of where blobs are, with a report.
public final class Syncer: Sendable {
    let options: SyncOptions
    private let locations = BlobLocations()
    private let entries = Mutex<[SyncEntry]>([])

    public init(options: SyncOptions) { self.options = options }

    public var report: [SyncEntry] { entries.withLock { $0 } }

    /// Plans and runs the sync; throws only for problems that stop it before any image is
    /// copied (bad arguments, an unreadable source list). Per-image failures are in `report`.
    public func run(source: String, sourceKind: SyncOptions.SourceKind, destination: String, destinationKind: SyncOptions.DestinationKind)
        async throws
    {
        let groups = try await plan(source: source, kind: sourceKind, destination: destination, destinationKind: destinationKind)
        let items = groups.flatMap(\.items)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for item in items {
                if running >= max(1, options.imageParallelCopies) {
                    try await group.next()
                    running -= 1
                }
                group.addTask { try await self.sync(item) }
                running += 1
            }
            try await group.waitForAll()
        }
        if options.prune {
            let failed = report.contains { $0.action == .failed }
            guard !failed else { return }
            for group in groups where group.prunable { try await prune(group) }
        }
    }

    // MARK: one image

    private func sync(_ item: SyncItem) async throws {
        let started = ContinuousClock.now
        var entry = SyncEntry(
            source: item.source.description, destination: item.destination.description, digest: nil, action: .failed, bytes: 0, seconds: 0)
        do {
            let sourceDigest = try await currentDigest(of: item.source, access: item.sourceAccess, isSource: true)
            let destinationDigest = try await currentDigest(of: item.destination, access: item.destinationAccess, isSource: false)
            entry.digest = sourceDigest?.description
            if let sourceDigest, sourceDigest == destinationDigest {
                entry.action = .unchanged
                options.progress?("Unchanged \(item.source) → \(item.destination)")
            } else if options.dryRun {
                entry.action = .wouldCopy
                options.progress?("Would copy \(item.source) → \(item.destination)")
            } else {
                options.progress?("Copying \(item.source) → \(item.destination)")
                let source = try item.source.openSource(item.sourceAccess)
                let destinationName = item.destination
                let destinationAccess = item.destinationAccess
                let result = try await Copier.copy(
                    from: source, to: { try destinationName.openDestination(destinationAccess) }, options: options.copy, locations: locations)
                entry.digest = result.digest.description
                entry.bytes = result.bytesSent
                entry.action = .copied
            }
        } catch {
            entry.error = "\(error)"
            entry.action = .failed
            options.progress?("Failed \(item.source) → \(item.destination): \(error)")
            if !options.keepGoing {
                record(entry, started)
                throw error
            }
        }
        record(entry, started)
    }

    private func record(_ entry: SyncEntry, _ started: ContinuousClock.Instant) {
        var entry = entry
        entry.seconds = (ContinuousClock.now - started) / .seconds(1)
        entries.withLock { $0.append(entry) }
    }

    /// The digest that a copy would write (or has written) for this name, without reading blobs:
    /// a manifest HEAD for a registry; for a multi-platform source copied as one platform, the
    /// instance the copy would pick.
    private func currentDigest(of name: ImageName, access: AccessOptions, isSource: Bool) async throws -> Digest? {
        switch name {
        case .docker(let reference):
            let client = try RegistryClient(registry: reference.registry, options: access.client)
            do {
                guard let descriptor = try await client.manifestDescriptor(reference.repository, reference.manifestReference) else {
                    if isSource { throw TransportError.notFound(name.description, "manifest unknown (404)") }
                    return nil
                }
                guard isSource, MediaType.indexTypes.contains(descriptor.mediaType) else { return descriptor.digest }
                return try await instanceDigest(try await client.manifest(reference.repository, .digest(descriptor.digest)).bytes, index: descriptor.digest)
            } catch let error as ClientError {
                throw TransportError.registry(name.description, error)
            }
        case .dir(let path):
            guard let data = FileManager.default.contents(atPath: "\(path)/manifest.json") else {
                if isSource { throw TransportError.notFound(name.description, "no manifest.json") }
                return nil
            }
            let digest = Digest.of(Array(data))
            guard isSource, let summary = try? ManifestSummary(parsing: Array(data), contentType: nil), case .index = summary.kind else { return digest }
            return try await instanceDigest(Array(data), index: digest)
        case .oci(let path, let reference):
            let reader = OCILayoutReader(files: DirectoryFiles(location: path), name: name.description)
            return try? reader.entry(reference).digest
        default:
            return nil
        }
    }

    /// For an index: itself when the copy keeps indexes, else the instance for the platform.
    private func instanceDigest(_ bytes: [UInt8], index: Digest) async throws -> Digest? {
        guard options.copy.selection == .system else { return index }
        let parsed = try JSONDecoder().decode(ImageIndex.self, from: Data(bytes))
        return parsed.instance(for: options.copy.platform ?? .current)?.digest
    }

    // MARK: prune

    private func prune(_ group: SyncGroup) async throws {
        let kept = Set(group.items.map(\.destination.description))
        for stale in try await staleDestinations(group) where !kept.contains(stale.name.description) {
            let started = ContinuousClock.now
            var entry = SyncEntry(source: group.sourceDescription, destination: stale.name.description, digest: nil, action: .wouldPrune, bytes: 0, seconds: 0)
            if !options.dryRun {
                do {
                    try await stale.remove()
                    entry.action = .pruned
                } catch {
                    entry.action = .failed
                    entry.error = "\(error)"
                }
            }
            switch entry.action {
            case .wouldPrune: options.progress?("Would prune \(stale.name)")
            case .pruned: options.progress?("Pruned \(stale.name)")
            default: options.progress?("Failed to prune \(stale.name): \(entry.error ?? "")")
            }
            record(entry, started)
        }
    }

    /// What the destination holds inside the group's scope (the tags its selector would match).
    private func staleDestinations(_ group: SyncGroup) async throws -> [StaleImage] {
        switch group.destinationScope {
        case .docker(let repository):
            let client = try RegistryClient(registry: repository.registry, options: options.destinationAccess.client)
            let tags: [String]
            do {
                tags = try await client.tags(repository.repository)
            } catch let error as ClientError where error.isNotFound {
                return []
            }
            return tags.filter(group.inScope).compactMap { tag in
                guard let parsed = try? Tag(parsing: tag) else { return nil }
                let name = ImageName.docker(repository.with(tag: parsed))
                let kept = group.items.compactMap { $0.destination.dockerReference?.tag }
                return StaleImage(name: name) {
                    do {
                        try await Self.deleteTag(parsed, keeping: kept, in: repository.repository, client: client)
                    } catch let error as ClientError {
                        throw TransportError.registry(name.description, error)
                    }
                }
            }
        case .dir(let parent, let prefix):
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
            return entries.filter { $0.hasPrefix(prefix + ":") && group.inScope(String($0.dropFirst(prefix.count + 1))) }.map { entry in
                let path = "\(parent)/\(entry)"
                return StaleImage(name: .dir(path: path)) { try FileManager.default.removeItem(atPath: path) }
            }
        case .oci(let path):
            let reader = OCILayoutReader(files: DirectoryFiles(location: path), name: "oci:\(path)")
            let refs = ((try? reader.index().manifests) ?? []).compactMap { $0.annotations?[OCILayoutReader.refName] }
            return refs.filter(group.inScope).map { ref in
                StaleImage(name: .oci(path: path, reference: ref)) { try OCILayout(path: path).removeFromIndex(reference: ref) }
            }
        }
    }
}

extension Syncer {
    /// Deletes a tag; where the registry deletes only by digest (distribution answers
    /// `UNSUPPORTED`), deletes the manifest if no kept tag shares it, else refuses.
    static func deleteTag(_ tag: Tag, keeping kept: [Tag], in repository: RepositoryName, client: RegistryClient) async throws {
        do {
            try await client.deleteManifest(repository, tag: tag)
        } catch let ClientError.status(_, status, code, _) where [400, 405].contains(status) && code != "MANIFEST_UNKNOWN" {
            guard let stale = try await client.manifestDescriptor(repository, .tag(tag)) else { return }
            for other in kept where try await client.manifestDescriptor(repository, .tag(other))?.digest == stale.digest {
                throw TransportError.unsupported(
                    "\(client.registry)/\(repository):\(tag)", "shares its manifest with \(other), and this registry cannot delete a tag alone")
            }
            try await client.deleteManifest(repository, stale.digest)
        }
    }
}

struct StaleImage {
    let name: ImageName
    let remove: () async throws -> Void
}
