import Foundation
import Synchronization
import OCI

/// skopeo's `dir:` format: `manifest.json`, blobs named by their hex digest, a `version` file, and
/// for a multi-platform copy each child manifest as `<hex>.manifest.json`.
enum DirFormat {
    static let version = "Directory Transport Version: 1.1\n"

    static func blob(_ digest: Digest) -> String {
        digest.algorithm == .sha256 ? digest.encoded : "\(digest.algorithm.rawValue)-\(digest.encoded)"
    }

    static func childManifest(_ digest: Digest) -> String { "\(blob(digest)).manifest.json" }

    /// `signature-N` for the top-level manifest, `<hex>.signature-N` for an instance of an index.
    static func signature(_ number: Int, instance: Digest?) -> String {
        instance.map { "\(blob($0)).signature-\(number)" } ?? "signature-\(number)"
    }
}

public struct DirSource: ImageSource {
    public let name: ImageName
    let path: String

    public init(path: String) throws {
        name = .dir(path: path)
        self.path = path
        guard FileManager.default.fileExists(atPath: "\(path)/manifest.json") else {
            throw TransportError.notFound(name.description, "no manifest.json in \(path)")
        }
    }

    public func manifest(_ digest: Digest?) async throws -> RawManifest {
        let file = digest.map { "\(path)/\(DirFormat.childManifest($0))" } ?? "\(path)/manifest.json"
        let bytes = try readFile(file)
        let computed = Digest.of(bytes, algorithm: digest?.algorithm ?? .sha256)
        if let digest, computed != digest { throw TransportError.invalidContent(name.description, "\(file) does not match \(digest)") }
        let mediaType = (try? ManifestSummary(parsing: bytes, contentType: nil).mediaType) ?? MediaType.ociManifest
        return RawManifest(bytes: bytes, mediaType: mediaType, digest: computed)
    }

    /// `signature-1`, `signature-2`, … until one is missing (`<hex>.signature-N` for an instance
    /// of an index): OpenPGP messages and `\0sigstore-json` blobs alike, kept as stored.
    public func signatures(for digest: Digest) async throws -> [[UInt8]] {
        let top = Digest.of(try readFile("\(path)/manifest.json"), algorithm: digest.algorithm)
        var found: [[UInt8]] = []
        for number in 1...10_000 {
            let file = DirFormat.signature(number, instance: digest == top ? nil : digest)
            guard let data = FileManager.default.contents(atPath: "\(path)/\(file)") else { break }
            found.append(Array(data))
        }
        return found
    }

    public func blob(_ descriptor: Descriptor) async throws -> BlobStream {
        let file = "\(path)/\(DirFormat.blob(descriptor.digest))"
        guard FileManager.default.fileExists(atPath: file) else {
            throw TransportError.invalidContent(name.description, "blob \(descriptor.digest) is missing")
        }
        return FileChunks(path: file)
    }
}

/// Writes skopeo's `dir:` format. An earlier `dir:` copy in the same place is updated in place:
/// its blobs are reused, and files the new image does not use are removed at commit. A directory
/// holding anything else is refused.
public struct DirDestination: ImageDestination {
    public let name: ImageName
    let path: String
    let layerPolicy: LayerCompressionPolicy
    private let written = WrittenFiles()

    public init(path: String, decompress: Bool = false) throws {
        name = .dir(path: path)
        self.path = path
        layerPolicy = decompress ? .decompress : .preserve
        let manager = FileManager.default
        // Temporary files of ours only (a copy killed before it wrote `version`) do not make a
        // directory someone else's.
        if let contents = try? manager.contentsOfDirectory(atPath: path), contents.contains(where: { !$0.hasPrefix(".berth-tmp-") }) {
            let version = (try? String(contentsOfFile: "\(path)/version", encoding: .utf8)) ?? ""
            guard version == DirFormat.version else {
                throw TransportError.unsupported(name.description, "refusing to overwrite \(path): it is not empty and not a dir: image")
            }
        }
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
            // Marked as a dir: image before any blob lands (as skopeo does), so a copy killed
            // half-way leaves a directory the next run recognises and continues.
            if !manager.fileExists(atPath: "\(path)/version") { try AtomicFile.write(Array(DirFormat.version.utf8), to: "\(path)/version") }
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError.io(path, FileSystemFailure.reason(error))
        }
    }

    public var supportedManifestTypes: [String]? { nil }
    public var layerCompression: LayerCompressionPolicy { layerPolicy }

    public func reuse(_ descriptor: Descriptor, knownLocations: [BlobLocation]) async throws -> Bool {
        let file = DirFormat.blob(descriptor.digest)
        let attributes = try? FileManager.default.attributesOfItem(atPath: "\(path)/\(file)")
        guard (attributes?[.size] as? NSNumber)?.int64Value == descriptor.size else { return false }
        written.add(file)
        return true
    }

    public func putBlob(_ stream: BlobStream, expected: Descriptor?) async throws -> (digest: Digest, size: Int64) {
        let result = try await AtomicFile.write(stream, into: path, expected: expected) { DirFormat.blob($0) }
        written.add(DirFormat.blob(result.digest))
        return result
    }

    public func putManifest(_ manifest: RawManifest, topLevel: Bool) async throws {
        let file = topLevel ? "manifest.json" : DirFormat.childManifest(manifest.digest)
        try AtomicFile.write(manifest.bytes, to: "\(path)/\(file)")
        written.add(file)
        if topLevel { written.topLevel = manifest.digest }
    }

    public func checkCanSign(sigstore: Bool) throws {}

    /// The top-level manifest's signatures are stored after it (the copier's order), so any
    /// other digest is an instance's.
    public func putSignatures(_ signatures: [[UInt8]], for digest: Digest) async throws {
        let instance = written.topLevel == digest ? nil : digest
        for (index, signature) in signatures.enumerated() {
            let file = DirFormat.signature(index + 1, instance: instance)
            try AtomicFile.write(signature, to: "\(path)/\(file)")
            written.add(file)
        }
    }

    /// Removes what an earlier copy left that this image does not use.
    public func commit() async throws {
        let keep = written.all.union(["version", "manifest.json"])
        for file in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where !keep.contains(file) {
            try? FileManager.default.removeItem(atPath: "\(path)/\(file)")
        }
    }
}

final class WrittenFiles: Sendable {
    private let files = Mutex<Set<String>>([])
    private let top = Mutex<Digest?>(nil)
    func add(_ file: String) { files.withLock { _ = $0.insert(file) } }
    var all: Set<String> { files.withLock { $0 } }
    /// The digest of the top-level manifest, once written.
    var topLevel: Digest? {
        get { top.withLock { $0 } }
        set { top.withLock { $0 = newValue } }
    }
}
