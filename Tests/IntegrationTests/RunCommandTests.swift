import Foundation
import OCI
import Testing
import TestSupport

/// `berth pull/run/images/ps/rm/rmi` with a busybox image pushed into `berth serve`, run through
/// the real crun and runc.
@Suite(.enabled(if: geteuid() == 0 && Interop.enabled("busybox") && Interop.enabled("crun") && Interop.enabled("runc"),
    "running containers needs root, busybox, crun and runc (apt-get install busybox-static crun runc)"))
struct RunCommandTests {
    /// An OCI layout with a three-layer busybox image tagged `tag`: the base (`/bin/*` applets,
    /// `app` user 1000 in group `extra` 2000, `/data/victim`, `/data/opq/{old,sub/old2}`), a layer
    /// whiting out `victim` and making `opq` opaque (after adding `opq/new`), and a layer with a
    /// hard link and a symlink; then `extraLayers` (tar bytes). `badDiffID` makes the config lie.
    static func busyboxLayout(at layout: String, tag: String = "v1", badDiffID: Bool = false, extraLayers: [[UInt8]] = []) async throws {
        let manager = FileManager.default
        let base = layout + "-layers/base"
        for directory in ["bin", "etc", "tmp", "home/app", "data/opq/sub"] { try manager.createDirectory(atPath: "\(base)/\(directory)", withIntermediateDirectories: true) }
        try manager.copyItem(atPath: try Interop.tool("busybox"), toPath: "\(base)/bin/busybox")
        for applet in ["sh", "echo", "id", "pwd", "cat", "ls", "touch", "ip", "true", "sleep", "grep", "test", "readlink", "tty", "httpd", "wget", "tr"] {
            try manager.createSymbolicLink(atPath: "\(base)/bin/\(applet)", withDestinationPath: "busybox")
        }
        func write(_ text: String, _ path: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }
        try write("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n", "\(base)/etc/passwd")
        try write("root:x:0:\napp:x:1000:\nextra:x:2000:app\n", "\(base)/etc/group")
        for file in ["data/victim", "data/opq/old", "data/opq/sub/old2"] { try write("lower", "\(base)/\(file)") }
        let whiteouts = layout + "-layers/whiteouts"
        try manager.createDirectory(atPath: "\(whiteouts)/data/opq", withIntermediateDirectories: true)
        for file in ["data/.wh.victim", "data/opq/new", "data/opq/.wh..wh..opq"] { try write("", "\(whiteouts)/\(file)") }
        let links = layout + "-layers/links"
        try manager.createDirectory(atPath: "\(links)/data", withIntermediateDirectories: true)
        try write("linked", "\(links)/data/orig")
        try manager.linkItem(atPath: "\(links)/data/orig", toPath: "\(links)/data/hl")
        try manager.createSymbolicLink(atPath: "\(links)/data/sl", withDestinationPath: "/etc/passwd")
        var tars: [[UInt8]] = []
        for directory in [base, whiteouts, links] {
            // Sorted names: the opaque marker comes after opq/new, as the spec's rule requires handling.
            try await Interop.shell("tar -C '\(directory)' --sort=name --numeric-owner -cf '\(directory).tar' .")
            tars.append(Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory).tar"))))
        }
        try manager.removeItem(atPath: layout + "-layers")
        tars += extraLayers

        try manager.createDirectory(atPath: "\(layout)/blobs/sha256", withIntermediateDirectories: true)
        func put(_ bytes: [UInt8]) throws -> [String: Any] {
            let digest = Digest.of(bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(layout)/blobs/sha256/\(digest.encoded)"))
            return ["digest": digest.description, "size": bytes.count]
        }
        let layers = try tars.map(put)
        var diffIDs = layers.map { $0["digest"] as! String }
        if badDiffID { diffIDs[1] = Digest.of(Array("not the layer".utf8)).description }
        let config = try put(Fixtures.json([
            "architecture": Platform.current.architecture, "os": "linux", "created": "2026-11-29T00:00:00Z",
            "config": [
                "Env": ["PATH=/bin", "GREETING=hi"], "Cmd": ["sh", "-c", "echo $GREETING from busybox"], "WorkingDir": "/tmp",
                "ExposedPorts": ["80/tcp": [String: String]()],
            ],
            "rootfs": ["type": "layers", "diff_ids": diffIDs],
        ]))
        let manifestBytes = Fixtures.json([
            "schemaVersion": 2, "mediaType": MediaType.ociManifest,
            "config": config.merging(["mediaType": MediaType.ociConfig]) { $1 },
            "layers": layers.map { $0.merging(["mediaType": MediaType.ociLayerTar]) { $1 } },
        ])
        let manifest = try put(manifestBytes)
        try write(#"{"imageLayoutVersion": "1.0.0"}"#, "\(layout)/oci-layout")
        try Data(Fixtures.json(["schemaVersion": 2, "manifests": [
            manifest.merging(["mediaType": MediaType.ociManifest, "annotations": ["org.opencontainers.image.ref.name": tag]]) { $1 },
        ]])).write(to: URL(fileURLWithPath: "\(layout)/index.json"))
    }

    @Test func pullRunAndManageContainersWithBothRuntimes() async throws {
        try await withServer { server, _ in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let layout = berth.path("layout")
            try await Self.busyboxLayout(at: layout)
            let image = "127.0.0.1:\(server.port)/team/bb:v1"
            try await berth.succeed(["copy", "-q", "--dest-tls-verify=false", "oci:\(layout):v1", "docker://\(image)"])
            let root = ["--root", berth.path("store")]
            func run(_ arguments: [String]) async throws -> Interop.Output { try await berth.run(["run", "-q", "--tls-verify=false"] + root + arguments) }

            // Pulled on first use; the image's Cmd, Env and WorkingDir apply.
            let first = try await run(["--rm", image])
            #expect(first.status == 0 && first.stdout == "hi from busybox\n", "\(first.stdout.debugDescription) \(first.stderr)")
            let layered = try await run(["--rm", image, "sh", "-c", "ls /data; ls /data/opq; test /data/hl -ef /data/orig && echo hardlinked; readlink /data/sl"])
            #expect(layered.stdout == "hl\nopq\norig\nsl\nnew\nhardlinked\n/etc/passwd\n", "\(layered.stdout.debugDescription) \(layered.stderr)")
            // The layers are unpacked once (overlayfs stacks them where the machine allows) and a
            // container's writes stay in the container.
            let cached = (try? FileManager.default.contentsOfDirectory(atPath: berth.path("store/layers")))?.filter { !$0.hasPrefix(".") } ?? []
            #expect(cached.isEmpty || cached.count == 3, "\(cached)")
            let wrote = try await run(["--rm", image, "sh", "-c", "echo x > /data/new; rm /data/orig"])
            #expect(wrote.status == 0, "\(wrote.stderr)")
            let fresh = try await run(["--rm", image, "ls", "/data"])
            #expect(fresh.stdout == "hl\nopq\norig\nsl\n", "\(fresh.stdout)")
            let listed = try await berth.succeed(["images"] + root)
            #expect(listed.stdout.contains("127.0.0.1:\(server.port)/team/bb") && listed.stdout.contains("v1"), "\(listed.stdout)")

            for runtime in ["crun", "runc"] {
                let echo = try await run(["--rm", "--runtime", runtime, image, "echo", "hello"])
                #expect(echo.status == 0 && echo.stdout == "hello\n", "\(runtime): \(echo.stdout.debugDescription) \(echo.stderr)")
                let status = try await run(["--rm", "--runtime", runtime, image, "sh", "-c", "exit 7"])
                #expect(status.status == 7, "\(runtime)")
                let flags = try await run([
                    "--rm", "--runtime", runtime, "-e", "KEY=v", "-w", "/work", "-u", "app", "--entrypoint", "/bin/sh", image,
                    "-c", "id; pwd; echo $KEY $GREETING; ip -o link | grep -vc ': lo:'",
                ])
                #expect(flags.stdout == "uid=1000(app) gid=1000(app) groups=2000(extra)\n/work\nv hi\n0\n", "\(runtime): \(flags.stdout) \(flags.stderr)")
                let limited = try await run([
                    "--rm", "--runtime", runtime, "--read-only", "--memory", "64m", "--pids-limit", "50", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", image,
                    "sh", "-c",
                    "touch /x 2>/dev/null && echo writable; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; grep CapEff /proc/self/status",
                ])
                #expect(limited.stdout == "67108864\n50\nCapEff:\t0000000000000400\n", "\(runtime): \(limited.stdout.debugDescription) \(limited.stderr)")
                // podman's /etc/hostname and /etc/hosts (writable, as podman's, on a read-only root
                // too): the container resolves its own name; HOSTNAME as docker and podman set it.
                let names = try await run([
                    "--rm", "--runtime", runtime, "--read-only", "--name", "named-\(runtime)", "-h", "box", image, "sh", "-c",
                    "cat /etc/hostname; echo $HOSTNAME; busybox hostname -i; grep -c localhost /etc/hosts; grep named /etc/hosts; echo >> /etc/hosts && echo writable",
                ])
                #expect(names.stdout == "box\nbox\n127.0.0.1\n2\n127.0.0.1\tbox named-\(runtime)\nwritable\n", "\(runtime): \(names.stdout.debugDescription) \(names.stderr)")
            }

            let hostData = berth.path("data")
            try FileManager.default.createDirectory(atPath: hostData, withIntermediateDirectories: true)
            try Data("from the host".utf8).write(to: URL(fileURLWithPath: "\(hostData)/f"))
            let volume = try await run(["--rm", "-v", "\(hostData):/data:ro", image, "sh", "-c", "cat /data/f; touch /data/g 2>/dev/null || echo ' read-only'"])
            #expect(volume.stdout == "from the host read-only\n", "\(volume.stdout.debugDescription) \(volume.stderr)")

            // 127 and 126 as podman, in one line, before any runtime starts.
            let missing = try await run(["--rm", image, "nosuchcmd"])
            #expect(missing.status == 127 && missing.stderr == "berth: nosuchcmd: executable file not found in the image's $PATH\n", "\(missing.stderr)")
            let notExecutable = try await run(["--rm", image, "/etc/passwd"])
            #expect(notExecutable.status == 126, "\(notExecutable.stderr)")
            let badUser = try await run(["--rm", "-u", "nosuch", image, "true"])
            #expect(badUser.status == 125 && badUser.stderr.contains("unable to find user nosuch"), "\(badUser.stderr)")

            // Without --rm the container stays for ps and rm; an image in use cannot be removed.
            let kept = try await run(["--name", "keep", image, "true"])
            #expect(kept.status == 0, "\(kept.stderr)")
            #expect(!(try await berth.succeed(["ps"] + root).stdout.contains("keep")), "ps lists running containers only")
            let ps = try await berth.succeed(["ps", "-a"] + root)
            #expect(ps.stdout.contains("keep") && ps.stdout.contains("Exited (0)"), "\(ps.stdout)")
            let duplicate = try await run(["--name", "keep", image, "true"])
            #expect(duplicate.status == 125 && duplicate.stderr.contains("already in use"), "\(duplicate.stderr)")
            let inUse = try await berth.run(["rmi"] + root + [image])
            #expect(inUse.status == 1 && inUse.stderr.contains("used by container keep"), "\(inUse.stderr)")
            try await berth.succeed(["rm"] + root + ["keep"])
            #expect(try await berth.succeed(["ps", "-q"] + root).stdout.isEmpty)
            try await berth.succeed(["rmi"] + root + [image])
            #expect(!(try await berth.succeed(["images"] + root).stdout.contains("team/bb")))
            let again = try await berth.run(["rmi"] + root + [image])
            #expect(again.status == 2, "\(again.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: berth.path("store/images/blobs/sha256")).isEmpty)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: berth.path("store/layers"))) ?? []).isEmpty)
            #expect(!((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").contains(berth.path("store")))
        }
    }

    @Test func aLayerThatDoesNotMatchItsDiffIDLeavesNoContainer() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let layout = berth.path("bad")
        try await Self.busyboxLayout(at: layout, badDiffID: true)
        let root = ["--root", berth.path("store")]
        let result = try await berth.run(["run", "-q"] + root + ["oci:\(layout):v1", "true"])
        #expect(result.status == 125 && result.stderr.contains("does not match its diff_id") && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: berth.path("store/containers")).isEmpty)
        let noRuntime = try await berth.run(["run", "-q", "--runtime", "no-such-runtime"] + root + ["oci:\(layout):v1", "true"])
        #expect(noRuntime.status == 125 && noRuntime.stderr.contains("not found"), "\(noRuntime.stderr)")

        // The store is an OCI layout that copy reaches as local:NAME ($BERTH_ROOT).
        let good = berth.path("good")
        try await Self.busyboxLayout(at: good)
        let env = berth.environment.merging(["BERTH_ROOT": berth.path("store")]) { $1 }
        let pulled = try await Interop.run(Interop.berthBinary, ["pull", "-q", "oci:\(good):v1"], environment: env)
        #expect(pulled.status == 0 && pulled.stdout == "localhost/good:v1\n", "\(pulled.stdout) \(pulled.stderr)")
        let out = try await Interop.run(Interop.berthBinary, ["copy", "-q", "local:localhost/good:v1", "oci:\(berth.path("out")):v1"], environment: env)
        #expect(out.status == 0 && FileManager.default.fileExists(atPath: berth.path("out/index.json")), "\(out.stderr)")
        let missing = try await Interop.run(Interop.berthBinary, ["copy", "-q", "local:localhost/nothing:v1", "oci:\(berth.path("out2")):v1"], environment: env)
        #expect(missing.status == 2, "\(missing.stderr)")
    }
}

extension RunCommandTests {
    /// SIGTERM to `berth run` reaches the container's PID 1, and its status comes back.
    @Test func signalsAreForwardedToTheContainer() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let layout = berth.path("layout")
        try await Self.busyboxLayout(at: layout)
        var output: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &output) == 0 else { throw TestFailure("socketpair") }
        defer { close(output[0]) }
        let process = try Spawn.start(
            Interop.berthBinary,
            ["run", "-q", "--rm", "--root", berth.path("store"), "oci:\(layout):v1", "sh", "-c", "trap 'exit 143' TERM; echo ready; while true; do sleep 0.1; done"],
            environment: berth.environment, stdout: output[1])
        close(output[1])
        let reader = output[0]
        let ready = try await offThread { () -> String in
            // Bounded: a container that never starts fails the test instead of holding it.
            var waiting = [pollfd(fd: reader, events: Int16(POLLIN), revents: 0)]
            guard poll(&waiting, 1, 60_000) == 1 else { return "" }
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = read(reader, &buffer, buffer.count)
            return String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self)
        }
        #expect(ready == "ready\n")
        process.signal(SIGTERM)
        let status = await process.exited(timeout: .seconds(10))
        #expect(status == 143)
        if status == nil {
            process.signal(SIGKILL)
            _ = await process.exited(timeout: .seconds(10))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: berth.path("store/containers")).isEmpty)
    }
}

