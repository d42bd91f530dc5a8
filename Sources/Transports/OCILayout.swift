import Foundation
import Synchronization
import OCI

/// Read access to the files of an image layout, on disk or inside a tar.
protocol LayoutFiles: Sendable {
    var location: String { get }
    func exists(_ relative: String) -> Bool
    func read(_ relative: String) throws -> [UInt8]
    func stream(_ relative: String) throws -> BlobStream
}

struct DirectoryFiles: LayoutFiles {
    let location: String
    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: "\(location)/\(relative)") }
    func read(_ relative: String) throws -> [UInt8] { try readFile("\(location)/\(relative)") }
    func stream(_ relative: String) throws -> BlobStream { FileChunks(path: "\(location)/\(relative)") }
}

extension TarIndex: LayoutFiles {
    var location: String { path }
    func exists(_ relative: String) -> Bool { member(relative) != nil }
    func read(_ relative: String) throws -> [UInt8] { try read(relative, limit: 64 << 20) }
    func stream(_ relative: String) throws -> BlobStream { try chunks(relative) }
}

/// An OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as the image spec
/// defines it. Images are named by the `org.opencontainers.image.ref.name` annotation of their
/// `index.json` entry.
struct OCILayoutReader: Sendable {
    static let refName = "org.opencontainers.image.ref.name"
    let files: any LayoutFiles
    let name: String

    static func blob(_ digest: Digest) -> String { "blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    func index() throws -> ImageIndex {
        guard files.exists("index.json") else { throw TransportError.notFound(name, "no image layout at \(files.location) (no index.json)") }
        do {
            return try JSONDecoder().decode(ImageIndex.self, from: Data(try files.read("index.json")))
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError.invalidContent(name, "index.json is not an image index: \(error)")
        }
    }

    /// The entry `reference` names, or the only entry when there is no reference.
    func entry(_ reference: String?) throws -> Descriptor {
        let manifests = try index().manifests
        if let reference {
            guard let found = manifests.last(where: { $0.annotations?[Self.refName] == reference }) else {
                throw TransportError.notFound(name, "no image named '\(reference)' in the layout's index.json")
            }
            return found
        }
        guard manifests.count == 1 else {
            throw TransportError.notFound(name, manifests.isEmpty ? "the layout holds no image" : "the layout holds \(manifests.count) images; name one as PATH:REF")
        }
        return manifests[0]
    }

    func readBlob(_ digest: Digest) throws -> [UInt8] {
        guard files.exists(Self.blob(digest)) else { throw TransportError.invalidContent(name, "blob \(digest) is missing") }
        let bytes = try files.read(Self.blob(digest))
        guard Digest.of(bytes, algorithm: digest.algorithm) == digest else {
            throw TransportError.invalidContent(name, "blob \(digest) does not match its digest")
        }
        return bytes
    }

    func streamBlob(_ digest: Digest) throws -> BlobStream {
        guard files.exists(Self.blob(digest)) else { throw TransportError.invalidContent(name, "blob \(digest) is missing") }
        return try files.stream(Self.blob(digest))
    }
}

/// Writing side of an OCI image layout directory.
struct OCILayout: Sendable {
    let path: String

    func blobPath(_ digest: Digest) -> String { "\(path)/\(OCILayoutReader.blob(digest))" }

