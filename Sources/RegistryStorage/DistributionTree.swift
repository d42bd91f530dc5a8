import Foundation
import OCI

/// A CNCF distribution filesystem storage tree (`<rootdirectory>/docker/registry/v2/…`) read as a
/// registry, so `berth storage import-distribution` can move its data into Berth:
/// `blobs/<alg>/<2 hex>/<hex>/data` holds every blob and manifest; under
/// `repositories/<name>/`, `_layers/<alg>/<hex>/link` makes a blob visible,
/// `_manifests/revisions/<alg>/<hex>/link` a manifest, `_manifests/tags/<tag>/current/link` a tag.
/// Read only; nothing in the tree changes.
public struct DistributionTree: RegistrySource {
    public let root: URL
    private let v2: URL

    public init(root: URL) throws(DistributionTreeError) {
        self.root = root
        v2 = root.appendingPathComponent("docker/registry/v2")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: v2.appendingPathComponent("repositories").path, isDirectory: &isDirectory), isDirectory.boolValue
        else { throw .notATree(root.path) }
    }

    /// Directories under `repositories/` that hold `_manifests` or `_layers` (names may nest).
    public func repositoryNames() async throws -> [RepositoryName] {
        let top = v2.appendingPathComponent("repositories")
        var found: [RepositoryName] = []
        var pending = [""]
        while let relative = pending.popLast() {
            let directory = relative.isEmpty ? top : top.appendingPathComponent(relative)
            let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            if entries.contains("_manifests") || entries.contains("_layers") {
                guard let name = try? RepositoryName(parsing: relative) else { throw DistributionTreeError.badName(relative) }
                found.append(name)
            }
            for entry in entries where !entry.hasPrefix("_") && isDirectory(directory.appendingPathComponent(entry)) {
                pending.append(relative.isEmpty ? entry : "\(relative)/\(entry)")
            }
        }
        return found.sorted()
    }

    public func inventory(_ repository: RepositoryName) async throws -> RepositoryInventory {
        let base = v2.appendingPathComponent("repositories/\(repository.value)")
        var blobs: [StorageBlob] = []
        for digest in try links(under: base.appendingPathComponent("_layers")) {
            // A link whose bytes are gone is a blob distribution itself answers 404 for.
            if let size = try blobSize(digest) { blobs.append(StorageBlob(digest: digest, size: size)) }
        }
        let manifests = try links(under: base.appendingPathComponent("_manifests/revisions")).filter { (try? blobSize($0)) != nil }
        var tags: [String: Digest] = [:]
        let tagsDirectory = base.appendingPathComponent("_manifests/tags")
        for tag in (try? FileManager.default.contentsOfDirectory(atPath: tagsDirectory.path)) ?? [] {
            let link = tagsDirectory.appendingPathComponent("\(tag)/current/link")
            guard let digest = try readLink(link) else { continue }
            guard (try? Tag(parsing: tag)) != nil else { throw DistributionTreeError.badName("\(repository.value):\(tag)") }
            tags[tag] = digest
        }
        return RepositoryInventory(blobs: blobs.sorted { $0.digest.description < $1.digest.description }, manifests: manifests, tags: tags)
    }

    public func storedManifest(_ repository: RepositoryName, _ digest: Digest) async throws -> StoredManifest {
        let path = dataPath(digest)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        // Manifests are small; a "manifest" of many MiB is not one this tree's registry accepted.
        guard let size = attributes[.size] as? Int, size <= 16 << 20 else { throw DistributionTreeError.notAManifest(digest, "larger than 16 MiB") }
        let payload = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        guard Digest.of(payload, algorithm: digest.algorithm) == digest else { throw DistributionTreeError.corrupt(digest) }
        do {
            return StoredManifest(digest: digest, mediaType: try ManifestSummary(parsing: payload, contentType: nil).mediaType, payload: payload)
        } catch {
            throw DistributionTreeError.notAManifest(digest, error.description)
        }
    }

    /// distribution's signatures are schema 1 JWS, not the extension API's: there are none to copy.
    public func signatures(_ repository: RepositoryName, _ digest: Digest) async throws -> [StoredSignature] { [] }

    public func openBlob(_ digest: Digest) async throws -> any BlobReader { try FileBlobReader(path: dataPath(digest)) }

    private func dataPath(_ digest: Digest) -> String {
        v2.appendingPathComponent("blobs/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))/\(digest.encoded)/data").path
    }

    private func blobSize(_ digest: Digest) throws -> Int64? {
        var st = stat()
        guard stat(dataPath(digest), &st) == 0 else {
            if errno == ENOENT { return nil }
            throw StorageIOError.system("stat", dataPath(digest), errno)
        }
        return Int64(st.st_size)
    }

    /// The digests of `<directory>/<alg>/<hex>/link` files whose content names their own directory.
    private func links(under directory: URL) throws -> [Digest] {
        var digests: [Digest] = []
        for algorithm in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
            for hex in (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent(algorithm).path)) ?? [] {
                guard let digest = try readLink(directory.appendingPathComponent("\(algorithm)/\(hex)/link")) else { continue }
                guard digest.description == "\(algorithm):\(hex)" else { throw DistributionTreeError.badLink(directory.appendingPathComponent("\(algorithm)/\(hex)/link").path) }
                digests.append(digest)
            }
        }
        return digests.sorted { $0.description < $1.description }
    }

    /// The digest a link file holds; nil when there is no link file.
    private func readLink(_ url: URL) throws -> Digest? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        guard let digest = try? Digest(parsing: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw DistributionTreeError.badLink(url.path)
        }
        return digest
    }

    private func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}

public enum DistributionTreeError: Error, CustomStringConvertible {
    case notATree(String)
    case badName(String)
    case badLink(String)
    case corrupt(Digest)
    case notAManifest(Digest, String)

    public var description: String {
        switch self {
        case .notATree(let root): "\(root) is not a distribution storage root (no docker/registry/v2/repositories under it)"
        case .badName(let name): "'\(name)' is not a valid repository or tag name"
        case .badLink(let path): "\(path): not a link file naming its own digest"
        case .corrupt(let digest): "the stored bytes of \(digest) do not match their digest"
        case .notAManifest(let digest, let reason): "\(digest) is not a manifest Berth stores: \(reason)"
        }
    }
}