extension RunCommandTests {
    /// A tar layer written by Python's tarfile from (kind, name, target) triples.
    static func maliciousLayer(_ entries: [(String, String, String)], scratch: BerthCommand) async throws -> [UInt8] {
        let file = scratch.path("evil-\(UUID().uuidString.prefix(6)).tar")
        let spec = entries.map { "(\"\($0.0)\", \"\($0.1)\", \"\($0.2)\")" }.joined(separator: ", ")
        let script = """
            import io, sys, tarfile
            with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tar:
                for kind, name, target in [\(spec)]:
                    info = tarfile.TarInfo(name)
                    if kind == "file":
                        data = b"escaped"
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
                        continue
                    info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                    info.linkname = target
                    tar.addfile(info)
            """
        let made = try await Interop.run("/usr/bin/env", ["python3", "-c", script, file])
        guard made.status == 0 else { throw TestFailure("python tarfile: \(made.stderr)") }
        return Array(try Data(contentsOf: URL(fileURLWithPath: file)))
    }

    /// Two layouts whose directories share a name get the same stored name: the second used to
    /// be served from the store as the first (found when the run benchmark compared berth's
    /// unpacked tree with umoci's). Layouts, directories and archives are copied again each time.
    @Test func aLayoutIsReadAgainNotServedStaleFromTheStore() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        for name in ["one", "two"] {
            try FileManager.default.createDirectory(atPath: berth.path(name), withIntermediateDirectories: true)
            try await Self.busyboxLayout(at: berth.path("\(name)/layout"), extraLayers: [try await Self.maliciousLayer([("file", name, "")], scratch: berth)])
        }
        let root = ["--root", berth.path("store")]
        _ = try await berth.succeed(["unpack", "-q"] + root + ["oci:\(berth.path("one/layout")):v1", berth.path("b1")])
        _ = try await berth.succeed(["unpack", "-q"] + root + ["oci:\(berth.path("two/layout")):v1", berth.path("b2")])
        #expect(FileManager.default.fileExists(atPath: berth.path("b2/rootfs/two")))
        #expect(!FileManager.default.fileExists(atPath: berth.path("b2/rootfs/one")))
    }

    @Test func maliciousLayersWriteNothingOutsideTheBundle() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let canary = berth.path("canary")
        try FileManager.default.createDirectory(atPath: canary, withIntermediateDirectories: true)
        try Data("precious".utf8).write(to: URL(fileURLWithPath: "\(canary)/victim"))
        let root = ["--root", berth.path("store")]
        func untouched() -> Bool {
            (try? FileManager.default.contentsOfDirectory(atPath: canary)) == ["victim"]
                && (try? String(contentsOfFile: "\(canary)/victim", encoding: .utf8)) == "precious"
        }

        let confined = try await Self.maliciousLayer([
            ("file", "../../../../../../../..\(canary)/dotdot", ""),
            ("file", "\(canary)/absolute", ""),
            ("symlink", "evil", canary),
            ("file", "evil/through-symlink", ""),
            ("symlink", "evil2", "../../../../../../../..\(canary)"),
            ("file", "evil2/through-relative-symlink", ""),
            ("file", "../../../../../../../..\(canary)/.wh.victim", ""),
            ("symlink", "evil3", "\(canary)/victim"),
            ("file", "evil3", ""),
        ], scratch: berth)
        try await Self.busyboxLayout(at: berth.path("confined"), extraLayers: [confined])
        let ran = try await berth.run(["run", "-q", "--rm"] + root + ["oci:\(berth.path("confined")):v1", "sh", "-c", "cat \(canary)/dotdot \(canary)/through-symlink"])
        #expect(ran.status == 0 && ran.stdout == "escapedescaped", "\(ran.stdout) \(ran.stderr)")
        #expect(untouched())

        for (label, entry) in [("hard link", ("hardlink", "hl", "\(canary)/victim")), ("relative hard link", ("hardlink", "hl2", "../../../../../../..\(canary)/victim"))] {
            let layer = try await Self.maliciousLayer([entry], scratch: berth)
            let layout = berth.path("refused-\(label.count)")
            try await Self.busyboxLayout(at: layout, extraLayers: [layer])
            let refused = try await berth.run(["run", "-q", "--rm"] + root + ["oci:\(layout):v1", "true"])
            #expect(refused.status == 125 && refused.stderr.contains("not in the rootfs") && refused.stderr.split(separator: "\n").count == 1, "\(label): \(refused.stderr)")
            #expect(untouched(), "\(label)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: berth.path("store/containers")).isEmpty)
    }
}

extension RunCommandTests {
    /// Two runs of an image not yet pulled, at once: both pull, unpack and run; one copy of each
    /// layer stays, nothing half-written.
    @Test func concurrentRunsOfANewImageShareOneCopyOfItsLayers() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let layout = berth.path("layout")
        try await Self.busyboxLayout(at: layout)
        let arguments = ["run", "-q", "--rm", "--root", berth.path("store"), "oci:\(layout):v1", "sh", "-c", "ls /data"]
        async let first = berth.run(arguments)
        async let second = berth.run(arguments)
        for result in try await [first, second] {
            #expect(result.status == 0 && result.stdout == "hl\nopq\norig\nsl\n", "\(result.stdout) \(result.stderr)")
        }
        let layers = (try? FileManager.default.contentsOfDirectory(atPath: berth.path("store/layers"))) ?? []
        #expect(!layers.contains { $0.hasPrefix(".tmp-") } && (layers.isEmpty || layers.count == 3), "\(layers)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: berth.path("store/containers")).isEmpty)
        let images = try await berth.succeed(["images", "--root", berth.path("store")])
        #expect(images.stdout.split(separator: "\n").count == 2, "\(images.stdout)")
    }
}
