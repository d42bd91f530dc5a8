import Foundation
import OCI
import Testing

@testable import Transports

/// containers-registries.conf(5) as containers/image reads it (facts checked against skopeo 1.9.3
/// and podman 4.3 are marked in the reference notes this follows).
@Suite struct RegistriesConfTests {
    static let sample = """
        # A comment, then globals
        unqualified-search-registries = ["registry.fedoraproject.org", 'quay.io',
            "docker.io",  # trailing comma and comments inside arrays
        ]
        short-name-mode = "enforcing"

        [[registry]]
        prefix = "docker.io"
        location = "registry-1.docker.io"
        insecure = false

        [[registry.mirror]]
        location = "m0.example:5000/hub"
        insecure = true

        [[registry.mirror]]
        location = "m1.example"
        pull-from-mirror = "digest-only"

        [[registry.mirror]]
        location = "m2.example"
        pull-from-mirror = "tag-only"

        [[registry]]
        prefix = "example.com/foo"
        location = "int.example/bar"

        [[registry]]
        location = "blocked.example"
        blocked = true

        [[registry]]
        prefix = "*.corp.example"
        insecure = true

        [aliases]
        "fedora" = "registry.fedoraproject.org/fedora"
        busybox = "docker.io/library/busybox"
        """

    private func sources(_ conf: RegistriesConf, _ name: String) throws -> [String] {
        try conf.pullSources(for: try ImageReference(parsing: name)).map { "\($0.reference)\($0.isMirror ? " (mirror)" : "")" }
    }

    @Test func theSampleParsesIntoEntriesAndGlobals() throws {
        let conf = try RegistriesConf(text: Self.sample, file: "sample.conf")
        #expect(conf.unqualifiedSearchRegistries == ["registry.fedoraproject.org", "quay.io", "docker.io"])
        #expect(conf.shortNameMode == "enforcing")
        #expect(conf.aliases["fedora"] == "registry.fedoraproject.org/fedora")
        #expect(conf.registries.map(\.prefix) == ["docker.io", "example.com/foo", "blocked.example", "*.corp.example"])
        #expect(conf.registries[0].mirrors.map(\.pullFrom) == [.all, .digestOnly, .tagOnly])
        #expect(conf.registries[0].mirrors[0].insecure)
    }

