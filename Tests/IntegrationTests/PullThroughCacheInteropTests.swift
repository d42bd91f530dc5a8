import Foundation
import OCI
import PullThroughCache
import RegistryClient
import RegistryServer
import TestSupport
import Testing

/// The cache with real peers: Debian's docker-registry as the upstream (htpasswd, and tokens from
/// berth's token server), and podman and skopeo pulling through the cache as the registries.conf
/// mirror of their primary. One test at a time, as `PullThroughCacheTests`.
@Suite(.serialized) struct PullThroughCacheInteropTests {
    func startCache(upstream port: Int, credentials: Credentials? = nil, root: URL? = nil) async throws -> TestServer {
        try await TestServer.start(root: root) { config in
            var upstream = UpstreamSettings(prefix: "up", url: URL(string: "http://127.0.0.1:\(port)")!)
            upstream.credentials = credentials
            upstream.tagRecheck = .zero
            var settings = CacheSettings(upstreams: [upstream], spoolDirectory: "")
            // Generous: the suite shares two cores; a stopped primary refuses at once anyway.
            settings.upstreamTimeout = .seconds(30)
            config.cache = settings
        }
    }

    /// Copies the standard layout's `v1` and `multi` to `host` and back out of the cache in front
    /// of it; both come back with the upstream's digests.
    func roundTrip(_ berth: BerthCommand, upstream host: String, creds: String, cache: TestServer) async throws {
        let layout = berth.home.appendingPathComponent("layout")
        _ = try await OCILayoutFixture.standard(at: layout)
        for tag in ["v1", "multi"] {
            try await berth.succeed([
                "copy", "-q", "--all", "--dest-tls-verify=false", "--dest-creds", creds, "oci:\(layout.path):\(tag)", "docker://\(host)/team/app:\(tag)",
            ])
            let direct = try await berth.succeed(["inspect", "--raw", "--tls-verify=false", "--creds", creds, "docker://\(host)/team/app:\(tag)"])
            let cached = try await berth.succeed(["inspect", "--raw", "--tls-verify=false", "docker://127.0.0.1:\(cache.port)/up/team/app:\(tag)"])
            #expect(cached.stdout == direct.stdout, "manifests are never rewritten")
            let out = berth.path("out-\(tag)")
            try await berth.succeed(["copy", "-q", "--all", "--src-tls-verify=false", "docker://127.0.0.1:\(cache.port)/up/team/app:\(tag)", "oci:\(out):\(tag)"])
        }
    }

    /// Runs `roundTrip` against a cache in front of `registry`, stopping the cache however it ends.
    func throughCache(_ berth: BerthCommand, _ registry: DockerRegistryProcess, user: String, password: String) async throws {
        let cache = try await startCache(upstream: registry.port, credentials: Credentials(username: user, password: password))
        try await withCleanup {
            try await roundTrip(berth, upstream: "127.0.0.1:\(registry.port)", creds: "\(user):\(password)", cache: cache)
        } cleanup: {
            await cache.cleanup()
        }
    }

