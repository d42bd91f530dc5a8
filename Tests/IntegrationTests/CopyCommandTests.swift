import Foundation
import OCI
import Testing

/// `berth copy`, `inspect`, `list-tags` and `delete` as a user runs them: the real binary against
/// `berth serve` and Debian's docker-registry, over every transport.
@Suite struct CopyCommandTests {
    let insecure = ["--src-tls-verify=false", "--dest-tls-verify=false"]

    func withLayout(_ body: (BerthCommand, URL, (v1: String, multi: String)) async throws -> Void) async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let layout = berth.home.appendingPathComponent("layout")
        let (_, v1, multi) = try await OCILayoutFixture.standard(at: layout)
        try await body(berth, layout, (Digest.of(v1).description, Digest.of(multi).description))
    }

    @Test func everyTransportRoundTripsWithTheSameDigest() async throws {
        try await withServer { server, _ in
            try await withLayout { berth, layout, digests in
                let registry = "127.0.0.1:\(server.port)"
                var current = "oci:\(layout.path):v1"
                for next in [
                    "docker://\(registry)/team/app:v1", "dir:\(berth.path("dir"))", "oci-archive:\(berth.path("a.tar")):v1",
                    "oci:\(berth.path("oci2")):v1", "docker://\(registry)/team/back:v1",
                ] {
                    let digest = try await berth.copy(insecure + [current, next])
                    #expect(digest == digests.v1, "\(current) → \(next)")
                    current = next
                }
                // docker-archive holds uncompressed layers, so the manifest changes but the config does not.
                _ = try await berth.copy(insecure + [current, "docker-archive:\(berth.path("d.tar")):team/app:v1"])
                _ = try await berth.copy(insecure + ["docker-archive:\(berth.path("d.tar"))", "docker://\(registry)/team/fromarchive:v1"])
                let original = try await berth.succeed(["inspect", "--tls-verify=false", "--config", "--raw", "docker://\(registry)/team/app:v1"])
                let restored = try await berth.succeed(["inspect", "--tls-verify=false", "--config", "--raw", "docker://\(registry)/team/fromarchive:v1"])
                #expect(original.stdout == restored.stdout)
                let raw = try await berth.succeed(["inspect", "--tls-verify=false", "--raw", "docker://\(registry)/team/fromarchive:v1"])
                #expect(raw.stdout.contains(MediaType.dockerLayerTarGzip))
            }
        }
    }

    @Test func allCopiesTheIndexAndAPlatformListCopiesASubset() async throws {
        try await withServer { server, http in
            try await withLayout { berth, layout, digests in
                let registry = "127.0.0.1:\(server.port)"
                let all = try await berth.copy(insecure + ["--all", "oci:\(layout.path):multi", "docker://\(registry)/team/multi:v1"])
                #expect(all == digests.multi)
                let back = try await berth.copy(insecure + ["--multi-arch", "all", "docker://\(registry)/team/multi:v1", "oci:\(berth.path("m")):x"])
                #expect(back == digests.multi)
                let system = try await berth.copy(insecure + ["--override-arch", "arm64", "docker://\(registry)/team/multi:v1", "docker://\(registry)/team/arm:v1"])
                let arm = try await berth.succeed(["inspect", "--tls-verify=false", "docker://\(registry)/team/arm:v1"])
                #expect(arm.stdout.contains("\"Architecture\": \"arm64\"") && arm.stdout.contains(system))
                let subset = try await berth.copy(insecure + ["--multi-arch", "linux/arm64", "docker://\(registry)/team/multi:v1", "docker://\(registry)/team/sub:v1"])
                #expect(subset != digests.multi)
                let index = try await http.get("/v2/team/sub/manifests/v1")
                #expect((index.json["manifests"] as? [[String: Any]])?.count == 1)
                let refused = try await berth.run(["copy"] + insecure + ["--preserve-digests", "--multi-arch", "linux/arm64", "docker://\(registry)/team/multi:v1", "docker://\(registry)/team/sub2:v1"])
                #expect(refused.status == 1 && refused.stderr.contains("preserve-digests"))
                #expect(try await http.get("/v2/team/sub2/manifests/v1").status == 404)
                let mixed = try await berth.run(["copy", "--all", "--multi-arch", "all", "oci:\(layout.path):multi", "dir:\(berth.path("x"))"])
                #expect(mixed.status == 1 && mixed.stderr.contains("Cannot use --all and --multi-arch"))
            }
        }
    }

    @Test func formatConversionRewritesMediaTypesAndPreserveDigestsRefusesIt() async throws {
        try await withServer { server, http in
            try await withLayout { berth, layout, digests in
                let registry = "127.0.0.1:\(server.port)"
                let converted = try await berth.copy(insecure + ["-f", "v2s2", "oci:\(layout.path):v1", "docker://\(registry)/team/docker:v1"])
                #expect(converted != digests.v1)
                let manifest = try await http.get("/v2/team/docker/manifests/v1", headers: [("Accept", MediaType.dockerManifest)])
                #expect(manifest.json["mediaType"] as? String == MediaType.dockerManifest)
                #expect((manifest.json["config"] as? [String: Any])?["mediaType"] as? String == MediaType.dockerConfig)
                #expect(((manifest.json["layers"] as? [[String: Any]])?.first?["mediaType"]) as? String == MediaType.dockerLayerTarGzip)
                _ = try await berth.copy(insecure + ["-f", "oci", "docker://\(registry)/team/docker:v1", "oci:\(berth.path("o")):v1"])
                let original = try await berth.succeed(["inspect", "oci:\(layout.path):v1"])
                let roundTripped = try await berth.succeed(["inspect", "oci:\(berth.path("o")):v1"])
                let topDigest = { (text: String) in text.split(separator: "\n").filter { !$0.hasPrefix("    \"Digest\"") } }
                #expect(topDigest(original.stdout) == topDigest(roundTripped.stdout))
                let refused = try await berth.run(["copy", "--preserve-digests", "-f", "v2s2", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(registry)/team/never:v1"])
                #expect(refused.status == 1)
                #expect(try await http.get("/v2/team/never/manifests/v1").status == 404)
            }
        }
    }

    @Test func aSecondCopyReusesBlobsAndTheSameRegistryMounts() async throws {
        try await withServer { server, _ in
            try await withLayout { berth, layout, _ in
                let registry = "127.0.0.1:\(server.port)"
                try await berth.succeed(["copy", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(registry)/team/app:v1"])
                let again = try await berth.succeed(["copy", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(registry)/team/app:v1"])
                #expect(again.stderr.components(separatedBy: "skipped: already exists").count - 1 == 4)
                let mounted = try await berth.succeed(["copy"] + insecure + ["docker://\(registry)/team/app:v1", "docker://\(registry)/other/app:v1"])
                #expect(mounted.stderr.components(separatedBy: "skipped: already exists").count - 1 == 4)
                #expect(mounted.stderr.contains("Writing manifest to image destination"))
                let quiet = try await berth.succeed(["copy"] + insecure + ["-q", "docker://\(registry)/team/app:v1", "dir:\(berth.path("q"))"])
                #expect(quiet.stderr.isEmpty && quiet.stdout.isEmpty)
            }
        }
    }

    @Test func errorsAreOneLineWithSkopeosExitStatus() async throws {
        try await withServer { server, _ in
            try await withLayout { berth, layout, _ in
                let registry = "127.0.0.1:\(server.port)"
                let cases: [([String], Int32, String)] = [
                    (["copy", "--src-tls-verify=false", "docker://\(registry)/no/such:v1", "dir:\(berth.path("n1"))"], 2, "manifest unknown"),
                    (["copy", "oci:\(layout.path):nope", "dir:\(berth.path("n2"))"], 2, "no image named 'nope'"),
                    (["copy", "oci:\(berth.path("absent")):v1", "dir:\(berth.path("n3"))"], 2, "no image layout"),
                    (["copy", "nope://x", "dir:\(berth.path("n4"))"], 1, "unknown transport 'nope'"),
                    (["copy", "docker://host/UPPER:x", "dir:\(berth.path("n5"))"], 1, "invalid image reference"),
                    (["inspect", "--tls-verify=false", "docker://\(registry)/no/such:v1"], 2, "manifest unknown"),
                    (["copy", "-f", "v1", "oci:\(layout.path):v1", "dir:\(berth.path("n6"))"], 1, "unknown --format"),
                    (["list-tags", "--tls-verify=false", "docker://\(registry)/team/app:v1"], 1, "no tag or digest allowed"),
                ]
                for (arguments, status, message) in cases {
                    let result = try await berth.run(arguments)
                    #expect(result.status == status, "\(arguments): \(result.stderr)")
                    #expect(result.stderr.hasPrefix("berth: ") && result.stderr.contains(message), "\(arguments): \(result.stderr)")
                    #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
                }
                for created in ["n1", "n2", "n3", "n4", "n5", "n6"] {
                    #expect(!FileManager.default.fileExists(atPath: berth.path(created)), "\(created) was created")
                }
                // A registry that is not there: one line, exit 1, after the retries.
                let refusing = try RefusingPort()
                defer { refusing.close() }
                let down = try await berth.run(["inspect", "--retry-times", "1", "--retry-delay", "10ms", "--tls-verify=false", "docker://127.0.0.1:\(refusing.port)/a/b:c"])
                #expect(down.status == 1 && down.stderr.hasPrefix("berth: ") && down.stderr.split(separator: "\n").count == 1)
            }
        }
    }

    @Test func aCorruptedBlobFailsTheCopyAndWritesNoManifest() async throws {
        try await withServer { server, _ in
            try await withLayout { berth, layout, _ in
                let registry = "127.0.0.1:\(server.port)"
                try await berth.succeed(["copy", "--dest-tls-verify=false", "oci:\(layout.path):v1", "docker://\(registry)/team/app:v1"])
                let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: layout.appendingPathComponent("index.json"))) as! [String: Any]
                let v1 = (manifest["manifests"] as! [[String: Any]]).first { ($0["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"] == "v1" }!
                let image = try JSONSerialization.jsonObject(with: Data(contentsOf: layout.appendingPathComponent("blobs/sha256/\((v1["digest"] as! String).dropFirst(7))"))) as! [String: Any]
                let layer = try Digest(parsing: (image["layers"] as! [[String: Any]])[1]["digest"] as! String)
                var bytes = try await StoredBlobs.read(server, layer.description)
                bytes[bytes.count / 2] ^= 0xff
                try await StoredBlobs.overwrite(server, layer.description, with: bytes)
                let result = try await berth.run(["copy", "--src-tls-verify=false", "docker://\(registry)/team/app:v1", "oci:\(berth.path("out")):v1"])
                #expect(result.status == 1 && result.stderr.contains(layer.description), "\(result.stderr)")
                #expect(!FileManager.default.fileExists(atPath: berth.path("out/index.json")))
                let leftovers = try FileManager.default.subpathsOfDirectory(atPath: berth.path("out")).filter { $0.contains(".berth-tmp") }
                #expect(leftovers.isEmpty)
            }
        }
    }

    @Test func deleteThenInspectIsNotFound() async throws {
        try await withServer { server, _ in
            try await withLayout { berth, layout, _ in
                let image = "docker://127.0.0.1:\(server.port)/team/app:v1"
                try await berth.succeed(["copy", "--dest-tls-verify=false", "oci:\(layout.path):v1", image])
                try await berth.succeed(["delete", "--tls-verify=false", image])
                let gone = try await berth.run(["inspect", "--tls-verify=false", image])
                #expect(gone.status == 2)
                let again = try await berth.run(["delete", "--tls-verify=false", image])
                #expect(again.status == 2)
            }
        }
    }

    @Test func archivesCarryTagsAndListThem() async throws {
        try await withLayout { berth, layout, _ in
            let archive = berth.path("app.tar")
            try await berth.succeed(["copy", "--additional-tag", "team/app:latest", "oci:\(layout.path):v1", "docker-archive:\(archive):team/app:v1"])
            let tags = try await berth.succeed(["list-tags", "docker-archive:\(archive)"])
            #expect(tags.stdout == "{\n    \"Tags\": [\n        \"docker.io/team/app:v1\",\n        \"docker.io/team/app:latest\"\n    ]\n}\n")
            let exists = try await berth.run(["copy", "oci:\(layout.path):v1", "docker-archive:\(archive)"])
            #expect(exists.status == 1 && exists.stderr.contains("does not modify existing archives"))
            let recompressed = berth.path("gz")
            try await berth.succeed(["copy", "--dest-compress-format", "gzip", "docker-archive:\(archive):team/app:latest", "dir:\(recompressed)"])
            let manifest = try String(contentsOfFile: "\(recompressed)/manifest.json", encoding: .utf8)
            #expect(manifest.contains(MediaType.dockerLayerTarGzip) && !manifest.contains("diff.tar\""))
            try await berth.succeed(["copy", "--dest-decompress", "dir:\(recompressed)", "dir:\(berth.path("plain"))"])
            #expect(try String(contentsOfFile: berth.path("plain/manifest.json"), encoding: .utf8).contains("\"\(MediaType.dockerLayerTar)\""))
        }
    }

    @Test func layersAreRecompressedAsZstdAndBack() async throws {
        try await withLayout { berth, layout, _ in
            let zstd = berth.path("zstd")
            try await berth.succeed(["copy", "--dest-compress-format", "zstd", "--dest-compress-level", "5", "oci:\(layout.path):v1", "oci:\(zstd):v1"])
            let manifest = try await berth.succeed(["inspect", "--raw", "oci:\(zstd):v1"]).stdout
            #expect(manifest.contains(MediaType.ociLayerTarZstd) && !manifest.contains(MediaType.ociLayerTarGzip))
            let docker = try await berth.run(["copy", "-f", "v2s2", "oci:\(zstd):v1", "dir:\(berth.path("docker"))"])
            #expect(docker.status == 1 && docker.stderr.contains("cannot be expressed"), "\(docker.stderr)")
            try await berth.succeed(["copy", "--dest-compress-format", "gzip", "oci:\(zstd):v1", "oci:\(berth.path("gzip")):v1"])
            let original = try await berth.succeed(["inspect", "--config", "--raw", "oci:\(layout.path):v1"]).stdout
            let roundTripped = try await berth.succeed(["inspect", "--config", "--raw", "oci:\(berth.path("gzip")):v1"]).stdout
            #expect(original == roundTripped)
            // The diff_ids still match: docker-archive decompresses and checks nothing changed in the tars.
            try await berth.succeed(["copy", "oci:\(berth.path("gzip")):v1", "docker-archive:\(berth.path("d.tar")):team/app:v1"])
            let tars = try await Interop.run("/bin/sh", ["-c", "tar -xOf '\(berth.path("d.tar"))' manifest.json"])
            let config = try JSONSerialization.jsonObject(with: Data(original.utf8)) as? [String: Any]
            let diffIDs = ((config?["rootfs"] as? [String: Any])?["diff_ids"] as? [String]) ?? []
            #expect(!diffIDs.isEmpty && diffIDs.allSatisfy { tars.stdout.contains("\($0.dropFirst(7)).tar") })
        }
    }

    @Test func manifestDigestPrintsTheDigest() async throws {
        try await withLayout { berth, layout, digests in
            let manifest = layout.appendingPathComponent("blobs/sha256/\(digests.v1.dropFirst(7))").path
            let result = try await berth.succeed(["manifest-digest", manifest])
            #expect(result.stdout == digests.v1 + "\n")
        }
    }

    @Test(.enabled(if: Interop.enabled("docker-registry"), "docker-registry is not installed (apt-get install docker-registry)"))
    func copiesBetweenDockerRegistryAndBerthServe() async throws {
        let registry = try await DockerRegistryProcess()
        defer { registry.stop() }
        try await withServer { server, _ in
            try await withLayout { berth, layout, digests in
                let distribution = "docker://127.0.0.1:\(registry.port)"
                let berthServe = "docker://127.0.0.1:\(server.port)"
                #expect(try await berth.copy(insecure + ["--all", "oci:\(layout.path):multi", "\(distribution)/team/multi:v1"]) == digests.multi)
                #expect(try await berth.copy(insecure + ["--all", "\(distribution)/team/multi:v1", "\(berthServe)/team/multi:v1"]) == digests.multi)
                #expect(try await berth.copy(insecure + ["--all", "\(berthServe)/team/multi:v1", "\(distribution)/team/again:v1"]) == digests.multi)
                let tags = try await berth.succeed(["list-tags", "--tls-verify=false", "\(distribution)/team/multi"])
                #expect(tags.stdout.contains("\"Repository\": \"127.0.0.1:\(registry.port)/team/multi\""))
            }
        }
    }
}