    /// Mirrors in file order, filtered by pull-from-mirror, the primary last ([V-run]: tag → m0,
    /// m2, primary; digest → m0, m1, primary).
    @Test func mirrorsComeFirstFilteredByTheKindOfReference() throws {
        let conf = try RegistriesConf(text: Self.sample, file: "sample.conf")
        #expect(try sources(conf, "alpine:3.20") == [
            "m0.example:5000/hub/library/alpine:3.20 (mirror)", "m2.example/library/alpine:3.20 (mirror)", "registry-1.docker.io/library/alpine:3.20",
        ])
        let digest = "sha256:" + String(repeating: "a", count: 64)
        #expect(try sources(conf, "alpine@\(digest)") == [
            "m0.example:5000/hub/library/alpine@\(digest) (mirror)", "m1.example/library/alpine@\(digest) (mirror)", "registry-1.docker.io/library/alpine@\(digest)",
        ])
        #expect(try conf.pullSources(for: try ImageReference(parsing: "alpine")).first?.insecure == true)
    }

    @Test func prefixesMatchWholeComponentsAndTheLongestWins() throws {
        let conf = try RegistriesConf(text: Self.sample, file: "sample.conf")
        #expect(try sources(conf, "example.com/foo/img:1") == ["int.example/bar/img:1"])
        #expect(try sources(conf, "example.com/foobar/img:1") == ["example.com/foobar/img:1"])
        #expect(RegistriesConf.matches("example.com", "example.com:5000/x"))
        #expect(RegistriesConf.matches("*.corp.example", "a.b.corp.example/x:1"))
        #expect(!RegistriesConf.matches("*.corp.example", "corp.example/x:1"))
        #expect(try conf.pullSources(for: try ImageReference(parsing: "reg.corp.example/team/app:v1")).map(\.insecure) == [true])
    }

    /// `blocked` applies to each attempt's rewritten name: a blocked primary is still reachable
    /// through a mirror, and a blocked prefix whose location is elsewhere is not blocked.
    @Test func blockedIsJudgedPerAttempt() throws {
        let conf = try RegistriesConf(text: """
            [[registry]]
            location = "primary.example"
            blocked = true
            [[registry.mirror]]
            location = "mirror.example"

            [[registry]]
            prefix = "moved.example"
            location = "elsewhere.example"
            blocked = true
            """, file: "b.conf")
        let attempts = try conf.pullSources(for: try ImageReference(parsing: "primary.example/app:v1"))
        #expect(attempts.map { $0.blocked != nil } == [false, true])
        #expect(attempts[1].blocked?.contains("registry primary.example is blocked in b.conf") == true)
        #expect(try conf.pullSources(for: try ImageReference(parsing: "moved.example/app:v1")).map(\.blocked) == [nil])
        #expect(try conf.directAccess(to: try ImageReference(parsing: "primary.example/app:v1")).blocked != nil)
    }

    @Test(arguments: [
        ("[[registry]]\ninsecure = true", "needs a prefix or a location"),
        ("[[registry]]\nprefix = \"a.example\"", "needs a location"),
        ("[[registry]]\nlocation = \"a.example\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m\"\npull-from-mirror = \"tag-only\"", "mirror-by-digest-only"),
        ("[[registry]]\nlocation = \"a.example\"\npull-from-mirror = \"all\"", "belongs in [[registry.mirror]]"),
        ("[[registry]]\nlocation = \"a.example\"\n[[registry.mirror]]\nlocation = \"m\"\npull-from-mirror = \"some\"", "must be \"all\""),
        ("[[registry]]\nlocation = \"a.example\"\ninsecure = true\n[[registry]]\nprefix = \"b.example\"\nlocation = \"a.example\"", "both insecure and not"),
        ("[[registry]]\nprefix = \"*.a.example/x\"", "wildcard prefix"),
        ("[registries.search]\nregistries = [\"docker.io\"]", "version 1 format"),
        ("unknown-key = 1", "unknown key 'unknown-key'"),
        ("[[registry]]\nlocation = \"https://a.example\"", "URI scheme"),
        ("a = \"unterminated\nb = 1", "line 1: unterminated string"),
        ("x = [1, 2\ny = 3", "line 2"),
        ("[aliases]\na = \"x\"\n[aliases]\nb = \"y\"", "line 3: table [aliases] defined twice"),
        ("short-name-mode = \"sometimes\"", "short-name-mode must be"),
        ("x = \"\"\"multi\"\"\"", "multi-line strings are not supported"),
    ])
    func mistakesAreNamedWithTheirFile(_ text: String, _ expected: String) {
        #expect {
            _ = try RegistriesConf(text: text, file: "bad.conf")
        } throws: { error in
            let description = "\(error)"
            return description.hasPrefix("bad.conf: ") && description.contains(expected)
        }
    }

    /// A later file's entry with the same prefix replaces the whole entry; an empty alias removes one.
    @Test func laterFilesReplaceEntriesAndEditAliases() throws {
        var conf = try RegistriesConf(text: Self.sample, file: "a.conf")
        conf.merge(try RegistriesConf(text: "[[registry]]\nprefix = \"docker.io\"\nlocation = \"hub.internal\"\n[aliases]\nfedora = \"\"\nnew = \"x.example/new\"", file: "b.conf"))
        #expect(try sources(conf, "alpine") == ["hub.internal/library/alpine"])
        #expect(conf.aliases["fedora"] == nil && conf.aliases["new"] == "x.example/new")
        #expect(conf.unqualifiedSearchRegistries?.count == 3)
        #expect(conf.files == ["a.conf", "b.conf"])
    }

    @Test func theFilePodmanWouldReadIsFound() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-regconf-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let system = "\(root)/etc", home = "\(root)/home"
        try FileManager.default.createDirectory(atPath: "\(system)/registries.conf.d", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(home)/.config/containers/registries.conf.d", withIntermediateDirectories: true)
        func write(_ path: String, _ text: String) { _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) }
        write("\(system)/registries.conf", "unqualified-search-registries = [\"system.example\"]")
        write("\(system)/registries.conf.d/10-a.conf", "[aliases]\na = \"system.example/a\"")
        write("\(system)/registries.conf.d/ignored.txt", "not toml at all [")
        write("\(home)/.config/containers/registries.conf.d/20-b.conf", "[aliases]\na = \"user.example/a\"")
        let environment = ["HOME": home]
        let systemOnly = try RegistriesConf.load(explicit: nil, environment: environment, systemDirectory: system)
        #expect(systemOnly.unqualifiedSearchRegistries == ["system.example"])
        #expect(systemOnly.aliases["a"] == "user.example/a", "the user's drop-ins come after the system's")
        write("\(home)/.config/containers/registries.conf", "unqualified-search-registries = [\"user.example\"]")
        let user = try RegistriesConf.load(explicit: nil, environment: environment, systemDirectory: system)
        #expect(user.unqualifiedSearchRegistries == ["user.example"] && user.files.count == 2, "\(user.files)")
        let explicit = try RegistriesConf.load(explicit: "\(system)/registries.conf", environment: environment, systemDirectory: system)
        #expect(explicit.files == ["\(system)/registries.conf"])
        let fromEnvironment = try RegistriesConf.load(
            explicit: nil, environment: ["HOME": home, "CONTAINERS_REGISTRIES_CONF": "\(system)/registries.conf"], systemDirectory: system)
        #expect(fromEnvironment.files == ["\(system)/registries.conf"])
        #expect(throws: TransportError.self) { try RegistriesConf.load(explicit: "\(root)/missing.conf", environment: environment) }
    }

    /// What Debian's podman installs as a drop-in parses (when this machine has it).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/etc/containers/registries.conf.d/shortnames.conf")))
    func theDistributionsShortNamesFileParses() throws {
        let text = try String(contentsOfFile: "/etc/containers/registries.conf.d/shortnames.conf", encoding: .utf8)
        let conf = try RegistriesConf(text: text, file: "shortnames.conf")
        #expect(conf.aliases.count > 10)
    }

    /// podman's short names: an alias wins (tag or digest carried over), else each search
    /// registry in order; a qualified name is left alone; enforcing refuses to guess.
    @Test func shortNamesResolveThroughAliasesThenSearchRegistries() throws {
        let conf = try RegistriesConf(text: Self.sample.replacingOccurrences(of: "short-name-mode = \"enforcing\"", with: ""), file: "s.conf")
        func names(_ text: String) throws -> [String]? { try conf.shortNameCandidates(text)?.map(\.description) }
        #expect(try names("fedora:39") == ["registry.fedoraproject.org/fedora:39"])
        #expect(try names("busybox") == ["docker.io/library/busybox"])
        #expect(try names("team/app:v1") == ["registry.fedoraproject.org/team/app:v1", "quay.io/team/app:v1", "docker.io/team/app:v1"])
        #expect(try names("alpine@sha256:" + String(repeating: "b", count: 64))?.last == "docker.io/library/alpine@sha256:" + String(repeating: "b", count: 64))
        #expect(try names("quay.io/team/app") == nil)
        #expect(try names("localhost/app") == nil)
        #expect(try names("127.0.0.1:5000/app") == nil)
        #expect(try RegistriesConf().shortNameCandidates("alpine") == nil, "no search registries: Docker Hub, as skopeo and docker")
        let enforcing = try RegistriesConf(text: Self.sample, file: "e.conf")
        #expect(throws: TransportError.self) { try enforcing.shortNameCandidates("team/app") }
        #expect(try enforcing.shortNameCandidates("fedora")?.count == 1, "an alias needs no choice")
    }
}