    @Test(.enabled(if: Interop.enabled("docker-registry") && Interop.enabled("htpasswd"), "docker-registry or htpasswd is not installed"))
    func distributionWithHtpasswdUpstream() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let passwords = berth.path("htpasswd")
        let line = try await Interop.run(try Interop.tool("htpasswd"), ["-Bbn", "alice", "secret"])
        try Data(line.stdout.utf8).write(to: URL(fileURLWithPath: passwords))
        let registry = try await DockerRegistryProcess(extraConfig: "auth:\n  htpasswd:\n    realm: berth-test\n    path: \(passwords)\n")
        defer { registry.stop() }
        try await throughCache(berth, registry, user: "alice", password: "secret")
    }

    @Test(.enabled(if: Interop.enabled("docker-registry") && Interop.enabled("openssl"), "docker-registry or openssl is not installed"))
    func distributionWithATokenServerUpstream() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        try await TokenServerTests.withDistributionTrustingBerth(berth) { registry in
            try await throughCache(berth, registry, user: "alice", password: "alice-pass")
        }
    }

    /// A registries.conf naming the cache as the mirror of `primary`.
    func mirrorConf(_ berth: BerthCommand, primary: Int, cache: Int) throws -> String {
        let path = berth.path("registries-\(UUID().uuidString).conf")
        try Data("""
            [[registry]]
            location = "127.0.0.1:\(primary)"
            insecure = true

            [[registry.mirror]]
            location = "127.0.0.1:\(cache)/up"
            insecure = true
            """.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// podman with its own storage; `runroot` is short (podman refuses one over 50 characters).
    func podman(_ berth: BerthCommand, _ conf: String, runroot: String, _ arguments: [String]) async throws -> Interop.Output {
        var environment = berth.environment
        environment["CONTAINERS_REGISTRIES_CONF"] = conf
        return try await Interop.run(
            try Interop.tool("podman"),
            ["--root", berth.path("podman/root"), "--runroot", runroot, "--storage-driver", "vfs", "--events-backend", "none",
             "--cgroup-manager", "cgroupfs", "--log-level", "debug"] + arguments,
            environment: environment)
    }

    /// podman pulls through the cache while the primary is up and after it stopped, and from the
    /// primary once the cache is gone; skopeo given the same file pulls through the cache too.
    @Test(.enabled(if: Interop.enabled("podman") && Interop.enabled("skopeo"), "podman or skopeo is not installed"))
    func podmanAndSkopeoUseTheCacheAsTheirMirror() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let layout = berth.home.appendingPathComponent("layout")
        _ = try await OCILayoutFixture.standard(at: layout)
        let runroot = "/tmp/berth-pm-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: runroot) }
        var primary = try await TestServer.start()
        let cache = try await startCache(upstream: primary.port)
        let cacheRoot = cache.root
        defer { try? FileManager.default.removeItem(at: cacheRoot) }
        try await withCleanup {
            let port = primary.port
            try await berth.succeed(["copy", "-q", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://127.0.0.1:\(port)/team/app:v1"])
            let conf = try mirrorConf(berth, primary: port, cache: cache.port)
            let image = "127.0.0.1:\(port)/team/app:v1"
            let mirrored = "Trying to access \\\"127.0.0.1:\(cache.port)/up/team/app:v1\\\""

            var pulled = try await podman(berth, conf, runroot: runroot, ["pull", image])
            #expect(pulled.status == 0, "\(pulled.stderr)")
            #expect(pulled.stderr.contains(mirrored), "\(pulled.stderr)")
            #expect(!pulled.stderr.contains("Trying to access \\\"\(image)\\\""), "the mirror served: \(pulled.stderr)")

            let skopeo = try await Interop.run(
                try Interop.tool("skopeo"), ["--registries-conf", conf, "--debug", "copy", "docker://\(image)", "dir:\(berth.path("skopeo"))"],
                environment: berth.environment)
            #expect(skopeo.status == 0, "\(skopeo.stderr)")
            #expect(skopeo.stderr.contains(mirrored), "\(skopeo.stderr)")

            // The primary stops: the cache still serves what it holds (once its commits are done).
            try await PullThroughCacheTests.waitUntil("downloads committed") { cache.cache?.downloadsUnderWay == 0 }
            await primary.stop()
            _ = try await podman(berth, conf, runroot: runroot, ["rmi", "-a", "-f"])
            pulled = try await podman(berth, conf, runroot: runroot, ["pull", image])
            #expect(pulled.status == 0, "primary down, pulled through the mirror: \(pulled.stderr)")

            // The primary is back and the cache is gone: the pull goes to the primary.
            primary = try await TestServer.start(root: primary.root) { $0.port = port }
            await cache.stop()
            _ = try await podman(berth, conf, runroot: runroot, ["rmi", "-a", "-f"])
            pulled = try await podman(berth, conf, runroot: runroot, ["pull", image])
            #expect(pulled.status == 0, "mirror down, pulled from the primary: \(pulled.stderr)")
            #expect(pulled.stderr.contains("Trying to access \\\"\(image)\\\""), "\(pulled.stderr)")
        } cleanup: {
            await cache.cleanup()
            await primary.cleanup()
        }
    }

    /// Stops a daemon started in the background and waits (up to 10 s, without holding a thread
    /// of the cooperative pool) until it is gone or a zombie, so nothing it writes lands after
    /// its directory is removed.
    static func stop(_ pid: Int32) async {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 {
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: ")").last?.split(separator: " ").first
            if state == nil || state == "Z" { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// containerd's `ctr images pull --hosts-dir`, with the cache as the mirror host of the
    /// upstream: ctr asks the cache with `?ns=<upstream host>`, which selects the upstream.
    @Test(.enabled(if: Interop.enabled("containerd") && Interop.enabled("ctr"), "containerd is not installed (apt-get install containerd)"))
    func containerdPullsThroughTheCacheWithNs() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        // A short directory: the daemon's sockets must fit a socket address.
        let home = "/tmp/berth-ctr-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: "\(home)/hosts", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        try Data("""
            version = 2
            root = "\(home)/root"
            state = "\(home)/state"
            disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                                "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
            [grpc]
              address = "\(home)/c.sock"
            [ttrpc]
              address = "\(home)/t.sock"
            """.utf8).write(to: URL(fileURLWithPath: "\(home)/config.toml"))
        let started = try await Interop.run("/bin/sh", ["-c", "\(try Interop.tool("containerd")) --config \(home)/config.toml >\(home)/log 2>&1 & echo $!"])
        let daemon = Int32(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        try await withCleanup {
            try await pullWithCtr(home: home, daemon: daemon, berth: berth)
        } cleanup: {
            await Self.stop(daemon)
        }
    }

    /// `ctr images pull` against the daemon at `home`, with the cache as the upstream's mirror.
    private func pullWithCtr(home: String, daemon: Int32, berth: BerthCommand) async throws {
        let ctr = try Interop.tool("ctr")
        // Bounded in time, and given up as soon as the daemon has exited (its log says why).
        var up = false
        let giveUp = ContinuousClock.now + .seconds(30)
        while !up, ContinuousClock.now < giveUp, kill(daemon, 0) == 0 {
            up = try await Interop.run(ctr, ["--address", "\(home)/c.sock", "--connect-timeout", "2s", "version"]).status == 0
            if !up { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(up, "containerd did not start: \((try? String(contentsOfFile: "\(home)/log", encoding: .utf8)) ?? "")")

        let layout = berth.home.appendingPathComponent("layout")
        _ = try await OCILayoutFixture.standard(at: layout)
        let primary = try await TestServer.start()
        let cache = try await startCache(upstream: primary.port)
        try await withCleanup {
            let host = "127.0.0.1:\(primary.port)"
            try await berth.succeed(["copy", "-q", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(host)/team/app:v1"])
            try FileManager.default.createDirectory(atPath: "\(home)/hosts/\(host)", withIntermediateDirectories: true)
            try Data("""
                server = "http://\(host)"
                [host."http://127.0.0.1:\(cache.port)"]
                  capabilities = ["pull", "resolve"]
                """.utf8).write(to: URL(fileURLWithPath: "\(home)/hosts/\(host)/hosts.toml"))
            let pulled = try await Interop.run(ctr, [
                "--address", "\(home)/c.sock", "images", "pull", "--hosts-dir", "\(home)/hosts", "--snapshotter", "native", "\(host)/team/app:v1",
            ])
            #expect(pulled.status == 0, "\(pulled.stdout) \(pulled.stderr)")
            // The cache holds it under the upstream's prefix: the request named ns=<upstream>.
            let stored = try? await cache.registry.manifest(try RepositoryName(parsing: "up/team/app"), .tag(try Tag(parsing: "v1")))
            #expect(stored != nil, "the cache did not serve ctr's pull")
        } cleanup: {
            await cache.cleanup()
            await primary.cleanup()
        }
    }
}
