import Foundation
import OCI
import Transports

/// The runtime-spec `config.json` a bundle is run with (the subset Berth writes).
struct RuntimeSpec: Codable, Equatable {
    struct Process: Codable, Equatable {
        struct User: Codable, Equatable {
            var uid: UInt32
            var gid: UInt32
            var additionalGids: [UInt32]?
        }
        struct Capabilities: Codable, Equatable {
            var bounding: [String]
            var effective: [String]
            var permitted: [String]
        }
        struct Rlimit: Codable, Equatable {
            var type: String
            var hard: UInt64
            var soft: UInt64
        }
        var terminal: Bool
        var user: User
        var args: [String]
        var env: [String]
        var cwd: String
        var capabilities: Capabilities
        var rlimits: [Rlimit]
        var noNewPrivileges: Bool
    }
    struct Root: Codable, Equatable {
        var path: String
        var readonly: Bool
    }
    struct Mount: Codable, Equatable {
        var destination: String
        var type: String?
        var source: String?
        var options: [String]?
    }
    struct Linux: Codable, Equatable {
        struct Namespace: Codable, Equatable { var type: String }
        struct Resources: Codable, Equatable {
            struct Device: Codable, Equatable {
                var allow: Bool
                var access: String
            }
            struct Memory: Codable, Equatable { var limit: Int64 }
            struct CPU: Codable, Equatable {
                var quota: Int64
                var period: UInt64
            }
            struct Pids: Codable, Equatable { var limit: Int64 }
            var devices: [Device]
            var memory: Memory?
            var cpu: CPU?
            var pids: Pids?
        }
        var namespaces: [Namespace]
        var resources: Resources
        var maskedPaths: [String]
        var readonlyPaths: [String]
        var seccomp: SeccompFilter?
        var sysctl: [String: String]? = nil
    }

    var ociVersion = "1.0.2"
    var process: Process
    var root: Root
    var hostname: String
    var mounts: [Mount]
    var annotations: [String: String]
    var linux: Linux

