import Foundation
import TestSupport
import Testing

/// `berth run` and the container verbs as an ordinary user: the test (as root) makes throwaway
/// users — one with a subordinate id range, as Debian's useradd gives it, one without — runs the
/// real berth as them through runuser, and removes the users, their processes and files after.
@Suite(.serialized, .enabled(if: geteuid() == 0 && !TestBackend.scaled && Interop.enabled("busybox") && Interop.enabled("crun") && Interop.enabled("runc")
    && Interop.enabled("newuidmap") && Interop.enabled("runuser") && Interop.enabled("useradd"),
    "rootless runs need root to make test users, busybox, crun, runc and uidmap (apt-get install uidmap busybox-static crun runc); not rerun on the scaled backends"))
struct RootlessTests {
    /// A user of its own (`subids`: with the next subordinate range), a copy of berth it may run,
    /// and the busybox image with one more layer whose files belong to 1000:2000 and, when
    /// `outOfRange`, to an id no range maps.
    struct User {
        let name: String
        let home: String
        let binary: String
        let runDirectory: String
        var layout: String { "\(home)/layout" }

        static func make(subids: Bool) async throws -> User {
            let name = "berth-rl-\(UUID().uuidString.prefix(6).lowercased())"
            let options = subids ? [] : ["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]
            try await Interop.shell("useradd -m \(options.joined(separator: " ")) \(name)")
            let home = "/home/\(name)"
            // berth where the user may run it (a checkout under /root would not be reachable).
            let directory = "/tmp/\(name)-bin"
            let run = "/tmp/\(name)-run"
            try await Interop.shell("mkdir -p \(directory) \(run) && cp '\(Interop.berthBinary)' \(directory)/berth && chmod 755 \(directory) \(directory)/berth && chown \(name): \(run) && chmod 700 \(run)")
            return User(name: name, home: home, binary: "\(directory)/berth", runDirectory: run)
        }

        /// The image, owned by the user, with a layer of files owned by 1000:2000 (and 70000 when asked).
        func addImage(outOfRange: Bool = false) async throws {
            let scratch = "\(home)/owned"
            var script = "mkdir -p \(scratch)/data && echo mine > \(scratch)/data/app-file && chown 1000:2000 \(scratch)/data/app-file"
            if outOfRange { script += " && echo far > \(scratch)/data/far && chown 70000:70000 \(scratch)/data/far" }
            try await Interop.shell(script + " && tar -C \(scratch) --numeric-owner -cf \(scratch).tar .")
            let layer = Array(try Data(contentsOf: URL(fileURLWithPath: "\(scratch).tar")))
            try await RunCommandTests.busyboxLayout(at: layout, extraLayers: [layer])
            try await Interop.shell("chown -R \(name): \(layout)")
        }

        func berth(_ arguments: [String]) async throws -> Interop.Output {
            try await Interop.run("/usr/sbin/runuser", ["-u", name, "--", "/usr/bin/env", "-C", home, "HOME=\(home)", "XDG_RUNTIME_DIR=\(runDirectory)",
                "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", binary] + arguments)
        }

        @discardableResult
        func succeed(_ arguments: [String]) async throws -> Interop.Output {
            let result = try await berth(arguments)
            guard result.status == 0 else { throw TestFailure("berth \(arguments.joined(separator: " ")) as \(name) failed (\(result.status)): \(result.stderr)") }
            return result
        }

        /// Its containers, processes (the namespace's pause process among them), home and files
        /// go; before that, its containers must have left no mounts or runtime state behind.
        func remove() async {
            if let ids = try? await berth(["ps", "-a", "-q", "--no-trunc"]).stdout.split(separator: "\n") {
                for id in ids { _ = try? await berth(["rm", "-f", String(id)]) }
            }
            let state = (try? FileManager.default.contentsOfDirectory(atPath: "\(runDirectory)/berth/runtime")) ?? []
            #expect(state.isEmpty, "runtime state left: \(state)")
            // The namespace's mounts are the holder's; with no container left, none is berth's.
            let containers = (try? FileManager.default.contentsOfDirectory(atPath: "\(home)/.local/share/berth/containers")) ?? []
            #expect(containers.isEmpty, "container directories left: \(containers)")
            let monitors = (try? await Interop.run("/usr/bin/pgrep", ["-u", name, "-f", "container monitor"]))?.stdout ?? ""
            #expect(monitors.isEmpty, "monitors left: \(monitors)")
            _ = try? await Interop.run("/usr/bin/pkill", ["-KILL", "-u", name])
            for _ in 0..<50 {
                if (try? await Interop.run("/usr/bin/pgrep", ["-u", name]))?.status == 1 { break }
                try? await Task.sleep(for: .milliseconds(100))
            }
            _ = try? await Interop.run("/usr/sbin/userdel", ["-r", name])
            try? FileManager.default.removeItem(atPath: "/tmp/\(name)-bin")
            try? FileManager.default.removeItem(atPath: runDirectory)
        }

        static func with(subids: Bool = true, _ body: (User) async throws -> Void) async throws {
            let user = try await make(subids: subids)
            try await withCleanup {
                try await body(user)
            } cleanup: {
                await user.remove()
            }
        }
    }

