import Foundation
import OCI
import Testing

@testable import Runtime

@Suite struct RuntimeSpecTests {
    /// A rootfs with only `/etc/passwd` and `/etc/group`.
    @discardableResult
    func withRootfs<T>(_ body: (String) throws -> T) throws -> T {
        let rootfs = FileManager.default.temporaryDirectory.appendingPathComponent("berth-spec-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(rootfs)/etc", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: rootfs) }
        try Data("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n".utf8).write(to: URL(fileURLWithPath: "\(rootfs)/etc/passwd"))
        try Data("root:x:0:\napp:x:1000:\nextra:x:2000:app\n".utf8).write(to: URL(fileURLWithPath: "\(rootfs)/etc/group"))
        return try body(rootfs)
    }

    func image(_ execution: String) throws -> ImageConfig {
        try JSONDecoder().decode(ImageConfig.self, from: Data(#"{"architecture":"amd64","os":"linux","config":\#(execution)}"#.utf8))
    }

    @Test(arguments: [
        ("app", UserDatabase.Resolved(uid: 1000, gid: 1000, additionalGids: [2000], home: "/home/app")),
        ("1000", UserDatabase.Resolved(uid: 1000, gid: 1000, additionalGids: [2000], home: "/home/app")),
        ("app:extra", UserDatabase.Resolved(uid: 1000, gid: 2000, additionalGids: [], home: "/home/app")),
        ("1234", UserDatabase.Resolved(uid: 1234, gid: 0, additionalGids: [], home: nil)),
        ("1234:55", UserDatabase.Resolved(uid: 1234, gid: 55, additionalGids: [], home: nil)),
        ("", UserDatabase.Resolved(uid: 0, gid: 0, additionalGids: [], home: "/root")),
    ])
    func usersResolveThroughTheImagesFiles(_ spec: String, _ expected: UserDatabase.Resolved) throws {
        try withRootfs { rootfs in
            let resolved = try UserDatabase(root: RootPath(root: rootfs)).resolve(spec)
            #expect(resolved == expected)
        }
    }

    @Test(arguments: ["nosuch", "app:nosuchgroup"])
    func unknownNamesAreErrors(_ spec: String) throws {
        try withRootfs { rootfs in
            #expect(throws: RuntimeError.self) { try UserDatabase(root: RootPath(root: rootfs)).resolve(spec) }
        }
    }

    @Test func argsEnvironmentAndWorkingDirectoryFollowPodman() throws {
        try withRootfs { rootfs in
            let config = try image(#"{"Entrypoint":["/entry"],"Cmd":["default"],"Env":["PATH=/bin","A=1"],"WorkingDir":"/srv","User":"app","Labels":{"org.opencontainers.image.os":"label-wins"}}"#)
            var options = RunOptions()
            let plain = try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "box")
            #expect(plain.process.args == ["/entry", "default"] && plain.process.cwd == "/srv" && plain.hostname == "box")
            #expect(plain.process.env == ["PATH=/bin", "A=1", "HOME=/home/app", "HOSTNAME=box"])
            // podman's per-container /etc/hostname and /etc/hosts, from beside the rootfs.
            let bundle = URL(fileURLWithPath: rootfs).deletingLastPathComponent().path
            #expect(plain.mounts.contains(.init(destination: "/etc/hosts", type: "bind", source: "\(bundle)/hosts", options: ["bind", "rprivate"])))
            #expect(plain.mounts.contains(.init(destination: "/etc/hostname", type: "bind", source: "\(bundle)/hostname", options: ["bind", "rprivate"])))
            #expect(plain.mounts.first { $0.destination == "/dev" }?.options?.contains("noexec") == true)
            #expect(plain.process.user == .init(uid: 1000, gid: 1000, additionalGids: [2000]))
            #expect(plain.process.capabilities.bounding.isEmpty, "a non-root user starts without capabilities")
            #expect(plain.annotations["org.opencontainers.image.os"] == "label-wins")
            #expect(plain.linux.namespaces.map(\.type) == ["pid", "mount", "ipc", "uts", "network"])

            options.command = ["override"]
            #expect(try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "b").process.args == ["/entry", "override"])
            options.command = []
            options.entrypoint = "/bin/sh"
            #expect(try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "b").process.args == ["/bin/sh"])
            options.entrypoint = ""
            #expect(throws: RuntimeError.self) { try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "b") }

            options = RunOptions()
            options.environment = ["A=2", "B=3", "HOSTNAME=given"]
            options.user = "0"
            options.workingDirectory = "/work"
            options.network = .host
            options.readOnly = true
            options.memoryLimit = 256 << 20
            options.cpus = 1.5
            options.pidsLimit = 100
            options.capDrop = ["ALL"]
            options.capAdd = ["net_bind_service"]
            let custom = try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "b")
            #expect(custom.process.env == ["PATH=/bin", "HOME=/root", "A=2", "B=3", "HOSTNAME=given"])
            #expect(custom.process.cwd == "/work" && custom.root.readonly)
            #expect(!custom.linux.namespaces.contains { $0.type == "network" })
            #expect(custom.linux.resources.memory?.limit == 256 << 20 && custom.linux.resources.cpu == .init(quota: 150_000, period: 100_000))
            #expect(custom.linux.resources.pids?.limit == 100)
            #expect(custom.process.capabilities.effective == ["CAP_NET_BIND_SERVICE"])
        }
    }

    @Test func hostsNameTheContainerAtItsOwnAddress() throws {
        let loopback = ContainerFiles.hosts(network: .none, hostname: "0123456789ab", name: "web")
        #expect(loopback == "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t0123456789ab web\n")
        #expect(ContainerFiles.hosts(network: .none, hostname: "web", name: "web").hasSuffix("\n127.0.0.1\tweb\n"))
        let slirp = ContainerFiles.hosts(network: .slirp(SlirpNetwork()), hostname: "box", name: nil)
        #expect(slirp.hasSuffix("loopback\n10.0.2.100\tbox\n"), "\(slirp)")
        let reachable = ContainerFiles.hosts(network: .slirp(SlirpNetwork(allowHostLoopback: true)), hostname: "box", name: nil)
        #expect(reachable.hasSuffix("loopback\n10.0.2.2\thost.containers.internal\n10.0.2.100\tbox\n"), "\(reachable)")
        // The host's network: the host's own names, then the container's.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("berth-hosts-\(UUID().uuidString)").path
        try Data("127.0.0.1 localhost\n10.1.2.3 db".utf8).write(to: URL(fileURLWithPath: file))
        defer { unlink(file) }
        #expect(ContainerFiles.hosts(network: .host, hostname: "box", name: "web", hostFile: file) == "127.0.0.1 localhost\n10.1.2.3 db\n127.0.0.1\tbox web\n")
    }

    @Test func rootGetsPodmansCapabilitiesAdjustedByFlags() throws {
        try withRootfs { rootfs in
            let config = try image(#"{"Cmd":["sh"]}"#)
            var options = RunOptions()
            let standard = try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "b")
            #expect(standard.process.capabilities.bounding.count == 11)
            #expect(!standard.process.capabilities.bounding.contains { ["CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE"].contains($0) })
            // ping without CAP_NET_RAW, as podman allows it, in the container's own network only.
            #expect(standard.linux.sysctl == ["net.ipv4.ping_group_range": "0 0"])
            options.network = .host
            #expect(try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "b").linux.sysctl == nil)
            options.network = .none
            options.capDrop = ["KILL", "CAP_CHOWN"]
            options.capAdd = ["SYS_ADMIN"]
            let spec = try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "b")
            #expect(spec.process.capabilities.bounding.count == RuntimeSpec.defaultCapabilities.count - 1)
            #expect(spec.process.capabilities.bounding.contains("CAP_SYS_ADMIN") && !spec.process.capabilities.bounding.contains("CAP_KILL"))
            #expect(!spec.process.noNewPrivileges && spec.linux.maskedPaths.contains("/proc/kcore"))
            options.capAdd = ["NOT_A_CAP"]
            #expect(throws: RuntimeError.self) { try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "b") }
            options.capAdd = []
            options.volumes = ["relative:/data"]
            #expect(throws: RuntimeError.self) { try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "b") }
            options.volumes = ["\(rootfs):/data:ro"]
            let mounted = try RuntimeSpec(image: config, options: options, rootfs: rootfs, name: "b")
            #expect(mounted.mounts.last == .init(destination: "/data", type: "bind", source: rootfs, options: ["rbind", "ro"]))
        }
    }

    @Test func passwdSymlinkedOutsideTheRootfsIsReadInsideIt() throws {
        try withRootfs { rootfs in
            try FileManager.default.removeItem(atPath: "\(rootfs)/etc/passwd")
            try FileManager.default.createSymbolicLink(atPath: "\(rootfs)/etc/passwd", withDestinationPath: "/etc/passwd")
            // The host's /etc/passwd has root; inside this rootfs the link points at nothing.
            #expect(throws: RuntimeError.self) { try UserDatabase(root: RootPath(root: rootfs)).resolve("root") }
        }
    }
}