    /// Creates the layout's skeleton if it is not there yet.
    func create() throws {
        do {
            try FileManager.default.createDirectory(atPath: "\(path)/blobs", withIntermediateDirectories: true)
        } catch {
            throw TransportError.io(path, "cannot create the layout: \(FileSystemFailure.reason(error))")
        }
        if !FileManager.default.fileExists(atPath: "\(path)/oci-layout") {
            try AtomicFile.write(Array(#"{"imageLayoutVersion": "1.0.0"}"#.utf8), to: "\(path)/oci-layout")
        }
    }

    /// Drops the entry named `reference` from `index.json` (its blobs stay).
    func removeFromIndex(reference: String) throws {
        let lock = try FileLock(path)
        defer { lock.unlock() }
        var index = try OCILayoutReader(files: DirectoryFiles(location: path), name: "oci:\(path)").index()
        index.manifests.removeAll { $0.annotations?[OCILayoutReader.refName] == reference }
        try writeIndex(index)
    }

    private func writeIndex(_ index: ImageIndex) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(index)), to: "\(path)/index.json")
    }

    /// Adds `descriptor` to `index.json` under `reference`, replacing an entry of the same name,
    /// under a lock so concurrent writers do not lose each other's entries.
    func addToIndex(_ descriptor: Descriptor, reference: String?) throws {
        let lock = try FileLock(path)
        defer { lock.unlock() }
        let reader = OCILayoutReader(files: DirectoryFiles(location: path), name: "oci:\(path)")
        var index = FileManager.default.fileExists(atPath: "\(path)/index.json") ? try reader.index() : ImageIndex(manifests: [])
        var entry = descriptor
        let refName = OCILayoutReader.refName
        if let reference {
            entry.annotations = (entry.annotations ?? [:]).merging([refName: reference]) { $1 }
            index.manifests.removeAll { $0.annotations?[refName] == reference }
        } else {
            index.manifests.removeAll { $0.digest == descriptor.digest && $0.annotations?[refName] == nil }
        }
        index.manifests.append(entry)
        index.mediaType = MediaType.ociIndex
        try writeIndex(index)
    }
}

public struct OCILayoutSource: ImageSource {
    public let name: ImageName
    let reader: OCILayoutReader
    let top: Descriptor

    init(files: any LayoutFiles, reference: String?, name: ImageName) throws {
        self.name = name
        reader = OCILayoutReader(files: files, name: name.description)
        top = try reader.entry(reference)
    }

    public func manifest(_ digest: Digest?) async throws -> RawManifest {
        let wanted = digest ?? top.digest
        let bytes = try reader.readBlob(wanted)
        let mediaType = (try? ManifestSummary(parsing: bytes, contentType: nil).mediaType) ?? top.mediaType
        return RawManifest(bytes: bytes, mediaType: mediaType, digest: wanted)
    }

    public func blob(_ descriptor: Descriptor) async throws -> BlobStream {
        try reader.streamBlob(descriptor.digest)
    }
}

public struct OCILayoutDestination: ImageDestination {
    public let name: ImageName
    let layout: OCILayout
    let reference: String?
    private let pending = PendingEntry()

    init(path: String, reference: String?, name: ImageName) throws {
        self.name = name
        layout = OCILayout(path: path)
        self.reference = reference
        try layout.create()
    }

    public var supportedManifestTypes: [String]? { [MediaType.ociManifest, MediaType.ociIndex] }
    public var blobScope: String { "oci:\(layout.path)" }
    public var layerCompression: LayerCompressionPolicy { .compress }

    public func reuse(_ descriptor: Descriptor, knownLocations: [BlobLocation]) async throws -> Bool {
        let attributes = try? FileManager.default.attributesOfItem(atPath: layout.blobPath(descriptor.digest))
        return (attributes?[.size] as? NSNumber)?.int64Value == descriptor.size
    }

    public func putBlob(_ stream: BlobStream, expected: Descriptor?) async throws -> (digest: Digest, size: Int64) {
        let algorithm = expected?.digest.algorithm ?? .sha256
        return try await AtomicFile.write(stream, into: "\(layout.path)/blobs/\(algorithm.rawValue)", expected: expected) { $0.encoded }
    }

    public func putManifest(_ manifest: RawManifest, topLevel: Bool) async throws {
        if !FileManager.default.fileExists(atPath: layout.blobPath(manifest.digest)) {
            try AtomicFile.write(manifest.bytes, to: layout.blobPath(manifest.digest))
        }
        if topLevel {
            pending.set(Descriptor(mediaType: manifest.mediaType, digest: manifest.digest, size: Int64(manifest.bytes.count)))
        }
    }

    public func commit() async throws {
        guard let entry = pending.value else { return }
        try layout.addToIndex(entry, reference: reference)
    }
}

/// The top-level descriptor a destination records at commit.
final class PendingEntry: Sendable {
    private let state = Mutex<Descriptor?>(nil)
    var value: Descriptor? { state.withLock { $0 } }
    func set(_ descriptor: Descriptor) { state.withLock { $0 = descriptor } }
}
