import Foundation
import OCI
import RegistryClient
import Transports

/// Berth's local images and containers under one root (`$BERTH_ROOT`, else `/var/lib/berth` for
/// root and `$XDG_DATA_HOME/berth` otherwise): `images/` is an OCI image layout whose entries
/// are named by image reference (so `copy` reads and writes it as `oci:<root>/images:<name>`),
/// `containers/<id>/` holds each container's bundle and record, `layers/` the unpacked layer
/// cache, `runtime/` the OCI runtime's state.
public struct LocalStore: Sendable {
    public let root: String

    /// The image layout's name annotation, which holds each image's stored name.
    static let refName = "org.opencontainers.image.ref.name"

    /// The OCI runtime's state: under the store as root; rootless, in the user's run directory
    /// (`$XDG_RUNTIME_DIR/berth`, which goes away with the user's session, as the containers do).
    /// Settled once: every runtime command and the monitor's loop read it.
    public let runtimeState: String

    public init(root: String) {
        self.root = root
        let run = HostUser.inUserNamespace ? try? Rootless.runDirectory(environment: ProcessInfo.processInfo.environment) : nil
        runtimeState = run.map { "\($0)/runtime" } ?? "\(root)/runtime"
    }

    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let root = environment["BERTH_ROOT"], !root.isEmpty { return root }
        if HostUser.isRoot { return "/var/lib/berth" }
        let data = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(environment["HOME"] ?? NSHomeDirectory())/.local/share"
        return "\(data)/berth"
    }

    public var imagesPath: String { "\(root)/images" }
    public var containersPath: String { "\(root)/containers" }
    /// One file per container name, holding the id of the container that has it.
    public var containerNamesPath: String { "\(root)/container-names" }
    var layersPath: String { "\(root)/layers" }
    /// Where a successful overlay probe is remembered (with the boot it was made in).
    var overlayNote: String { "\(root)/overlay-probed" }

    public func image(_ name: String) -> ImageName { .oci(path: imagesPath, reference: name) }

    /// What an image argument is stored as: a registry reference's full name (docker.io and
    /// `latest` filled in, as podman does), or `localhost/<name>:<tag>` for a layout or archive.
    public static func storedName(for name: ImageName) -> String {
        switch name {
        case .docker(let reference): return reference.description
        case .oci(let path, let reference), .ociArchive(let path, let reference): return localName(path, reference)
        case .dir(let path): return localName(path, nil)
        case .dockerArchive(let path, let reference, _): return reference?.description ?? localName(path, nil)
        }
    }

    private static func localName(_ path: String, _ tag: String?) -> String {
        let base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent.lowercased()
            .map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? String($0) : "-" }.joined()
        let validTag = tag.flatMap { $0.allSatisfy { $0.isLetter || $0.isNumber || "._-".contains($0) } ? $0 : nil }
        return "localhost/\(base.isEmpty ? "image" : base):\(validTag ?? "latest")"
    }

    public struct Image: Sendable {
        public let name: String
        public let digest: Digest
        public let size: Int64
        public let created: String?
    }

    func index() throws -> ImageIndex {
        let file = "\(imagesPath)/index.json"
        guard let data = FileManager.default.contents(atPath: file) else { return ImageIndex(manifests: []) }
        do { return try JSONDecoder().decode(ImageIndex.self, from: data) } catch { throw RuntimeError.io(file, "not an image index") }
    }

    public func images() throws -> [Image] {
        try index().manifests.compactMap { entry in
            guard let name = entry.annotations?[Self.refName] else { return nil }
            let manifest = try? JSONDecoder().decode(ImageManifest.self, from: Data(blob(entry.digest)))
            let config = manifest.flatMap { try? JSONDecoder().decode(ImageConfig.self, from: Data(blob($0.config.digest))) }
            let size = manifest.map { $0.layers.reduce($0.config.size) { $0 + $1.size } } ?? 0
            return Image(name: name, digest: entry.digest, size: size, created: config?.created)
        }
    }

    /// Reads only `index.json` (every `run` asks, before anything else).
    public func contains(_ name: String) throws -> Bool {
        try index().manifests.contains { $0.annotations?[Self.refName] == name }
    }

    func blob(_ digest: Digest) throws -> [UInt8] {
        let path = "\(imagesPath)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
        guard let data = FileManager.default.contents(atPath: path) else { throw RuntimeError.io(path, "missing blob \(digest)") }
        guard Digest.of(Array(data), algorithm: digest.algorithm) == digest else { throw RuntimeError.io(path, "blob does not match \(digest)") }
        return Array(data)
    }

    func blobPath(_ digest: Digest) -> String { "\(imagesPath)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)" }

    /// Copies `source` (this machine's platform) into the store under `name`.
    public func pull(_ source: any ImageSource, as name: String, options: CopyOptions = CopyOptions()) async throws -> Digest {
        try FileManager.default.createDirectory(atPath: imagesPath, withIntermediateDirectories: true)
        var options = options
        options.selection = .system
        options.copyAttachments = false
        options.removeSignatures = true
        let destination = image(name)
        return try await Copier.copy(from: source, to: { try destination.openDestination(AccessOptions()) }, options: options).digest
    }

    /// Forgets `name` and deletes the blobs no other image uses.
    public func remove(_ name: String) throws {
        guard try contains(name) else { throw RuntimeError.notFound("no image named \(name) in \(imagesPath)") }
        let lock = try FileLockHandle(imagesPath)
        defer { lock.unlock() }
        var index = try index()
        index.manifests.removeAll { $0.annotations?[Self.refName] == name }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        let temporary = "\(imagesPath)/.index.json.tmp"
        try encoder.encode(index).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, "\(imagesPath)/index.json") == 0 else { throw RuntimeError.io(imagesPath, String(cString: strerror(errno))) }
        var keep: Set<Digest> = []
        for entry in index.manifests {
            keep.insert(entry.digest)
            guard let manifest = try? JSONDecoder().decode(ImageManifest.self, from: Data(blob(entry.digest))) else { continue }
            keep.insert(manifest.config.digest)
            for layer in manifest.layers { keep.insert(layer.digest) }
        }
        var chains: Set<Digest> = []
        for entry in index.manifests {
            guard let manifest = try? JSONDecoder().decode(ImageManifest.self, from: Data(blob(entry.digest))),
                let config = try? JSONDecoder().decode(ImageConfig.self, from: Data(blob(manifest.config.digest)))
            else { continue }
            chains.formUnion(LayerCache.chainIDs(config.rootfs?.diffIDs ?? []))
        }
        LayerCache(directory: layersPath).prune(keeping: chains)
        let directory = "\(imagesPath)/blobs/sha256"
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let digest = try? Digest(parsing: "sha256:\(file)"), !keep.contains(digest) else { continue }
            try? FileManager.default.removeItem(atPath: "\(directory)/\(file)")
        }
    }
}

/// An exclusive `flock` on a directory while the store's index changes (the same lock the
/// layout writer takes).
struct FileLockHandle {
    let fd: Int32
    init(_ path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeError.io(path, String(cString: strerror(errno))) }
        flock(fd, LOCK_EX)
    }
    func unlock() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
