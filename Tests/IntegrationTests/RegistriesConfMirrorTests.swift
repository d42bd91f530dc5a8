import Foundation
import Testing

/// Pulls through registries.conf mirrors, as podman and skopeo do: a mirror that has the image
/// serves it, one that is down or filtered out falls through to the primary, a blocked primary is
/// still reachable through a mirror, `insecure` needs no --tls-verify flag — and skopeo, given the
/// same file, pulls the same manifest in each case.
@Suite struct RegistriesConfMirrorTests {
    /// The primary holds one image and the mirror (under /hub) another, so the digest a pull
    /// returns says which one served it.
    private func withPrimaryAndMirror(_ body: (_ primary: Int, _ mirror: Int, _ fromPrimary: String, _ fromMirror: String) async throws -> Void) async throws {
        try await withServer { primary, primaryHTTP in
            try await withServer { mirror, mirrorHTTP in
                let atPrimary = Fixtures.image()
                let atMirror = Fixtures.image()
                try await primaryHTTP.push(atPrimary, to: "team/app", as: "v1")
                try await mirrorHTTP.push(atMirror, to: "hub/team/app", as: "v1")
                try await body(primary.port, mirror.port, atPrimary.digest, atMirror.digest)
            }
        }
    }

    private func config(_ berth: BerthCommand, primary: Int, mirror: Int, primaryBlocked: Bool = false, pullFrom: String = "all") -> String {
        let path = berth.path("registries-\(UUID().uuidString).conf")
        let text = """
            [[registry]]
            location = "127.0.0.1:\(primary)"
            insecure = true
            blocked = \(primaryBlocked)

            [[registry.mirror]]
            location = "127.0.0.1:\(mirror)/hub"
            insecure = true
            pull-from-mirror = "\(pullFrom)"
            """
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    private func digest(_ output: Interop.Output) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
        return try #require(object?["Digest"] as? String, "\(output.stdout) \(output.stderr)")
    }

    private func inspect(_ berth: BerthCommand, _ conf: String, _ name: String) async throws -> Interop.Output {
        try await berth.run(["inspect", "--registries-conf", conf, "--retry-times", "0", "docker://\(name)"])
    }

    @Test func aMirrorServesFirstAndThePrimaryWhenItCannot() async throws {
        try await withPrimaryAndMirror { primary, mirror, fromPrimary, fromMirror in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let refusing = try RefusingPort()
            defer { refusing.close() }
            let closed = refusing.port
            let cases: [(String, String, String)] = [
                ("mirror up", config(berth, primary: primary, mirror: mirror), fromMirror),
                ("mirror down", config(berth, primary: primary, mirror: closed), fromPrimary),
                ("mirror for digests only, a tag pulled", config(berth, primary: primary, mirror: mirror, pullFrom: "digest-only"), fromPrimary),
                ("primary blocked, mirror up", config(berth, primary: primary, mirror: mirror, primaryBlocked: true), fromMirror),
            ]
            for (label, conf, expected) in cases {
                let result = try await inspect(berth, conf, "127.0.0.1:\(primary)/team/app:v1")
                #expect(result.status == 0, "\(label): \(result.stderr)")
                #expect(try digest(result) == expected, "\(label)")
            }
            // A digest the mirror lacks: it answers 404, the primary serves it.
            let byDigest = try await inspect(berth, config(berth, primary: primary, mirror: mirror), "127.0.0.1:\(primary)/team/app@\(fromPrimary)")
            #expect(byDigest.status == 0, "\(byDigest.stderr)")
            #expect(try digest(byDigest) == fromPrimary)
        }
    }

    @Test func whenEverySourceFailsThePrimarysErrorComesWithTheMirrors() async throws {
        try await withPrimaryAndMirror { primary, _, _, _ in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let refusing = try RefusingPort()
            defer { refusing.close() }
            let closed = refusing.port
            let blocked = try await inspect(berth, config(berth, primary: primary, mirror: closed, primaryBlocked: true), "127.0.0.1:\(primary)/team/app:v1")
            #expect(blocked.status == 1, "\(blocked.stderr)")
            #expect(blocked.stderr.contains("registry 127.0.0.1:\(primary) is blocked in"), "\(blocked.stderr)")
            #expect(blocked.stderr.contains("mirrors also failed: 127.0.0.1:\(closed): connection refused"), "\(blocked.stderr)")
            #expect(ClientMessagesTests.plain(blocked.stderr), "\(blocked.stderr)")
            let missing = try await inspect(berth, config(berth, primary: primary, mirror: closed), "127.0.0.1:\(primary)/team/none:v1")
            #expect(missing.status == 2, "not found at the primary is still exit status 2: \(missing.stderr)")
        }
    }

