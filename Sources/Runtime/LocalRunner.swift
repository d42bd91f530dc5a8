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

    /// Runs `image` (already in the store) in the foreground and returns the container's exit
    /// status. With `remove`, the container is deleted afterwards (also when it could not start).
    public func run(image: String, name: String?, options: RunOptions, remove: Bool) async throws -> Int32 {
        let containers = Containers(store: store)
        var record = try await create(image: image, name: name, options: options)
        let directory = containers.directory(record.id)
        let rootfs = "\(directory)/bundle/rootfs"
        var forwarder: PortForwarder?
        defer { forwarder?.close() }
        do {
            forwarder = try PortForwarder(Self.published(options, exposed: record.exposedPorts))
            record.ports = forwarder?.mappings.isEmpty == false ? forwarder?.mappings : nil
            record.status = "running"
            record.pid = getpid()
            record.startedAt = Date()
            try containers.save(record)
            let pidFile = "\(directory)/pid"
            let status: Int32
            if case .slirp(let network) = options.network {
                // Its network is up before its process starts: create, connect, start.
                var slirp: ChildProcess?
                defer { slirp.map(SlirpNetwork.detach) }
                status = try await runtime.run(bundle: "\(directory)/bundle", id: record.id, state: store.runtimeState, pidFile: pidFile) { pid in
                    slirp = try network.attach(to: pid)
                    forwarder?.forward(to: pid)
                }
            } else {
                let watcher = Task { [forwarder] in
                    // The runtime writes PID 1's pid once the container exists; ports open then.
                    for _ in 0..<600 {
                        if let pid = PidFile.read(pidFile) {
                            forwarder?.forward(to: pid)
                            return
                        }
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
                defer { watcher.cancel() }
                status = try await runtime.run(bundle: "\(directory)/bundle", id: record.id, state: store.runtimeState, pidFile: pidFile)
            }
            if record.lowerDirs != nil { OverlayMount.unmount(rootfs) }
            record.status = "exited"
            record.exitCode = status
            record.finishedAt = Date()
            record.pid = nil
            if remove { try? containers.remove(record) } else { try containers.save(record) }
            return status
        } catch {
            if record.lowerDirs != nil { OverlayMount.unmount(rootfs) }
            record.pid = nil
            if remove { try? containers.remove(record) } else { try? containers.save(record) }
            throw error
        }
    }

    /// `run -d`: the container (its id `monitor`'s) handed to its monitor, started ahead by
    /// `ContainerLifecycle.startMonitor`; returns once it runs.
    public func runDetached(
        image: String, name: String?, options: RunOptions, remove: Bool, lifecycle: ContainerLifecycle, monitor: PendingMonitor
    ) async throws -> ContainerRecord {
        var record = try await create(image: image, name: name, options: options, id: monitor.id)
        record.autoRemove = remove
        record.restartPolicy = options.restartPolicy.description
        record.logMaxSize = options.logMaxSize
        record.stopTimeout = options.stopTimeout
        let ports = Self.published(options, exposed: record.exposedPorts)
        record.ports = ports.isEmpty ? nil : ports
        do {
            return try await lifecycle.start(record, mounted: true, monitor: monitor)
        } catch {
            try? lifecycle.containers.remove(lifecycle.containers.load(record.id) ?? record)
            throw error
        }
    }

    /// `-p`, and with `-P` every exposed TCP port not named by one, on a free port of every address.
    static func published(_ options: RunOptions, exposed: [String]?) -> [PortMapping] {
        var ports = options.ports
        guard options.publishExposed else { return ports }
        for entry in exposed ?? [] {
            let parts = entry.split(separator: "/")
            guard let port = Int(parts[0]), parts.count == 1 || parts[1] == "tcp", !ports.contains(where: { $0.containerPort == port }) else { continue }
            ports.append(PortMapping(hostIP: "0.0.0.0", hostPort: 0, containerPort: port))
        }
        return ports
    }

    /// A new container: its bundle prepared (the overlay mounted where the machine allows it),
    /// its command checked, its record saved; nothing is left behind when a step fails.
    private func create(image: String, name: String?, options: RunOptions, id: String = Containers.newID()) async throws -> ContainerRecord {
        let containers = Containers(store: store)
        var record = try containers.create(name: name, image: image, runtime: runtime, id: id)
        let directory = containers.directory(record.id)
        let rootfs = "\(directory)/bundle/rootfs"
        var layers: [String]?
        do {
            let spec: RuntimeSpec
            (spec, layers) = try await Self.prepare(
                store: store, image: image, rootfs: rootfs, container: directory, options: options, hostname: String(record.id.prefix(12)))
            try writeContainerFile("\(directory)/bundle/config.json", try spec.encoded())
            try ContainerFiles.write(bundle: "\(directory)/bundle", spec: spec, network: options.network, name: record.name)
            try Self.checkExecutable(spec, rootfs: rootfs)
            record.command = spec.command
            record.network = options.network.description
            record.lowerDirs = layers
            record.initPath = options.initPath
            record.stopSignal = options.stopSignal ?? spec.annotations["org.opencontainers.image.stopSignal"]
            record.exposedPorts = spec.annotations["org.opencontainers.image.exposedPorts"]?.split(separator: ",").map(String.init)
            try containers.save(record)
            return record
        } catch {
            if layers != nil { OverlayMount.unmount(rootfs) }
            try? containers.remove(record)
            throw error
        }
    }

    /// A bundle (`rootfs/`, `config.json` with the image's defaults and the files it mounts) for
    /// any OCI runtime.
    public static func unpack(store: LocalStore, image: String, bundle: String) async throws {
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        let options = RunOptions()
        let (spec, _) = try await prepare(store: store, image: image, rootfs: "\(bundle)/rootfs", container: nil, options: options, hostname: "berth")
        try writeContainerFile("\(bundle)/config.json", try spec.encoded())
        try ContainerFiles.write(bundle: bundle, spec: spec, network: options.network, name: nil)
    }

    /// The image's root filesystem at `rootfs` and its runtime spec. For a container (with its
    /// directory) the cached layers are stacked with overlayfs where the machine allows it (the
    /// layers mounted are returned), else every layer is unpacked into `rootfs`.
    static func prepare(store: LocalStore, image: String, rootfs: String, container: String?, options: RunOptions, hostname: String) async throws
        -> (RuntimeSpec, layers: [String]?)
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
        var mounted: [String]?
        if let container, LayerCache.overlayAvailable(in: store.layersPath, note: store.overlayNote) {
            let layers = try await LayerCache(directory: store.layersPath).prepare(manifest.layers, diffIDs: diffIDs, source: source)
            try OverlayMount.mount(layers: layers, container: container, rootfs: rootfs)
            mounted = layers
        } else {
            let unpacker = LayerUnpacker(rootfs: rootfs)
            for (layer, diffID) in zip(manifest.layers, diffIDs) { try await apply(layer, diffID: diffID, from: source, with: unpacker) }
        }
        do {
            var named = options
            if named.hostname == nil { named.hostname = hostname }
            return (try RuntimeSpec(image: config, options: named, rootfs: rootfs, name: hostname), mounted)
        } catch {
            if mounted != nil { OverlayMount.unmount(rootfs) }
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
        try checkExecutable(spec.command[0], process: spec.process, rootfs: rootfs)
    }

    static func checkExecutable(_ program: String, process: RuntimeSpec.Process, rootfs: String) throws {
        let root = RootPath(root: rootfs)
        var candidates: [String] = []
        if program.contains("/") {
            candidates = [program.hasPrefix("/") ? program : process.cwd + "/" + program]
        } else {
            let path = process.env.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? ""
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
