import Foundation
import Synchronization
import OCI

/// `oci-archive:`: an OCI image layout in a tar, read in place and written through a temporary layout.
enum OCIArchive {
    static func source(path: String, reference: String?) throws -> OCILayoutSource {
        let name = ImageName.ociArchive(path: path, reference: reference)
        let files: TarIndex
        do { files = try TarIndex(path: path) } catch let error as TransportError where error.isNotFound {
            throw TransportError.notFound(name.description, "no such archive")
        }
        return try OCILayoutSource(files: files, reference: reference, name: name)
    }
}

/// Builds an archive in a scratch directory beside it, then writes the tar to a temporary file and
/// renames it into place (or streams it to a pipe or device such as /dev/stdout).
final class ArchiveOutput: Sendable {
    let path: String
    let scratch: String

    init(path: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        scratch = "\(directory.isEmpty ? "." : directory)/.berth-archive-\(UUID().uuidString)"
        do {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        } catch {
            throw TransportError.io(path, "cannot create a scratch directory: \(FileSystemFailure.reason(error))")
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: scratch) }

    /// Writes the tar with `fill`, atomically when the target is a regular file.
    func write(_ fill: (TarWriter) async throws -> Void) async throws {
        var status = stat()
        let isRegular = stat(path, &status) != 0 || (status.st_mode & S_IFMT) == S_IFREG
        let target = isRegular ? "\(scratch).tar" : path
        let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TransportError.io(path, String(cString: strerror(errno))) }
        do {
            let writer = TarWriter(fd: fd, path: path)
            try await fill(writer)
            try writer.finish()
            if isRegular, fsync(fd) != 0 { throw TransportError.io(path, String(cString: strerror(errno))) }
            close(fd)
        } catch {
            close(fd)
            if isRegular { unlink(target) }
            throw error
        }
        if isRegular { try AtomicFile.commit(target, to: path) }
    }
}

public struct OCIArchiveDestination: ImageDestination {
    public let name: ImageName
    let output: ArchiveOutput
    let layout: OCILayoutDestination

    init(path: String, reference: String?) throws {
        name = .ociArchive(path: path, reference: reference)
        output = try ArchiveOutput(path: path)
        layout = try OCILayoutDestination(path: output.scratch, reference: reference, name: name)
    }

    public var supportedManifestTypes: [String]? { layout.supportedManifestTypes }
    public var layerCompression: LayerCompressionPolicy { .compress }
    public func reuse(_ descriptor: Descriptor, knownLocations: [BlobLocation]) async throws -> Bool { false }
    public func putBlob(_ stream: BlobStream, expected: Descriptor?) async throws -> (digest: Digest, size: Int64) {
        try await layout.putBlob(stream, expected: expected)
    }
    public func putManifest(_ manifest: RawManifest, topLevel: Bool) async throws {
        try await layout.putManifest(manifest, topLevel: topLevel)
    }

    public func commit() async throws {
        try await layout.commit()
        let root = output.scratch
        try await output.write { tar in
            try tar.add("oci-layout", bytes: try readFile("\(root)/oci-layout"))
            try tar.add("index.json", bytes: try readFile("\(root)/index.json"))
            try tar.directory("blobs")
            for algorithm in ((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/blobs")) ?? []).sorted() {
                try tar.directory("blobs/\(algorithm)")
                for blob in try FileManager.default.contentsOfDirectory(atPath: "\(root)/blobs/\(algorithm)").sorted()
                where !blob.hasPrefix(".") {
                    try await tar.add("blobs/\(algorithm)/\(blob)", file: "\(root)/blobs/\(algorithm)/\(blob)")
                }
            }
        }
    }
}

/// The `manifest.json` of a `docker save` archive.
struct DockerArchiveManifest: Codable {
    var Config: String
    var RepoTags: [String]?
    var Layers: [String]
}

/// `docker-archive:` read in place: the image's config and layers as a Docker schema 2 manifest
/// whose layer digests are those of the archive's members.
public struct DockerArchiveSource: ImageSource {
    public let name: ImageName
    let archive: TarIndex
    let item: DockerArchiveManifest
    let top: RawManifest
    let paths: [Digest: String]