    /// The user's subordinate range start, from /etc/subuid.
    static func subordinateStart(_ name: String) throws -> Int {
        let line = try String(contentsOfFile: "/etc/subuid", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("\(name):") }
        return Int(line?.split(separator: ":")[1] ?? "") ?? -1
    }

    @Test(arguments: ["crun", "runc"])
    func anOrdinaryUserRunsImagesWithTheirOwners(runtime: String) async throws {
        try await User.with { user in
            try await user.addImage()
            let image = "oci:\(user.layout):v1"
            let start = try Self.subordinateStart(user.name)
            let uid = try #require(Int(try await Interop.run("/usr/bin/id", ["-u", user.name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
            // Root in the container is the user; 1… are the subordinate range.
            let maps = try await user.succeed(["run", "--rm", "-q", "--runtime", runtime, image, "sh", "-c", "id; cat /proc/self/uid_map"])
            let lines = maps.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
            #expect(lines == ["uid=0(root) gid=0(root)", "0 \(uid) 1", "1 \(start) 65536"], "\(maps.stdout) \(maps.stderr)")
            // The image's owners came through the map; a volume shows where container ids land.
            let volume = "\(user.home)/volume"
            try await Interop.shell("mkdir -p \(volume) && chown \(user.name): \(volume)")
            let owners = try await user.succeed([
                "run", "--rm", "-q", "--runtime", runtime, "-v", "\(volume):/v", image, "sh", "-c", "ls -n /data/app-file; touch /v/f && chown 1000:1000 /v/f",
            ])
            #expect(owners.stdout.contains(" 1000 ") && owners.stdout.contains(" 2000 "), "\(owners.stdout)")
            var info = stat()
            #expect(stat("\(volume)/f", &info) == 0 && Int(info.st_uid) == start + 999, "host owner \(info.st_uid)")
            // A user with supplementary groups (runc refuses them in a user namespace of its own; here it is uid 0 inside ours).
            let app = try await user.succeed(["run", "--rm", "-q", "--runtime", runtime, "-u", "app", image, "id"])
            #expect(app.stdout == "uid=1000(app) gid=1000(app) groups=2000(extra)\n", "\(app.stdout) \(app.stderr)")
            // podman's /etc/hostname and /etc/hosts, the container's own and root's in it.
            let names = try await user.succeed([
                "run", "--rm", "-q", "--runtime", runtime, "-h", "box", image, "sh", "-c", "cat /etc/hostname; busybox hostname -i; ls -n /etc/hosts",
            ])
            #expect(names.stdout.hasPrefix("box\n127.0.0.1\n-rw-r--r--    1 0        0 "), "\(names.stdout) \(names.stderr)")
            // The layers are cached once and stacked with overlayfs (userxattr): whiteouts and
            // the opaque directory still apply, and a container's writes stay in it.
            let layered = try await user.succeed(["run", "--rm", "-q", "--runtime", runtime, image, "sh", "-c", "ls /data; ls /data/opq; echo x > /data/new"])
            #expect(layered.stdout == "app-file\nhl\nopq\norig\nsl\nnew\n", "\(layered.stdout) \(layered.stderr)")
            let cached = (try? FileManager.default.contentsOfDirectory(atPath: "\(user.home)/.local/share/berth/layers"))?.filter { !$0.hasPrefix(".") } ?? []
            #expect(cached.count == 4, "\(cached)")
            #expect(try await user.succeed(["run", "--rm", "-q", "--runtime", runtime, image, "ls", "/data"]).stdout == "app-file\nhl\nopq\norig\nsl\n")
            // Limits that cannot be enforced are refused, not ignored.
            let limited = try await user.berth(["run", "--rm", "-q", "--runtime", runtime, "--memory", "64m", image, "true"])
            #expect(limited.status == 125 && limited.stderr.contains("not enforced without root"), "\(limited.stderr)")
            // The store is the user's; root's has none of it.
            var store = stat()
            #expect(stat("\(user.home)/.local/share/berth/containers", &store) == 0 && Int(store.st_uid) == uid)
        }
    }

