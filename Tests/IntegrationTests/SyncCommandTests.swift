import Foundation
import OCI
import RegistryClient
import Testing

/// `berth sync` between real registries (berth serve, Debian's docker-registry), dir trees and
/// OCI layouts: selection, naming, incremental re-runs, prune, failures and the report.
@Suite struct SyncCommandTests {
    let insecure = ["--src-tls-verify=false", "--dest-tls-verify=false"]

    /// Pushes `team/app` with tags v1, v2 (same image) and v3, and `team/tool:1.0.0`, `1.2.0`, `2.0.0`, `latest`.
    func seed(_ http: HTTP) async throws -> [String: String] {
        var digests: [String: String] = [:]
        let shared = Fixtures.image(layers: 2, layerSize: 50_000)
        for tag in ["v1", "v2"] { try await http.push(shared, to: "team/app", as: tag) }
        digests["v1"] = shared.digest
        let other = Fixtures.image(layers: 2, layerSize: 50_000)
        try await http.push(other, to: "team/app", as: "v3")
        digests["v3"] = other.digest
        for tag in ["1.0.0", "1.2.0", "2.0.0", "latest"] { try await http.push(Fixtures.image(layers: 1), to: "team/tool", as: tag) }
        return digests
    }

    /// The same images pushed through the registry client (docker-registry has no monolithic POST).
    func seed(registry: String) async throws -> [String: String] {
        var options = ClientOptions()
        options.tlsVerify = false
        let client = try RegistryClient(registry: registry, options: options)
        func push(_ image: Fixtures.Image, _ repository: String, _ tag: String) async throws {
            let repo = try RepositoryName(parsing: repository)
            for blob in [image.config] + image.layers {
                try await client.pushBlob(repo, Digest.of(blob), size: Int64(blob.count)) { Chunked(bytes: blob) }
            }
            try await client.putManifest(repo, .tag(try Tag(parsing: tag)), mediaType: MediaType.ociManifest, bytes: image.manifest)
        }
        let shared = Fixtures.image(layers: 2, layerSize: 50_000)
        for tag in ["v1", "v2"] { try await push(shared, "team/app", tag) }
        let other = Fixtures.image(layers: 2, layerSize: 50_000)
        try await push(other, "team/app", "v3")
        return ["v1": shared.digest, "v3": other.digest]
    }

