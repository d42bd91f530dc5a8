import Foundation
import OCI
import RegistryClient
import Transports

/// `berth run`: a stored image unpacked into a new container's bundle (each layer checked
/// against its diff_id as it streams), its `config.json` generated, and the runtime started.
public struct LocalRunner: Sendable {
    public let store: LocalStore
    public let runtime: OCIRuntime

    public init(store: LocalStore, runtime: OCIRuntime) {
        self.store = store
        self.runtime = runtime
    }

    /// Runs `image` (already in the store) and returns the container's exit status. With
    /// `remove`, the container is deleted afterwards (also when it could not start).
    public func run(image: String, name: String?, options: RunOptions, remove: Bool) async throws -> Int32 {
        let containers = Containers(store: store)
        var record = try containers.create(name: name, image: image, runtime: runtime.name)
        let directory = containers.directory(record.id)
        let rootfs = "\(directory)/bundle/rootfs"
        var mounted = false
        do {
            let spec: RuntimeSpec
            (spec, mounted) = try await Self.prepare(
                store: store, image: image, rootfs: rootfs, container: directory, options: options, hostname: String(record.id.prefix(12)))
            try Data(try spec.encoded()).write(to: URL(fileURLWithPath: "\(directory)/bundle/config.json"))
            try Self.checkExecutable(spec, rootfs: rootfs)
            record.command = spec.process.args
            record.status = "running"
            record.pid = getpid()
            try containers.save(record)
            let status = try await runtime.run(bundle: "\(directory)/bundle", id: record.id, state: store.runtimeState)
            if mounted { OverlayMount.unmount(rootfs) }
            record.status = "exited"
            record.exitCode = status
            record.pid = nil
            if remove { try? containers.remove(record) } else { try containers.save(record) }
            return status
        } catch {
            if mounted { OverlayMount.unmount(rootfs) }
            if remove || record.status == "created" { try? containers.remove(record) }
            throw error
        }
    }

    /// A bundle (`rootfs/` and `config.json` with the image's defaults) for any OCI runtime.
    public static func unpack(store: LocalStore, image: String, bundle: String) async throws {
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        let (spec, _) = try await prepare(store: store, image: image, rootfs: "\(bundle)/rootfs", container: nil, options: RunOptions(), hostname: "berth")
        try Data(try spec.encoded()).write(to: URL(fileURLWithPath: "\(bundle)/config.json"))
    }

    /// The image's root filesystem at `rootfs` and its runtime spec. For a container (with its
    /// directory) the cached layers are stacked with overlayfs where the machine allows it
    /// (`mounted`), else every layer is unpacked into `rootfs`.
    static func prepare(store: LocalStore, image: String, rootfs: String, container: String?, options: RunOptions, hostname: String) async throws
        -> (RuntimeSpec, mounted: Bool)
    {
        let source = try store.image(image).openSource(AccessOptions())
        let top = try await source.manifest(nil)
        guard let manifest = try? JSONDecoder().decode(ImageManifest.self, from: Data(top.bytes)) else {
            throw RuntimeError.invalidArgument("\(image) is not a single image (its manifest is \(top.mediaType))")
        }
        let config = try JSONDecoder().decode(ImageConfig.self, from: Data(try store.blob(manifest.config.digest)))
        let diffIDs = config.rootfs?.diffIDs ?? []
        guard diffIDs.count == manifest.layers.count else {
            throw RuntimeError.invalidArgument("\(image): the config lists \(diffIDs.count) diff_ids for \(manifest.layers.count) layers")
        }
        try FileManager.default.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        chmod(rootfs, 0o755)
        var mounted = false
        if let container, LayerCache.overlayAvailable(in: store.layersPath, note: store.overlayNote) {
            let layers = try await LayerCache(directory: store.layersPath).prepare(manifest.layers, diffIDs: diffIDs, source: source)
            try OverlayMount.mount(layers: layers, container: container, rootfs: rootfs)
            mounted = true
        } else {
            let unpacker = LayerUnpacker(rootfs: rootfs)
            for (layer, diffID) in zip(manifest.layers, diffIDs) { try await apply(layer, diffID: diffID, from: source, with: unpacker) }
        }
        do {
            var named = options
            if named.hostname == nil { named.hostname = hostname }
            return (try RuntimeSpec(image: config, options: named, rootfs: rootfs, name: hostname), mounted)
        } catch {
            if mounted { OverlayMount.unmount(rootfs) }
            throw error
        }
    }

    /// Applies one layer, its uncompressed bytes checked against `diffID` as they stream.
    static func apply(_ layer: Descriptor, diffID: Digest, from source: any ImageSource, with unpacker: LayerUnpacker) async throws {
        let tar = DigestingSequence(AnyBlobStream(decompressedLayer(try await source.blob(layer), mediaType: layer.mediaType)), expected: diffID)
        do {
            try await unpacker.apply(tar, layer: layer.digest.description)
        } catch let error as ClientError {
            throw RuntimeError.badLayer(layer: layer.digest.description, entry: "", "its content does not match its diff_id \(diffID) (\(error))")
        }
    }

    /// Finds the command in the rootfs first, so a missing or non-executable program is a clear
    /// message and podman's exit statuses (127, 126) rather than the runtime's generic 1.
    static func checkExecutable(_ spec: RuntimeSpec, rootfs: String) throws {
        let program = spec.process.args[0]
        let root = RootPath(root: rootfs)
        var candidates: [String] = []
        if program.contains("/") {
            candidates = [program.hasPrefix("/") ? program : spec.process.cwd + "/" + program]
        } else {
            let path = spec.process.env.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? ""
            candidates = path.split(separator: ":").map { "\($0)/\(program)" }
        }
        for candidate in candidates {
            guard let resolved = try? root.resolve(RootPath.clean(candidate), followLast: true) else { continue }
            var info = stat()
            guard stat(resolved, &info) == 0, info.st_mode & S_IFMT != S_IFDIR else { continue }
            guard info.st_mode & 0o111 != 0 else { throw ExitStatusError(status: 126, message: "\(program): permission denied (not executable)") }
            return
        }
        throw ExitStatusError(status: 127, message: "\(program): executable file not found in the image\(program.contains("/") ? "" : "'s $PATH")")
    }
}

/// A failure that has its own exit status (126, 127, as podman and shells use them).
public struct ExitStatusError: Error, CustomStringConvertible {
    public let status: Int32
    public let message: String
    public var description: String { message }
}