    init(path: String, reference: ImageReference?, index: Int?) throws {
        name = .dockerArchive(path: path, reference: reference, index: index)
        do { archive = try TarIndex(path: path) } catch let error as TransportError where error.isNotFound {
            throw TransportError.notFound(name.description, "no such archive")
        }
        let items: [DockerArchiveManifest]
        do {
            items = try JSONDecoder().decode([DockerArchiveManifest].self, from: Data(try archive.read("manifest.json", limit: 16 << 20)))
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError.invalidContent(name.description, "manifest.json is not a docker save manifest")
        }
        if let index {
            guard items.indices.contains(index) else { throw TransportError.notFound(name.description, "the archive has \(items.count) images") }
            item = items[index]
        } else if let reference {
            guard let found = items.first(where: { ($0.RepoTags ?? []).contains { (try? ImageReference(parsing: $0)) == reference } }) else {
                throw TransportError.notFound(name.description, "the archive has no image tagged \(reference)")
            }
            item = found
        } else {
            guard items.count == 1 else {
                throw TransportError.notFound(name.description, "the archive holds \(items.count) images; pick one with :NAME:TAG or :@INDEX")
            }
            item = items[0]
        }
        let configBytes = try archive.read(item.Config, limit: 16 << 20)
        let configDigest = Digest.of(configBytes)
        var paths = [configDigest: item.Config]
        var layers: [Descriptor] = []
        guard let config = try? JSONDecoder().decode(ImageConfig.self, from: Data(configBytes)),
            let diffIDs = config.rootfs?.diffIDs, diffIDs.count == item.Layers.count
        else { throw TransportError.invalidContent(name.description, "the image config does not list one diff_id per layer") }
        for (layer, diffID) in zip(item.Layers, diffIDs) {
            guard let member = archive.member(layer) else { throw TransportError.invalidContent(name.description, "the archive has no \(layer)") }
            let magic = try Self.prefix(archive, member, 2)
            let digest: Digest
            let mediaType: String
            if magic == [0x1f, 0x8b] {
                digest = try Self.hash(archive, member)
                mediaType = MediaType.dockerLayerTarGzip
            } else {
                digest = diffID
                mediaType = MediaType.dockerLayerTar
            }
            paths[digest] = layer
            layers.append(Descriptor(mediaType: mediaType, digest: digest, size: member.size))
        }
        self.paths = paths
        let manifest = ImageManifest(
            mediaType: MediaType.dockerManifest, config: Descriptor(mediaType: MediaType.dockerConfig, digest: configDigest, size: Int64(configBytes.count)),
            layers: layers)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        top = RawManifest(bytes: Array(try encoder.encode(manifest)), mediaType: MediaType.dockerManifest)
    }

    public func manifest(_ digest: Digest?) async throws -> RawManifest {
        guard digest == nil || digest == top.digest else { throw TransportError.notFound(name.description, "no manifest \(digest!)") }
        return top
    }

    public func blob(_ descriptor: Descriptor) async throws -> BlobStream {
        guard let path = paths[descriptor.digest] else { throw TransportError.invalidContent(name.description, "no blob \(descriptor.digest)") }
        return try archive.chunks(path)
    }

    private static func prefix(_ archive: TarIndex, _ member: TarIndex.Member, _ count: Int) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: archive.path) else { throw TransportError.io(archive.path, "cannot read") }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(member.offset))
        return Array(handle.readData(ofLength: min(count, Int(member.size))))
    }

    private static func hash(_ archive: TarIndex, _ member: TarIndex.Member) throws -> Digest {
        guard let handle = FileHandle(forReadingAtPath: archive.path) else { throw TransportError.io(archive.path, "cannot read") }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(member.offset))
        var hasher = Digest.Algorithm.sha256.hasher()
        var remaining = member.size
        while remaining > 0 {
            let chunk = handle.readData(ofLength: Int(min(remaining, 1 << 20)))
            guard !chunk.isEmpty else { throw TransportError.invalidContent(archive.path, "truncated member") }
            hasher.update(Array(chunk))
            remaining -= Int64(chunk.count)
        }
        return hasher.finalize()
    }
}