    func report(_ path: String) throws -> [[String: Any]] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [[String: Any]] ?? []
    }

    @Test func aRepositorySyncIsIncrementalAndPrunesOnlyWhenAsked() async throws {
        try await withServer { source, http in
            try await withServer { target, targetHTTP in
                let digests = try await seed(http)
                let gate = TokenGate(backend: "http://127.0.0.1:\(target.port)", requireToken: false)
                try await gate.run { port in
                    let berth = try BerthCommand()
                    defer { berth.cleanup() }
                    let arguments = ["sync", "--src", "docker", "--dest", "docker"] + insecure
                        + ["127.0.0.1:\(source.port)/team/app", "127.0.0.1:\(port)/mirror"]
                    let first = try await berth.succeed(arguments + ["--report", berth.path("first.json")])
                    #expect(first.stderr.contains("synced 3 images: 3 copied, 0 unchanged, 0 failed"), "\(first.stderr)")
                    #expect(try await targetHTTP.get("/v2/mirror/app/manifests/v2").body.count > 0)
                    #expect(Digest.of(try await targetHTTP.get("/v2/mirror/app/manifests/v3").body).description == digests["v3"])
                    let entries = try report(berth.path("first.json"))
                    #expect(Set(entries.compactMap { $0["action"] as? String }) == ["copied"])
                    #expect(entries.allSatisfy { ($0["destination"] as? String)?.hasPrefix("docker://127.0.0.1:\(port)/mirror/app:") == true })

                    gate.forwarded.withLock { $0 = [] }
                    let second = try await berth.succeed(arguments)
                    #expect(second.stderr.contains("synced 3 images: 0 copied, 3 unchanged, 0 failed"), "\(second.stderr)")
                    let requests = gate.forwarded.withLock { $0 }
                    #expect(!requests.contains { $0.hasPrefix("POST") || $0.hasPrefix("PUT") || $0.hasPrefix("PATCH") }, "\(requests)")
                    #expect(requests.filter { $0.hasPrefix("HEAD") && $0.contains("/manifests/") }.count == 3)

                    // v2 disappears at the source: only --prune removes it, and --dry-run only lists it.
                    _ = try await http.delete("/v2/team/app/manifests/v2")
                    #expect(try await http.get("/v2/team/app/manifests/v1").status == 200)
                    try await berth.succeed(arguments)
                    #expect(try await targetHTTP.get("/v2/mirror/app/manifests/v2").status == 200)
                    let dry = try await berth.succeed(arguments + ["--prune", "--dry-run"])
                    #expect(dry.stderr.contains("Would prune docker://127.0.0.1:\(port)/mirror/app:v2"), "\(dry.stderr)")
                    #expect(try await targetHTTP.get("/v2/mirror/app/manifests/v2").status == 200)
                    try await berth.succeed(arguments + ["--prune"])
                    #expect(try await targetHTTP.get("/v2/mirror/app/manifests/v2").status == 404)
                    #expect(try await targetHTTP.get("/v2/mirror/app/manifests/v1").status == 200)
                }
            }
        }
    }

    @Test func yamlSelectsByListRegexAndSemverAndKeepsGoing() async throws {
        try await withServer { source, http in
            try await withServer { target, targetHTTP in
                _ = try await seed(http)
                let berth = try BerthCommand()
                defer { berth.cleanup() }
                let yaml = berth.path("sync.yaml")
                try Data(
                    """
                    127.0.0.1:\(source.port):
                      tls-verify: false
                      images:
                        team/app: [v1]
                        team/missing: [v1]
                      images-by-tag-regex:
                        team/app: ^v[23]$
                      images-by-semver:
                        team/tool: ">= 1.0.0, < 2"
                      exclude-tag-regex:
                        team/app: ^v3$
                    """.utf8
                ).write(to: URL(fileURLWithPath: yaml))
                let arguments = ["sync", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false", yaml, "127.0.0.1:\(target.port)/mirror"]
                let stopped = try await berth.run(arguments + ["--image-parallel-copies", "1"])
                #expect(stopped.status == 1, "\(stopped.stderr)")
                let kept = try await berth.run(arguments + ["--keep-going", "--report", berth.path("r.json")])
                #expect(kept.status == 1 && kept.stderr.contains("Failed docker://127.0.0.1:\(source.port)/team/missing:v1"), "\(kept.stderr)")
                let entries = try report(berth.path("r.json"))
                let byDestination = Dictionary(entries.map { (($0["destination"] as? String) ?? "", $0) }, uniquingKeysWith: { a, _ in a })
                #expect((byDestination["docker://127.0.0.1:\(target.port)/mirror/missing:v1"]?["error"] as? String)?.isEmpty == false)
                for tag in ["app/manifests/v1", "app/manifests/v2", "tool/manifests/1.0.0", "tool/manifests/1.2.0"] {
                    #expect(try await targetHTTP.get("/v2/mirror/\(tag)").status == 200, "\(tag)")
                }
                for tag in ["app/manifests/v3", "tool/manifests/2.0.0", "tool/manifests/latest"] {
                    #expect(try await targetHTTP.get("/v2/mirror/\(tag)").status == 404, "\(tag)")
                }
            }
        }
    }

    @Test func badYAMLNamesTheFileLineAndKey() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let cases = [
            ("registry.example:\n  images:\n    app: [v1]\n  imagez: {}\n", "sync.yaml:4: registry.example.imagez: unknown key"),
            ("registry.example:\n  images-by-tag-regex:\n    app: '[unclosed'\n", "sync.yaml:3: registry.example.images-by-tag-regex.app: invalid regular expression"),
            ("registry.example:\n  images-by-semver:\n    app: '>= banana'\n", "sync.yaml:3: registry.example.images-by-semver.app: invalid semver constraint"),
            ("registry.example:\n  tls-verify: maybe\n", "sync.yaml:2: registry.example.tls-verify: expected true or false"),
        ]
        for (yaml, message) in cases {
            let file = berth.path("sync.yaml")
            try Data(yaml.utf8).write(to: URL(fileURLWithPath: file))
            let result = try await berth.run(["sync", "--src", "yaml", "--dest", "dir", file, berth.path("out")])
            #expect(result.status == 2 && result.stderr.contains(message), "\(result.stderr)")
        }
        let badFlag = try await berth.run(["sync", "--src", "nope", "--dest", "dir", "a", "b"])
        #expect(badFlag.status == 2)
        let unknownOption = try await berth.run(["sync", "--frobnicate"])
        #expect(unknownOption.status == 2)
    }

    @Test func dirAndOCIDestinationsAreScopedAndRerunnable() async throws {
        try await withServer { source, http in
            try await withServer { target, _ in
                let digests = try await seed(http)
                let berth = try BerthCommand()
                defer { berth.cleanup() }
                let tree = berth.path("usb")
                let host = "127.0.0.1:\(source.port)"
                try await berth.succeed(["sync", "--src", "docker", "--dest", "dir", "--scoped", "--src-tls-verify=false", "\(host)/team/app", tree])
                for tag in ["v1", "v2", "v3"] {
                    #expect(FileManager.default.fileExists(atPath: "\(tree)/\(host)/team/app:\(tag)/manifest.json"), "\(tag)")
                }
                let again = try await berth.succeed(["sync", "--src", "docker", "--dest", "dir", "--scoped", "--src-tls-verify=false", "\(host)/team/app", tree])
                #expect(again.stderr.contains("0 copied, 3 unchanged"), "\(again.stderr)")
                // dir → registry keeps the digests.
                try await berth.succeed(["sync", "--src", "dir", "--dest", "docker", "--dest-tls-verify=false", "\(tree)/\(host)", "127.0.0.1:\(target.port)"])
                let back = try await berth.succeed(["inspect", "--raw", "--tls-verify=false", "docker://127.0.0.1:\(target.port)/team/app:v3"])
                #expect(Digest.of(Array(back.stdout.utf8)).description == digests["v3"])
                // … and registry → dir again gives the same files' manifests.
                let roundTrip = berth.path("round-trip")
                try await berth.succeed(["sync", "--src", "docker", "--dest", "dir", "--src-tls-verify=false", "127.0.0.1:\(target.port)/team/app", roundTrip])
                for tag in ["v1", "v2", "v3"] {
                    let original = try Data(contentsOf: URL(fileURLWithPath: "\(tree)/\(host)/team/app:\(tag)/manifest.json"))
                    let again = try Data(contentsOf: URL(fileURLWithPath: "\(roundTrip)/app:\(tag)/manifest.json"))
                    #expect(original == again, "\(tag)")
                }
                let layouts = berth.path("layouts")
                try await berth.succeed(["sync", "--src", "docker", "--dest", "oci", "--src-tls-verify=false", "\(host)/team/app", layouts])
                let oci = try await berth.succeed(["sync", "--src", "docker", "--dest", "oci", "--src-tls-verify=false", "\(host)/team/app", layouts])
                #expect(oci.stderr.contains("0 copied, 3 unchanged"), "\(oci.stderr)")
                let inspected = try await berth.succeed(["inspect", "--raw", "oci:\(layouts)/app:v3"])
                #expect(Digest.of(Array(inspected.stdout.utf8)).description == digests["v3"])
            }
        }
    }

    @Test(.enabled(if: Interop.enabled("skopeo") && Interop.enabled("docker-registry"), "skopeo or docker-registry is not installed"))
    func dirTreesMoveBetweenSkopeoAndBerth() async throws {
        let skopeo = try Interop.tool("skopeo")
        let registry = try await DockerRegistryProcess()
        defer { registry.stop() }
        let digests = try await seed(registry: "127.0.0.1:\(registry.port)")
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let host = "127.0.0.1:\(registry.port)"
        let skopeoTree = berth.path("skopeo-tree")
        let made = try await Interop.run(skopeo, ["sync", "--src", "docker", "--dest", "dir", "--src-tls-verify=false", "\(host)/team/app", skopeoTree])
        #expect(made.status == 0, "\(made.stderr)")
        try await berth.succeed(["sync", "--src", "dir", "--dest", "docker", "--dest-tls-verify=false", skopeoTree, "\(host)/from-skopeo"])
        let copied = try await berth.succeed(["inspect", "--raw", "--tls-verify=false", "docker://\(host)/from-skopeo/app:v3"])
        #expect(Digest.of(Array(copied.stdout.utf8)).description == digests["v3"])

        let berthTree = berth.path("berth-tree")
        try await berth.succeed(["sync", "--src", "docker", "--dest", "dir", "--src-tls-verify=false", "\(host)/team/app", berthTree])
        let read = try await Interop.run(skopeo, ["sync", "--src", "dir", "--dest", "docker", "--dest-tls-verify=false", berthTree, "\(host)/from-berth"])
        #expect(read.status == 0, "\(read.stderr)")
        let back = try await berth.succeed(["inspect", "--raw", "--tls-verify=false", "docker://\(host)/from-berth/app:v1"])
        #expect(Digest.of(Array(back.stdout.utf8)).description == digests["v1"])
    }

    @Test(.enabled(if: Interop.enabled("docker-registry"), "docker-registry is not installed"))
    func pruneOnARegistryThatDeletesOnlyByDigest() async throws {
        let source = try await DockerRegistryProcess()
        defer { source.stop() }
        let target = try await DockerRegistryProcess()
        defer { target.stop() }
        let digests = try await seed(registry: "127.0.0.1:\(source.port)")
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let arguments = ["sync", "--src", "docker", "--dest", "docker"] + insecure + ["127.0.0.1:\(source.port)/team/app", "127.0.0.1:\(target.port)/mirror"]
        try await berth.succeed(arguments)
        try await berth.succeed(["delete", "--tls-verify=false", "docker://127.0.0.1:\(source.port)/team/app:v3"])
        let pruned = try await berth.succeed(arguments + ["--prune"])
        #expect(pruned.stderr.contains("Pruned docker://127.0.0.1:\(target.port)/mirror/app:v3"), "\(pruned.stderr)")
        let gone = try await berth.run(["inspect", "--tls-verify=false", "docker://127.0.0.1:\(target.port)/mirror/app:v3"])
        #expect(gone.status == 2)
        let kept = try await berth.succeed(["inspect", "--raw", "--tls-verify=false", "docker://127.0.0.1:\(target.port)/mirror/app:v2"])
        #expect(Digest.of(Array(kept.stdout.utf8)).description == digests["v1"])
        // v2 shares v1's manifest: distribution cannot drop the tag alone, so prune refuses rather than delete v1.
        try await berth.succeed(["delete", "--tls-verify=false", "docker://127.0.0.1:\(source.port)/team/app:v1"])
        try await berth.succeed(["copy"] + insecure + ["docker://127.0.0.1:\(target.port)/mirror/app:v2", "docker://127.0.0.1:\(source.port)/team/app:only"])
        let refused = try await berth.run(arguments + ["--prune"])
        #expect(refused.status == 1 && refused.stderr.contains("cannot delete a tag alone"), "\(refused.stderr)")
        let survived = try await berth.succeed(["inspect", "--raw", "--tls-verify=false", "docker://127.0.0.1:\(target.port)/mirror/app:only"])
        #expect(Digest.of(Array(survived.stdout.utf8)).description == digests["v1"])
    }
}