    /// podman's default capability set (containers.conf's `default_capabilities` since podman 4):
    /// docker's without CAP_AUDIT_WRITE, CAP_MKNOD and CAP_NET_RAW.
    static let defaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID",
        "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
    ]
    /// podman's default sysctls (containers.conf's `default_sysctls`), for a container with a
    /// network namespace of its own: ping works without CAP_NET_RAW, over ICMP datagram sockets.
    static let privateNetworkSysctls = ["net.ipv4.ping_group_range": "0 0"]
    static let allCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
        "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ]

    /// The capabilities this process may pass on (its bounding set: `allCapabilities` is in
    /// capability-number order), what `--privileged` and `--cap-add ALL` mean, as in podman. A
    /// runtime asked for more fails (root's bounding set here lacks CAP_SYS_RESOURCE).
    static var boundingCapabilities: [String] {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapBnd:") }),
            let mask = UInt64(line.dropFirst("CapBnd:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return allCapabilities }
        return allCapabilities.enumerated().filter { mask & (1 << UInt64($0.offset)) != 0 }.map(\.element)
    }
    /// Masked and read-only paths as podman 4.3 sets them, with the few later podman and docker
    /// versions added (`/proc/asound`, `/proc/interrupts`, powercap).
    static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
        "/proc/timer_list", "/proc/timer_stats", "/sys/dev/block", "/sys/devices/virtual/powercap", "/sys/firmware", "/sys/fs/selinux",
    ]
    static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    static let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The spec for `image` run with `options`, its rootfs at `rootfs` (read for users).
    init(image: ImageConfig, options: RunOptions, rootfs: String, name: String) throws(RuntimeError) {
        let execution = image.config
        // podman's rule: --entrypoint replaces the image's and drops its Cmd; trailing arguments replace Cmd.
        var entrypoint = execution?.entrypoint ?? []
        if let override = options.entrypoint { entrypoint = override.isEmpty ? [] : [override] }
        let command = !options.command.isEmpty ? options.command : (options.entrypoint == nil ? execution?.cmd ?? [] : [])
        var args = entrypoint + command
        guard !args.isEmpty else { throw .invalidArgument("no command or entrypoint provided, and no CMD or ENTRYPOINT from image") }
        if options.initPath != nil { args = [RunOptions.initMountPoint, "--"] + args }

        let database = UserDatabase(root: RootPath(root: rootfs))
        let user = try database.resolve(options.user ?? execution?.user ?? "")
        var env = execution?.env ?? []
        func has(_ name: String) -> Bool { env.contains { $0.hasPrefix(name + "=") } }
        if !has("PATH") { env.insert(Self.defaultPath, at: 0) }
        if !has("HOME") { env.append("HOME=\(user.home ?? "/")") }
        if !has("HOSTNAME") { env.append("HOSTNAME=\(options.hostname ?? name)") }
        if options.terminal, !has("TERM") { env.append("TERM=xterm") }
        for variable in options.environment {
            let key = variable.split(separator: "=", maxSplits: 1).first.map(String.init) ?? variable
            env.removeAll { $0.hasPrefix(key + "=") }
            env.append(variable)
        }

        // docker's order: drops (ALL empties the set), then adds (ALL fills it).
        var capabilities = user.uid == 0 ? Self.defaultCapabilities : []
        for name in options.capDrop + options.capAdd {
            let capability = Self.capabilityName(name)
            guard capability == "CAP_ALL" || Self.allCapabilities.contains(capability) else { throw .invalidArgument("unknown capability \(name)") }
        }
        let drops = options.capDrop.map(Self.capabilityName)
        capabilities = drops.contains("CAP_ALL") ? [] : capabilities.filter { !drops.contains($0) }
        for added in options.capAdd.map(Self.capabilityName) where !capabilities.contains(added) {
            capabilities = added == "CAP_ALL" ? Self.boundingCapabilities : capabilities + [added]
        }
        if options.privileged { capabilities = Self.boundingCapabilities }

        process = Process(
            terminal: options.terminal, user: .init(uid: user.uid, gid: user.gid, additionalGids: user.additionalGids.isEmpty ? nil : user.additionalGids),
            args: args, env: env, cwd: options.workingDirectory ?? (execution?.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"),
            capabilities: .init(bounding: capabilities, effective: capabilities, permitted: capabilities),
            rlimits: [Self.openFilesLimit], noNewPrivileges: options.noNewPrivileges)
        root = Root(path: "rootfs", readonly: options.readOnly)
        hostname = options.hostname ?? name
        mounts = [
            Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]),
            Mount(destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
            Mount(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
            Mount(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ]
        if HostUser.inUserNamespace {
            // Rootless: the host's network namespace is not ours to mount sysfs for.
            if options.network == .host, let sys = mounts.firstIndex(where: { $0.destination == "/sys" }) {
                mounts[sys] = Mount(destination: "/sys", type: "bind", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"])
            }
        }
        if options.network == .host, FileManager.default.fileExists(atPath: "/etc/resolv.conf") {
            mounts.append(Mount(destination: "/etc/resolv.conf", type: "bind", source: "/etc/resolv.conf", options: ["rbind", "ro"]))
        }
        // Written beside the rootfs by the runner (`ContainerFiles`); writable, as podman has them.
        let bundle = URL(fileURLWithPath: rootfs).deletingLastPathComponent()
        if case .slirp = options.network {
            mounts.append(Mount(destination: "/etc/resolv.conf", type: "bind", source: bundle.appendingPathComponent(ContainerFiles.resolvConf).path, options: ["rbind", "ro"]))
        }
        for file in [ContainerFiles.hostname, ContainerFiles.hosts] {
            mounts.append(Mount(destination: "/etc/\(file)", type: "bind", source: bundle.appendingPathComponent(file).path, options: ["bind", "rprivate"]))
        }
        if let initPath = options.initPath {
            mounts.append(Mount(destination: RunOptions.initMountPoint, type: "bind", source: initPath, options: ["bind", "ro", "nosuid", "nodev"]))
        }
        for volume in options.volumes { mounts.append(try Self.bindMount(volume)) }
        for path in (execution?.volumes ?? [:]).keys.sorted() where !mounts.contains(where: { $0.destination == path }) {
            mounts.append(Mount(destination: path, type: "tmpfs", source: "tmpfs", options: ["rw", "nosuid", "nodev"]))
        }

        var annotations: [String: String] = [:]
        if let os = image.os { annotations["org.opencontainers.image.os"] = os }
        if let architecture = image.architecture { annotations["org.opencontainers.image.architecture"] = architecture }
        if let created = image.created { annotations["org.opencontainers.image.created"] = created }
        if let stop = execution?.stopSignal { annotations["org.opencontainers.image.stopSignal"] = stop }
        if let ports = execution?.exposedPorts, !ports.isEmpty { annotations["org.opencontainers.image.exposedPorts"] = ports.keys.sorted().joined(separator: ",") }
        // Labels win over the implicit annotations (conversion.md).
        for (key, value) in execution?.labels ?? [:] { annotations[key] = value }
        self.annotations = annotations

        var namespaces = ["pid", "mount", "ipc", "uts"].map(Linux.Namespace.init)
        if options.network.isPrivate { namespaces.append(.init(type: "network")) }
        var resources = Linux.Resources(devices: [.init(allow: false, access: "rwm")])
        if let limit = options.memoryLimit { resources.memory = .init(limit: limit) }
        if let cpus = options.cpus { resources.cpu = .init(quota: Int64(cpus * 100_000), period: 100_000) }
        if let pids = options.pidsLimit { resources.pids = .init(limit: pids) }
        if HostUser.inUserNamespace {
            // Rootless berth writes no cgroups (cgroup v1 has no delegation, and crun would drop
            // the limits silently): a limit asked for is refused, not ignored.
            guard options.memoryLimit == nil, options.cpus == nil, options.pidsLimit == nil else {
                throw .invalidArgument("--memory, --cpus and --pids-limit are not enforced without root (berth uses no delegated cgroups); run as root for limits")
            }
            resources = Linux.Resources(devices: [])
        }
        if options.privileged {
            if let sys = mounts.firstIndex(where: { $0.destination == "/sys" }), mounts[sys].type == "sysfs" {
                mounts[sys].options = mounts[sys].options?.filter { $0 != "ro" }
            }
            // The host's devices, and access to them.
            if let dev = mounts.firstIndex(where: { $0.destination == "/dev" }), !HostUser.inUserNamespace {
                mounts[dev] = Mount(destination: "/dev", type: "bind", source: "/dev", options: ["rbind", "nosuid"])
                mounts.removeAll { $0.destination == "/dev/pts" || $0.destination == "/dev/shm" || $0.destination == "/dev/mqueue" }
            }
            if !HostUser.inUserNamespace { resources.devices = [.init(allow: true, access: "rwm")] }
        }
        let seccomp: SeccompFilter?
        switch (options.privileged, options.seccomp) {
        case (true, _), (_, .unconfined): seccomp = nil
        case (false, .profile(let path)): seccomp = try SeccompProfile.load(path).filter(capabilities: capabilities)
        case (false, .standard):
            let system = FileManager.default.fileExists(atPath: SeccompProfile.systemDefault) ? try SeccompProfile.load(SeccompProfile.systemDefault) : nil
            seccomp = (system ?? SeccompProfile.builtIn).filter(capabilities: capabilities)
        }
        linux = Linux(
            namespaces: namespaces, resources: resources, maskedPaths: options.privileged ? [] : Self.maskedPaths,
            readonlyPaths: options.privileged ? [] : Self.readonlyPaths, seccomp: seccomp,
            sysctl: options.network.isPrivate ? Self.privateNetworkSysctls : nil)
    }

    /// podman's 1048576 open files, capped at what this process may raise it to.
    static var openFilesLimit: Process.Rlimit {
        var current = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &current)
        let limit = min(UInt64(1_048_576), UInt64(current.rlim_max))
        return .init(type: "RLIMIT_NOFILE", hard: limit, soft: limit)
    }

    static func capabilityName(_ name: String) -> String {
        let upper = name.uppercased()
        return upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
    }

    /// `-v /host:/container[:ro|rw]`.
    static func bindMount(_ spec: String) throws(RuntimeError) -> Mount {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, parts[0].hasPrefix("/"), parts[1].hasPrefix("/") else {
            throw .invalidArgument("invalid volume '\(spec)': expected /host/path:/container/path[:ro]")
        }
        guard FileManager.default.fileExists(atPath: parts[0]) else { throw .invalidArgument("volume source \(parts[0]) does not exist") }
        var options = ["rbind"]
        if parts.count == 3 {
            guard ["ro", "rw"].contains(parts[2]) else { throw .invalidArgument("invalid volume option '\(parts[2])' (ro, rw)") }
            options.append(parts[2])
        }
        return Mount(destination: parts[1], type: "bind", source: parts[0], options: options)
    }

    /// The container's command, without the `--init` prefix.
    var command: [String] {
        process.args.first == RunOptions.initMountPoint ? Array(process.args.dropFirst(2)) : process.args
    }

    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }
}
