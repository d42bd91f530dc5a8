import Foundation
import OCI
import Testing

/// `berth pull/run/images/ps/rm/rmi` with a busybox image pushed into `berth serve`, run through
/// the real crun and runc.
@Suite(.enabled(if: geteuid() == 0 && Interop.enabled("busybox") && Interop.enabled("crun") && Interop.enabled("runc"),
    "running containers needs root, busybox, crun and runc (apt-get install busybox-static crun runc)"))
struct RunCommandTests {
    /// An OCI layout with a one-layer busybox image (`/bin/*` applets, `app` user 1000 in group
    /// `extra` 2000) tagged `tag`; `badDiffID` writes a config whose diff_id lies.
    static func busyboxLayout(at layout: String, tag: String = "v1", badDiffID: Bool = false) async throws {
        let rootfs = layout + "-rootfs"
        let manager = FileManager.default
        for directory in ["bin", "etc", "tmp", "home/app"] { try manager.createDirectory(atPath: "\(rootfs)/\(directory)", withIntermediateDirectories: true) }
        try manager.copyItem(atPath: try Interop.tool("busybox"), toPath: "\(rootfs)/bin/busybox")
        for applet in ["sh", "echo", "id", "pwd", "cat", "ls", "touch", "ip", "true", "sleep", "grep"] {
            try manager.createSymbolicLink(atPath: "\(rootfs)/bin/\(applet)", withDestinationPath: "busybox")
        }
        try Data("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n".utf8).write(to: URL(fileURLWithPath: "\(rootfs)/etc/passwd"))
        try Data("root:x:0:\napp:x:1000:\nextra:x:2000:app\n".utf8).write(to: URL(fileURLWithPath: "\(rootfs)/etc/group"))
        try manager.createDirectory(atPath: "\(layout)/blobs/sha256", withIntermediateDirectories: true)
        try await Interop.shell("tar -C '\(rootfs)' --numeric-owner -cf '\(layout)/layer.tar' .")
        let tar = Array(try Data(contentsOf: URL(fileURLWithPath: "\(layout)/layer.tar")))
        try manager.removeItem(atPath: "\(layout)/layer.tar")
        func put(_ bytes: [UInt8]) throws -> [String: Any] {
            let digest = Digest.of(bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(layout)/blobs/sha256/\(digest.encoded)"))
            return ["digest": digest.description, "size": bytes.count]
        }
        let layer = try put(tar)
        let diffID = badDiffID ? Digest.of(Array("not the layer".utf8)).description : layer["digest"] as! String
        let config = try put(Fixtures.json([
            "architecture": Platform.current.architecture, "os": "linux", "created": "2026-11-29T00:00:00Z",
            "config": ["Env": ["PATH=/bin", "GREETING=hi"], "Cmd": ["sh", "-c", "echo $GREETING from busybox"], "WorkingDir": "/tmp"],
            "rootfs": ["type": "layers", "diff_ids": [diffID]],
        ]))
        let manifestBytes = Fixtures.json([
            "schemaVersion": 2, "mediaType": MediaType.ociManifest,
            "config": config.merging(["mediaType": MediaType.ociConfig]) { $1 },
            "layers": [layer.merging(["mediaType": MediaType.ociLayerTar]) { $1 }],
        ])
        let manifest = try put(manifestBytes)
        try Data(#"{"imageLayoutVersion": "1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: "\(layout)/oci-layout"))
        try Data(Fixtures.json(["schemaVersion": 2, "manifests": [
            manifest.merging(["mediaType": MediaType.ociManifest, "annotations": ["org.opencontainers.image.ref.name": tag]]) { $1 },
        ]])).write(to: URL(fileURLWithPath: "\(layout)/index.json"))
        try manager.removeItem(atPath: rootfs)
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
            let ps = try await berth.succeed(["ps"] + root)
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
    }
}

extension RunCommandTests {
    /// SIGTERM to `berth run` reaches the container's PID 1, and its status comes back.
    @Test func signalsAreForwardedToTheContainer() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let layout = berth.path("layout")
        try await Self.busyboxLayout(at: layout)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Interop.berthBinary)
        process.arguments = ["run", "-q", "--rm", "--root", berth.path("store"), "oci:\(layout):v1", "sh", "-c", "trap 'exit 143' TERM; echo ready; while true; do sleep 0.1; done"]
        process.environment = berth.environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let ready = try await offThread { output.fileHandleForReading.availableData }
        #expect(String(decoding: ready, as: UTF8.self) == "ready\n")
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationStatus == 143)
        #expect(try FileManager.default.contentsOfDirectory(atPath: berth.path("store/containers")).isEmpty)
    }
}
