import Foundation
import TestSupport
import Testing

@testable import RegistryServer

/// Online garbage collection (`berth.gc`): what nothing keeps goes after the grace period, while
/// the registry serves; what is tagged, referenced, attached or freshly uploaded stays.
@Suite struct GarbageCollectionTests {
    static let grace = Duration.seconds(1)

    @Test func unreferencedContentGoesAndEverythingKeptStays() async throws {
        // The collector is driven directly with a clock two hours ahead (grace one hour), so
        // the verdicts do not depend on how fast a loaded machine pushes.
        try await withServer({ $0.garbageCollection = nil }) { server, http in
            func collect(hoursAhead: Double = 2) async throws { _ = try await server.registry.collectGarbage(grace: 3600, now: Date().addingTimeInterval(hoursAhead * 3600)) }
            let kept = Fixtures.image(layers: 2)
            try await http.push(kept, to: "team/app", as: "v1")
            let shared = kept.layers[0]
            var dropped = Fixtures.image(layers: 1)
            dropped.layers.append(shared)
            dropped = Fixtures.Image(config: dropped.config, layers: dropped.layers, manifest: Fixtures.json([
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": Fixtures.descriptor("application/vnd.oci.image.config.v1+json", dropped.config),
                "layers": dropped.layers.map { Fixtures.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", $0) },
            ]))
            try await http.push(dropped, to: "team/app", as: dropped.digest)
            let stray = try await http.pushBlob("team/app", Fixtures.random(100))
            let child = Fixtures.image(layers: 1)
            try await http.push(child, to: "team/app", as: child.digest)
            try await http.pushManifest("team/app", "multi", Fixtures.index([child.manifest]), type: "application/vnd.oci.image.index.v1+json")
            let referrer = Fixtures.image(layers: 1, subject: Fixtures.descriptor("application/vnd.oci.image.manifest.v1+json", kept.manifest), artifactType: "application/example")
            try await http.push(referrer, to: "team/app", as: referrer.digest)

            // Within the grace period nothing goes.
            try await collect(hoursAhead: 0.5)
            #expect(try await http.send(.HEAD, "/v2/team/app/blobs/\(stray)").status == 200)
            try await collect()
            #expect(try await http.get("/v2/team/app/manifests/\(dropped.digest)").status == 404)
            #expect(try await http.send(.HEAD, "/v2/team/app/blobs/\(stray)").status == 404)
            // Rows go first, then files: the file may outlive the 404 by a moment.
            #expect(try await eventually { !(try await StoredBlobs.exists(server, stray)) })
            #expect(try await http.send(.HEAD, "/v2/team/app/blobs/\(Fixtures.digest(dropped.layers[0]))").status == 404)
            for blob in [kept.config] + kept.layers + [child.config] + child.layers + [referrer.config] + referrer.layers {
                #expect(try await http.send(.HEAD, "/v2/team/app/blobs/\(Fixtures.digest(blob))").status == 200, "kept blobs stay")
            }
            for digest in [kept.digest, child.digest, referrer.digest] {
                #expect(try await http.get("/v2/team/app/manifests/\(digest)").status == 200, "tagged, indexed and attached manifests stay")
            }

            // A blob uploaded (or mounted) again is young again: it waits out its own grace period.
            let again = try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest=\(Fixtures.digest(dropped.layers[0]))", body: dropped.layers[0])
            #expect(again.status == 201)
            try await collect(hoursAhead: 0.5)
            #expect(try await http.send(.HEAD, "/v2/team/app/blobs/\(Fixtures.digest(dropped.layers[0]))").status == 200)

            // Untagging the image frees it, its unique blobs, and then what was attached to it.
            #expect(try await http.send(.DELETE, "/v2/team/app/manifests/v1").status == 202)
            try await collect()
            #expect(try await http.get("/v2/team/app/manifests/\(referrer.digest)").status == 404)
            #expect(try await http.get("/v2/team/app/manifests/\(kept.digest)").status == 404)
            #expect(try await http.send(.HEAD, "/v2/team/app/blobs/\(Fixtures.digest(kept.layers[1]))").status == 404)
            #expect(try await http.get("/v2/team/app/manifests/multi").status == 200)
        }
    }

    /// The background collector runs on its own (grace one second).
    @Test func theCollectorRunsInTheBackground() async throws {
        try await withServer({ $0.garbageCollection = (Self.grace, .milliseconds(100), true) }) { server, http in
            let stray = try await http.pushBlob("team/app", Fixtures.random(100))
            #expect(try await eventually { try await http.send(.HEAD, "/v2/team/app/blobs/\(stray)").status == 404 })
            // Rows go first, then files: the file may outlive the 404 by a moment.
            #expect(try await eventually { !(try await StoredBlobs.exists(server, stray)) })
        }
    }

    /// Clients push, tag, untag and delete in parallel while collections run every 50 ms with a
    /// one-second grace, for a bounded time; afterwards every tagged manifest is complete (each
    /// blob it needs is served and hashes right) and nothing unreferenced older than the grace is left.
    @Test func collectionsDuringParallelPushesNeverBreakATaggedImage() async throws {
        try await withServer({ $0.garbageCollection = (Self.grace, .milliseconds(50), true) }) { server, http in
            let base = Fixtures.image(layers: 2)
            /// A client whose manifest was refused because the collector took a blob it uploaded
            /// more than the grace period ago uploads again, as registries expect (on a machine
            /// busy with the rest of the suite one push can take longer than the grace: bounded retries).
            @Sendable func push(_ image: Fixtures.Image, _ repo: String, _ tag: String) async throws -> Bool {
                for _ in 0..<30 {
                    if try await http.push(image, to: repo, as: tag).status == 201 { return true }
                }
                return false
            }
            #expect(try await push(base, "stress/base", "base"))
            let deadline = ContinuousClock.now + .seconds(4)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<4 {
                    group.addTask {
                        var round = 0
                        // At least three rounds each, however busy the machine (the suite's S3 tests
                        // load it too): rounds 2 and 3 leave tagged images for the checks below (round 1
                        // deletes its own), and a round after the deadline still races the collector.
                        while round < 3 || (ContinuousClock.now < deadline && round < 500) {
                            round += 1
                            let repo = "stress/r\(client % 2)"
                            // Images share a layer with the base image, across repositories.
                            var image = Fixtures.image(layers: 1, layerSize: 512)
                            image.layers.append(base.layers[0])
                            image = Fixtures.Image(config: image.config, layers: image.layers, manifest: Fixtures.json([
                                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "config": Fixtures.descriptor("application/vnd.oci.image.config.v1+json", image.config),
                                "layers": image.layers.map { Fixtures.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", $0) },
                            ]))
                            let tag = "t\(client)-\(round % 5)"
                            _ = try await push(image, repo, tag)
                            switch round % 4 {
                            case 0: _ = try await http.send(.DELETE, "/v2/\(repo)/manifests/\(tag)")
                            case 1: _ = try await http.send(.DELETE, "/v2/\(repo)/manifests/\(image.digest)")
                            default: break
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Every tagged manifest is whole.
            var checked = 0
            for repo in ["stress/base", "stress/r0", "stress/r1"] {
                let tags = try await http.get("/v2/\(repo)/tags/list").json["tags"] as? [String] ?? []
                for tag in tags {
                    let manifest = try await http.get("/v2/\(repo)/manifests/\(tag)").json
                    let descriptors = [manifest["config"] as? [String: Any]].compactMap { $0 } + (manifest["layers"] as? [[String: Any]] ?? [])
                    for descriptor in descriptors {
                        let digest = descriptor["digest"] as? String ?? ""
                        let blob = try await http.get("/v2/\(repo)/blobs/\(digest)")
                        #expect(blob.status == 200 && Fixtures.digest(blob.body) == digest, "\(repo):\(tag) lost \(digest)")
                    }
                    checked += 1
                }
            }
            #expect(checked > 1)
            // After the grace period and a few more rounds, only what is referenced is on disk
            // (bounded wait: a loaded machine may need a few more rounds).
            func referencedAndOnDisk() async throws -> (Set<String>, Set<String>) {
                var referenced: Set<String> = []
                for repo in ["stress/base", "stress/r0", "stress/r1"] {
                    for tag in try await http.get("/v2/\(repo)/tags/list").json["tags"] as? [String] ?? [] {
                        let manifest = try await http.get("/v2/\(repo)/manifests/\(tag)").json
                        for descriptor in [manifest["config"] as? [String: Any]].compactMap({ $0 }) + (manifest["layers"] as? [[String: Any]] ?? []) {
                            referenced.insert(String((descriptor["digest"] as? String ?? "").dropFirst("sha256:".count)))
                        }
                    }
                }
                return (referenced, try await StoredBlobs.all(server))
            }
            var (referenced, onDisk) = try await referencedAndOnDisk()
            for _ in 0..<100 where referenced != onDisk {
                try await Task.sleep(for: .milliseconds(200))
                (referenced, onDisk) = try await referencedAndOnDisk()
            }
            #expect(onDisk == referenced, "on disk but unreferenced: \(onDisk.subtracting(referenced).count), referenced but missing: \(referenced.subtracting(onDisk).count)")
        }
    }

    @Test func configurationKeys() throws {
        let config = try ServerConfig.load(yaml: "version: 0.1\nberth:\n  gc:\n    grace: 2h\n    interval: 10m\n    untagged: false\n")
        #expect(config.garbageCollection?.grace == .seconds(7200) && config.garbageCollection?.interval == .seconds(600))
        #expect(config.garbageCollection?.untagged == false && config.warnings.isEmpty)
        #expect(try ServerConfig.load(yaml: "version: 0.1\nberth:\n  gc:\n    enabled: false\n").garbageCollection == nil)
        #expect(throws: ConfigError.self) { try ServerConfig.load(yaml: "version: 0.1\nberth:\n  gc:\n    grace: later\n") }
    }
}

extension GarbageCollectionTests {
    /// `berth garbage-collect` on a stopped registry: dry run, --delete-untagged, --verify.
    @Test func offlineCommandCollectsAndVerifies() async throws {
        let server = try await TestServer.start { $0.garbageCollection = nil }
        let http = HTTP(server)
        let kept = Fixtures.image(layers: 1)
        try await http.push(kept, to: "team/app", as: "v1")
        let untagged = Fixtures.image(layers: 1)
        try await http.push(untagged, to: "team/app", as: untagged.digest)
        let stray = try await http.pushBlob("team/app", Fixtures.random(64))
        await server.stop()
        defer { try? FileManager.default.removeItem(at: server.root) }
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let config = berth.path("config.yml")
        try Data(try await TestBackend.configYAML(for: server.root).utf8).write(to: URL(fileURLWithPath: config))

        let dry = try await berth.succeed(["garbage-collect", "--config", config, "--dry-run"])
        #expect(dry.stdout.contains("blob eligible for deletion: \(stray)") && dry.stdout.contains("would delete 0 manifest(s) and 1 blob(s)"), "\(dry.stdout)")
        #expect(try await StoredBlobs.exists(server, stray))
        let collected = try await berth.succeed(["garbage-collect", "--config", config, "--delete-untagged"])
        #expect(collected.stdout.contains("deleted 1 manifest(s) and 3 blob(s)"), "\(collected.stdout)")
        #expect(!(try await StoredBlobs.exists(server, stray)))
        #expect(!(try await StoredBlobs.exists(server, Fixtures.digest(untagged.layers[0]))))
        #expect(try await StoredBlobs.exists(server, Fixtures.digest(kept.layers[0])))

        #expect(try await berth.succeed(["garbage-collect", "--config", config, "--verify"]).stdout.contains("every blob matches"))
        try await StoredBlobs.overwrite(server, Fixtures.digest(kept.layers[0]), with: Array("tampered".utf8))
        let verified = try await berth.run(["garbage-collect", "--config", config, "--verify"])
        #expect(verified.status == 1 && verified.stderr.contains("corrupt blob \(Fixtures.digest(kept.layers[0]))"), "\(verified.stderr)")
    }
}