    /// The first command makes the namespace and re-executes berth inside it; later ones join it
    /// before main (one start of the program, not two: one execve under strace). A pid file
    /// naming a process that is not the user's namespace is not joined: the command makes a new one.
    @Test(.enabled(if: Interop.enabled("strace"), "needs strace (apt-get install strace)"))
    func laterCommandsJoinTheNamespaceWithoutStartingAgain() async throws {
        try await User.with { user in
            func starts(_ arguments: [String]) async throws -> [String] {
                let trace = "\(user.home)/trace-\(UUID().uuidString.prefix(6))"
                let strace = try Interop.tool("strace")
                let result = try await Interop.run("/usr/sbin/runuser", ["-u", user.name, "--", "/usr/bin/env", "-C", user.home, "HOME=\(user.home)",
                    "XDG_RUNTIME_DIR=\(user.runDirectory)", "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", strace, "-f", "-qq", "-e", "trace=execve", "-o", trace,
                    user.binary] + arguments)
                #expect(result.status == 0, "\(result.stderr)")
                let text = (try? String(contentsOfFile: trace, encoding: .utf8)) ?? ""
                return text.split(separator: "\n").filter { $0.contains("execve(") && !$0.contains("ENOENT") }.map(String.init)
            }
            // Not traced: newuidmap, which making the namespace needs, is set-uid, and a traced program runs without that.
            try await user.succeed(["images"])
            let pidFile = "\(user.runDirectory)/berth/pause.pid"
            let holder = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let later = try await starts(["ps", "-a"])
            #expect(later.count == 1 && later[0].contains(user.binary), "\(later)")
            // A process that is not this user's namespace (pid 1 is root's) is not joined: a new one is made.
            try await Interop.shell("echo 1 > \(pidFile)")
            try await user.succeed(["images"])
            let replaced = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(replaced != "1" && replaced != holder, "\(replaced)")
            #expect(try await starts(["images"]).count == 1)
        }
    }