/// `docker-archive:` written as `docker save` and skopeo write it: `manifest.json`, the config as
/// `<hex>.json`, uncompressed layers as `<hex>.tar`, and the legacy `repositories` file.
public struct DockerArchiveDestination: ImageDestination {
    public let name: ImageName
    let output: ArchiveOutput
    let reference: ImageReference?
    let additionalTags: [ImageReference]
    private let pending = PendingManifest()

    init(path: String, reference: ImageReference?, additionalTags: [ImageReference]) throws {
        name = .dockerArchive(path: path, reference: reference, index: nil)
        var status = stat()
        if stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size > 0 {
            throw TransportError.unsupported(name.description, "\(path) exists; docker-archive does not modify existing archives")
        }
        output = try ArchiveOutput(path: path)
        self.reference = reference
        self.additionalTags = additionalTags
    }

    public var supportedManifestTypes: [String]? { [MediaType.dockerManifest] }
    public var layerCompression: LayerCompressionPolicy { .decompress }
    public func reuse(_ descriptor: Descriptor, knownLocations: [BlobLocation]) async throws -> Bool { false }

    public func putBlob(_ stream: BlobStream, expected: Descriptor?) async throws -> (digest: Digest, size: Int64) {
        try await AtomicFile.write(stream, into: output.scratch, expected: expected) { $0.encoded }
    }

    public func putManifest(_ manifest: RawManifest, topLevel: Bool) async throws {
        guard topLevel, !manifest.isIndex else {
            throw TransportError.unsupported(name.description, "docker-archive holds one image, not a multi-platform index")
        }
        pending.set(manifest)
    }

    public func commit() async throws {
        guard let manifest = pending.value,
            let image = try? JSONDecoder().decode(ImageManifest.self, from: Data(manifest.bytes))
        else { throw TransportError.invalidContent(name.description, "no image manifest was written") }
        let scratch = output.scratch
        // Fully qualified names (`docker.io/team/app:v1`), as skopeo writes them; docker load reads both.
        let tags = ([reference].compactMap { $0 } + additionalTags).map { "\($0.registry)/\($0.repository):\($0.tag?.value ?? "latest")" }
        let item = DockerArchiveManifest(
            Config: "\(image.config.digest.encoded).json", RepoTags: tags, Layers: image.layers.map { "\($0.digest.encoded).tar" })
        var repositories: [String: [String: String]] = [:]
        for tag in tags {
            let colon = tag.lastIndex(of: ":")!
            repositories[String(tag[..<colon]), default: [:]][String(tag[tag.index(after: colon)...])] = image.layers.last?.digest.encoded
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        let manifestJSON = Array(try encoder.encode([item]))
        let repositoriesJSON = Array(try encoder.encode(repositories))
        try await output.write { tar in
            try await tar.add(item.Config, file: "\(scratch)/\(image.config.digest.encoded)")
            for layer in image.layers {
                try await tar.add("\(layer.digest.encoded).tar", file: "\(scratch)/\(layer.digest.encoded)")
            }
            try tar.add("manifest.json", bytes: manifestJSON)
            if !repositories.isEmpty { try tar.add("repositories", bytes: repositoriesJSON) }
        }
    }
}

final class PendingManifest: Sendable {
    private let state = Mutex<RawManifest?>(nil)
    var value: RawManifest? { state.withLock { $0 } }
    func set(_ manifest: RawManifest) { state.withLock { $0 = manifest } }
}

/// The names in a `docker save` archive, for `list-tags docker-archive:`: every `RepoTags` entry,
/// and `@N` for an untagged image, as skopeo lists them.
public enum DockerArchiveListing {
    public static func tags(path: String) throws -> [String] {
        let archive = try TarIndex(path: path)
        guard let items = try? JSONDecoder().decode([DockerArchiveManifest].self, from: Data(try archive.read("manifest.json", limit: 16 << 20)))
        else { throw TransportError.invalidContent("docker-archive:\(path)", "manifest.json is not a docker save manifest") }
        return items.enumerated().flatMap { position, item in
            let tags = item.RepoTags ?? []
            return tags.isEmpty ? ["@\(position)"] : tags
        }
    }
}