    /// Pushes go to the named registry only, with its `insecure` (no --dest-tls-verify needed);
    /// `copy` says when a mirror served.
    @Test func copyNamesTheMirrorThatServedAndPushesSkipMirrors() async throws {
        try await withPrimaryAndMirror { primary, mirror, _, fromMirror in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let conf = config(berth, primary: primary, mirror: mirror)
            let copied = try await berth.run(["copy", "--registries-conf", conf, "docker://127.0.0.1:\(primary)/team/app:v1", "dir:\(berth.path("out"))"])
            #expect(copied.status == 0, "\(copied.stderr)")
            #expect(copied.stderr.contains("Pulled through mirror 127.0.0.1:\(mirror)/hub/team/app:v1"), "\(copied.stderr)")
            let pushed = try await berth.run(["copy", "-q", "--registries-conf", conf, "dir:\(berth.path("out"))", "docker://127.0.0.1:\(primary)/team/pushed:v1"])
            #expect(pushed.status == 0, "\(pushed.stderr)")
            let back = try await berth.run(["inspect", "--tls-verify=false", "docker://127.0.0.1:\(primary)/team/pushed:v1"])
            #expect(try digest(back) == fromMirror, "the push landed on the primary: \(back.stderr)")
        }
    }

    /// skopeo 1.9.3 reading the same file pulls the same manifest in every case above (without
    /// its tag list, which it reads from the named registry even when that one is blocked).
    @Test(.enabled(if: Interop.enabled("skopeo"))) func skopeoChoosesTheSameSource() async throws {
        let skopeo = try Interop.tool("skopeo")
        try await withPrimaryAndMirror { primary, mirror, _, _ in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let refusing = try RefusingPort()
            defer { refusing.close() }
            let closed = refusing.port
            for conf in [
                config(berth, primary: primary, mirror: mirror), config(berth, primary: primary, mirror: closed),
                config(berth, primary: primary, mirror: mirror, pullFrom: "digest-only"),
                config(berth, primary: primary, mirror: mirror, primaryBlocked: true),
            ] {
                let ours = try await inspect(berth, conf, "127.0.0.1:\(primary)/team/app:v1")
                let theirs = try await Interop.run(skopeo, ["--registries-conf", conf, "inspect", "--no-tags", "--retry-times", "0", "docker://127.0.0.1:\(primary)/team/app:v1"],
                                                   environment: berth.environment)
                #expect(theirs.status == 0, "\(theirs.stderr)")
                let (mine, skopeos) = (try digest(ours), try digest(theirs))
                #expect(mine == skopeos, "\(conf)")
            }
        }
    }

    /// `pull` resolves a short name as podman does: search registries in order (one that is down
    /// is passed over), an alias first, and enforcing mode refuses to guess.
    @Test func shortNamesArePulledFromTheSearchRegistries() async throws {
        try await withPrimaryAndMirror { primary, mirror, fromPrimary, fromMirror in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let refusing = try RefusingPort()
            defer { refusing.close() }
            let closed = refusing.port
            let conf = berth.path("short.conf")
            func write(_ text: String) { _ = FileManager.default.createFile(atPath: conf, contents: Data(text.utf8)) }
            func stored(_ name: String) async throws -> String {
                let images = try await berth.succeed(["images", "--root", berth.path("store")])
                return images.stdout.split(separator: "\n").first { $0.contains(name) }.map(String.init) ?? ""
            }
            write("""
                unqualified-search-registries = ["127.0.0.1:\(closed)", "127.0.0.1:\(primary)"]
                [[registry]]
                location = "127.0.0.1:\(closed)"
                insecure = true
                [[registry]]
                location = "127.0.0.1:\(primary)"
                insecure = true
                [[registry]]
                location = "127.0.0.1:\(mirror)"
                insecure = true
                [aliases]
                "hubbed/app" = "127.0.0.1:\(mirror)/hub/team/app"
                """)
            let pulled = try await berth.run(["pull", "-q", "--retry-times", "0", "--registries-conf", conf, "--root", berth.path("store"), "team/app:v1"])
            #expect(pulled.status == 0, "\(pulled.stderr)")
            #expect(try await stored("127.0.0.1:\(primary)/team/app ").contains(String(fromPrimary.dropFirst(7).prefix(12))))
            let aliased = try await berth.run(["pull", "-q", "--registries-conf", conf, "--root", berth.path("store"), "hubbed/app:v1"])
            #expect(aliased.status == 0, "\(aliased.stderr)")
            #expect(try await stored("127.0.0.1:\(mirror)/hub/team/app ").contains(String(fromMirror.dropFirst(7).prefix(12))))
            write("short-name-mode = \"enforcing\"\nunqualified-search-registries = [\"127.0.0.1:\(closed)\", \"127.0.0.1:\(primary)\"]\n")
            let refused = try await berth.run(["pull", "-q", "--registries-conf", conf, "--root", berth.path("store"), "team/app:v1"])
            #expect(refused.status != 0 && refused.stderr.contains("short-name resolution is enforced"), "\(refused.stderr)")
        }
    }
}