    /// `--network slirp4netns` as an ordinary user: outbound traffic through user-mode NAT, the
    /// host's loopback only when allowed, in the foreground and detached. Runs where an ordinary
    /// user may open /dev/net/tun (0666 on Debian; some VMs make it root's only).
    @Test(.enabled(if: Interop.enabled("slirp4netns") && Self.tunIsOpenToUsers, "needs slirp4netns and a /dev/net/tun ordinary users may open"))
    func slirp4netnsWithoutRoot() async throws {
        try await User.with { user in
            try await user.addImage()
            let image = "oci:\(user.layout):v1"
            let served = "\(user.home)/served"
            try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
            try Data("to the user\n".utf8).write(to: URL(fileURLWithPath: "\(served)/hello.txt"))
            let server = try await StaticHTTPServer(directory: served)
            defer { server.stop() }
            let url = "http://10.0.2.2:\(server.port)/hello.txt"
            let allowed = try await user.berth(["run", "--rm", "-q", "--network", "slirp4netns:allow_host_loopback=true", image, "sh", "-c",
                "ip -o -4 addr show tap0 | grep -o '10.0.2.100/24'; wget -q -O - \(url)"])
            #expect(allowed.stdout == "10.0.2.100/24\nto the user\n", "\(allowed.stdout) \(allowed.stderr)")
            let denied = try await user.berth(["run", "--rm", "-q", "--network", "slirp4netns", image, "wget", "-q", "-T", "3", "-O", "-", url])
            #expect(denied.status != 0 && denied.stdout.isEmpty, "\(denied.stdout)")
            try await user.succeed(["run", "-d", "-q", "--name", "net", "--network", "slirp4netns:allow_host_loopback=true", image, "sh", "-c",
                "wget -q -O - \(url); exec sleep 300"])
            var logs = ""
            for _ in 0..<300 where logs.isEmpty {
                logs = try await user.succeed(["logs", "net"]).stdout
                if logs.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(logs == "to the user\n", "\(logs)")
            try await user.succeed(["rm", "-f", "net"])
            #expect(try await Interop.run("/usr/bin/pgrep", ["-u", user.name, "-f", "slirp4netns"]).stdout.isEmpty, "slirp4netns outlived its container")
        }
    }

    static var tunIsOpenToUsers: Bool {
        var info = stat()
        return stat("/dev/net/tun", &info) == 0 && info.st_mode & 0o006 == 0o006
    }

    @Test func detachedExecAndPortsWithoutRoot() async throws {
        try await User.with { user in
            try await user.addImage()
            let image = "oci:\(user.layout):v1"
            let www = "\(user.home)/www"
            try await Interop.shell("mkdir -p \(www) && echo rootless > \(www)/index.html && chown -R \(user.name): \(www)")
            let port = try freePort()
            try await user.succeed(["run", "-d", "-q", "--name", "web", "-p", "127.0.0.1:\(port):80", "-v", "\(www):/www:ro", image, "httpd", "-f", "-p", "80", "-h", "/www"])
            let curl = try Interop.tool("curl")
            var page = try await Interop.run(curl, ["-s", "-m", "5", "http://127.0.0.1:\(port)/index.html"])
            for _ in 0..<300 where page.stdout.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                page = try await Interop.run(curl, ["-s", "-m", "5", "http://127.0.0.1:\(port)/index.html"])
            }
            #expect(page.stdout == "rootless\n", "\(page.stderr)")
            #expect(try await user.succeed(["exec", "web", "cat", "/proc/self/uid_map"]).stdout.split(separator: "\n").count == 2)
            #expect(try await user.succeed(["ps"]).stdout.contains("web"))
            try await user.succeed(["stop", "-t", "1", "web"])
            #expect(try await user.succeed(["wait", "web"]).stdout == "137\n")
            // One namespace per user, kept for the next command: its holder runs as the user.
            let holders = try await Interop.run("/usr/bin/pgrep", ["-u", user.name, "-f", "catatonit -P|sleep infinity"])
            #expect(holders.stdout.split(separator: "\n").count == 1, "\(holders.stdout)")
        }
    }

    @Test func idsOutsideTheRangeAndUsersWithoutOneAreSaidPlainly() async throws {
        try await User.with { user in
            try await user.addImage(outOfRange: true)
            let result = try await user.berth(["run", "--rm", "-q", "oci:\(user.layout):v1", "true"])
            #expect(result.status == 125 && result.stderr.contains("owner 70000:70000 is outside the ids this user may map"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        try await User.with(subids: false) { user in
            try await RunCommandTests.busyboxLayout(at: user.layout)
            try await Interop.shell("chown -R \(user.name): \(user.layout)")
            let result = try await user.berth(["run", "--rm", "-q", "oci:\(user.layout):v1", "sh", "-c", "cat /proc/self/uid_map"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("warning: no subordinate ids for \(user.name)"), "\(result.stderr)")
            #expect(result.stdout.split(separator: "\n").count == 1, "only root is mapped: \(result.stdout)")
        }
    }
}
