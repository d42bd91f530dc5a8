import Foundation
import OCI
import TestSupport
import Testing

@testable import RegistryServer

/// `berth storage migrate` between files + SQLite and S3 + PostgreSQL, and `berth storage
/// import-distribution` from a tree the real docker-registry wrote: every path a client reads
/// answers the same bytes before and after, a second run copies nothing, damaged bytes stop the
/// copy with one line.
@Suite(.serialized, .enabled(if: (MotoS3.enabled && PostgresCluster.installed) || Interop.required))
struct StorageMigrationTests {
    /// A server on `root` with blobs and metadata on files + SQLite, or on S3 + PostgreSQL.
    func start(_ root: URL, scaled: Bool) async throws -> TestServer {
        let s3 = scaled ? try await TestBackend.bucket(for: root) : nil
        let postgres = scaled ? try await TestBackend.database(for: root) : nil
        return try await TestServer.start(root: root) { config in
            config.s3 = s3
            config.postgres = postgres
            config.redirect = false
            config.garbageCollection = nil
        }
    }

    static let manifestTypes = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList].joined(separator: ", ")

    func newRoot() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("berth-migrate-\(UUID().uuidString)") }

    /// What the registry holds, as client-visible answers: path → status and digest of the body.
    func snapshot(_ http: HTTP, manifests: [String: [String]], blobs: [String: [String]], subjects: [String: String]) async throws -> [String: String] {
        var answers: [String: String] = [:]
        /// Bytes for content; for listings the JSON with sorted keys (a server's key order is its own).
        func record(_ path: String, listing: Bool = false) async throws {
            let reply = try await http.get(path, headers: [("Accept", Self.manifestTypes)])
            var body = reply.body
            if listing, let json = try? JSONSerialization.jsonObject(with: Data(body)) {
                body = Array(try JSONSerialization.data(withJSONObject: json, options: .sortedKeys))
            }
            answers[path] = "\(reply.status) \(Fixtures.digest(body)) \(reply.header("Docker-Content-Digest") ?? "")"
        }
        try await record("/v2/_catalog", listing: true)
        for (repo, references) in manifests {
            try await record("/v2/\(repo)/tags/list", listing: true)
            for reference in references { try await record("/v2/\(repo)/manifests/\(reference)") }
        }
        for (repo, digests) in blobs { for digest in digests { try await record("/v2/\(repo)/blobs/\(digest)") } }
        for (repo, subject) in subjects {
            try await record("/v2/\(repo)/referrers/\(subject)", listing: true)
            try await record("/extensions/v2/\(repo)/signatures/\(subject)", listing: true)
        }
        return answers
    }

    func differences(_ before: [String: String], _ after: [String: String]) -> [String] {
        before.keys.sorted().filter { before[$0] != after[$0] }.map { "\($0): \(before[$0] ?? "-") then \(after[$0] ?? "-")" }
    }

    /// Pushes through distribution, which takes a blob in a POST and a PUT (no single-POST upload).
    func pushThroughDistribution(_ http: HTTP, _ image: Fixtures.Image, to repo: String, as reference: String) async throws {
        for blob in [image.config] + image.layers {
            let started = try await http.send(.POST, "/v2/\(repo)/blobs/uploads/")
            let location = try #require(started.header("Location"))
            let put = try await http.send(.PUT, "\(location)\(location.contains("?") ? "&" : "?")digest=\(Fixtures.digest(blob))", body: blob)
            #expect(put.status == 201)
        }
        #expect(try await http.pushManifest(repo, reference, image.manifest).status == 201)
    }

    @Test func filesToS3AndPostgresAndBackAnswersTheSame() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let roots = [newRoot(), newRoot(), newRoot()]
        defer { for root in roots { try? FileManager.default.removeItem(at: root) } }

        // The source: tags, an untagged manifest, an index and its children, a referrer, a
        // signature, a blob shared by two repositories, a sha512 blob.
        let source = try await start(roots[0], scaled: false)
        let http = HTTP(source)
        let tagged = Fixtures.image(), untagged = Fixtures.image(), arm = Fixtures.image(layers: 1), amd = Fixtures.image(layers: 1)
        try await http.push(tagged, to: "team/app", as: "v1")
        #expect(try await http.pushManifest("team/app", "latest", tagged.manifest).status == 201)
        try await http.push(untagged, to: "team/app", as: untagged.digest)
        try await http.push(arm, to: "team/app", as: arm.digest)
        try await http.push(amd, to: "team/app", as: amd.digest)
        let index = Fixtures.index([arm.manifest, amd.manifest])
        #expect(try await http.pushManifest("team/app", "multi", index, type: MediaType.ociIndex).status == 201)
        let sbom = Fixtures.image(layers: 1, subject: Fixtures.descriptor(MediaType.ociManifest, tagged.manifest), artifactType: "application/spdx+json")
        try await http.push(sbom, to: "team/app", as: sbom.digest)
        let content = Data("not really OpenPGP".utf8).base64EncodedString()
        let signature = #"{"schemaVersion":2,"type":"atomic","name":"\#(tagged.digest)@0123abcd","content":"\#(content)"}"#
        #expect(try await http.send(.PUT, "/extensions/v2/team/app/signatures/\(tagged.digest)", body: Array(signature.utf8)).status == 201)
        let other = Fixtures.image(layers: 0)
        let sharing = Fixtures.Image(
            config: other.config, layers: tagged.layers,
            manifest: Fixtures.json([
                "schemaVersion": 2, "mediaType": MediaType.ociManifest, "config": Fixtures.descriptor(MediaType.ociConfig, other.config),
                "layers": tagged.layers.map { Fixtures.descriptor(MediaType.ociLayerTarGzip, $0) },
            ]))
        try await http.push(sharing, to: "team/other", as: "v1")
        let long = Fixtures.random(3000)
        let sha512 = Fixtures.digest(long, .sha512)
        #expect(try await http.send(.POST, "/v2/team/other/blobs/uploads/?digest=\(sha512)", body: long).status == 201)

        let images = [tagged, untagged, arm, amd, sbom]
        let manifests = [
            "team/app": ["v1", "latest", "multi", Fixtures.digest(index)] + images.map(\.digest),
            "team/other": ["v1", sharing.digest],
        ]
        let blobs = [
            "team/app": images.flatMap { [$0.config] + $0.layers }.map { Fixtures.digest($0) },
            "team/other": ([sharing.config] + sharing.layers).map { Fixtures.digest($0) } + [sha512],
        ]
        let subjects = ["team/app": tagged.digest]
        let before = try await snapshot(http, manifests: manifests, blobs: blobs, subjects: subjects)
        #expect(before.values.allSatisfy { $0.hasPrefix("200 ") }, "\(before)")
        await source.stop()

        // Files + SQLite → S3 + PostgreSQL, twice: the second run finds everything there.
        let configs = [
            try await TestBackend.configYAML(for: roots[0], s3: false, postgres: false),
            try await TestBackend.configYAML(for: roots[1], s3: true, postgres: true),
            try await TestBackend.configYAML(for: roots[2], s3: false, postgres: false),
        ].enumerated().map { (number, yaml) in
            let path = berth.path("config-\(number).yml")
            _ = FileManager.default.createFile(atPath: path, contents: Data(yaml.utf8))
            return path
        }
        let first = try await berth.succeed(["storage", "migrate", "--from", configs[0], "--to", configs[1]])
        #expect(first.stdout.contains("copied 2 repositories") && first.stdout.contains("7 manifest(s), 4 tag(s), 1 signature(s)"), "\(first.stdout)")
        #expect(!first.stdout.contains(" 0 blob(s)"), "\(first.stdout)")
        let again = try await berth.succeed(["storage", "migrate", "--from", configs[0], "--to", configs[1]])
        #expect(again.stdout.contains("0 blob(s) (0 bytes) copied"), "\(again.stdout)")

        let scaled = try await start(roots[1], scaled: true)
        let onScaled = try await snapshot(HTTP(scaled), manifests: manifests, blobs: blobs, subjects: subjects)
        #expect(onScaled == before, "\(differences(before, onScaled))")
        await scaled.stop()

        // And back to files + SQLite.
        try await berth.succeed(["storage", "migrate", "--from", configs[1], "--to", configs[2]])
        let back = try await start(roots[2], scaled: false)
        let onFiles = try await snapshot(HTTP(back), manifests: manifests, blobs: blobs, subjects: subjects)
        #expect(onFiles == before, "\(differences(before, onFiles))")
        await back.stop()
    }

    @Test func damagedSourceBytesStopTheCopyWithOneLine() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let roots = [newRoot(), newRoot()]
        defer { for root in roots { try? FileManager.default.removeItem(at: root) } }
        let source = try await start(roots[0], scaled: false)
        let image = Fixtures.image(layers: 1)
        try await HTTP(source).push(image, to: "team/app", as: "v1")
        let layer = Fixtures.digest(image.layers[0])
        var damaged = image.layers[0]
        damaged[10] ^= 0xff
        try await StoredBlobs.overwrite(source, layer, with: damaged, onS3: false)
        await source.stop()
        let from = berth.path("from.yml"), to = berth.path("to.yml")
        _ = FileManager.default.createFile(atPath: from, contents: Data(try await TestBackend.configYAML(for: roots[0], s3: false, postgres: false).utf8))
        _ = FileManager.default.createFile(atPath: to, contents: Data(try await TestBackend.configYAML(for: roots[1], s3: false, postgres: false).utf8))

        let failed = try await berth.run(["storage", "migrate", "--from", from, "--to", to])
        #expect(failed.status == 1 && failed.stderr.hasPrefix("berth: ") && failed.stderr.split(separator: "\n").count == 1, "\(failed.stderr)")
        #expect(failed.stderr.contains(layer) && failed.stderr.contains("team/app"), "\(failed.stderr)")
        let destination = try await start(roots[1], scaled: false)
        #expect(try await HTTP(destination).get("/v2/team/app/manifests/v1").status == 404, "no manifest without its blobs")
        #expect(try await HTTP(destination).head("/v2/team/app/blobs/\(layer)").status == 404, "no damaged blob stored")
        await destination.stop()

        let same = try await berth.run(["storage", "migrate", "--from", from, "--to", from])
        #expect(same.status == 1 && same.stderr.contains("the same storage"), "\(same.stderr)")
        let missing = try await berth.run(["storage", "migrate", "--from", berth.path("nope.yml"), "--to", to])
        #expect(missing.status == 1 && missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")
    }

    @Test(.enabled(if: Interop.enabled("docker-registry"), "docker-registry is not installed (apt-get install docker-registry)"))
    func importsATreeDockerRegistryWrote() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let root = newRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let distribution = try await DockerRegistryProcess()
        defer { distribution.stop() }
        let upstream = HTTP(base: "http://127.0.0.1:\(distribution.port)")
        let image = Fixtures.image(), arm = Fixtures.image(layers: 1), amd = Fixtures.image(layers: 1)
        try await pushThroughDistribution(upstream, image, to: "library/app", as: "v1")
        #expect(try await upstream.pushManifest("library/app", "v1.0", image.manifest).status == 201)
        try await pushThroughDistribution(upstream, arm, to: "team/tools/cli", as: arm.digest)
        try await pushThroughDistribution(upstream, amd, to: "team/tools/cli", as: amd.digest)
        let index = Fixtures.index([arm.manifest, amd.manifest])
        #expect(try await upstream.pushManifest("team/tools/cli", "latest", index, type: MediaType.ociIndex).status == 201)
        let manifests = [
            "library/app": ["v1", "v1.0", image.digest],
            "team/tools/cli": ["latest", Fixtures.digest(index), arm.digest, amd.digest],
        ]
        let blobs = [
            "library/app": ([image.config] + image.layers).map { Fixtures.digest($0) },
            "team/tools/cli": [arm, amd].flatMap { [$0.config] + $0.layers }.map { Fixtures.digest($0) },
        ]
        // The catalog and tag lists are compared as sets: distribution lists tags in directory order.
        func answers(_ http: HTTP) async throws -> [String: String] {
            var found = try await snapshot(http, manifests: manifests, blobs: blobs, subjects: [:])
            for path in found.keys where path.hasSuffix("/tags/list") || path == "/v2/_catalog" {
                let json = try await http.get(path).json
                found[path] = ((json["tags"] ?? json["repositories"]) as? [String] ?? []).sorted().joined(separator: ",")
            }
            return found
        }
        let before = try await answers(upstream)
        distribution.terminate()

        let config = berth.path("config.yml")
        _ = FileManager.default.createFile(atPath: config, contents: Data(try await TestBackend.configYAML(for: root).utf8))
        let tree = distribution.root.appendingPathComponent("data").path
        let imported = try await berth.succeed(["storage", "import-distribution", tree, "--config", config])
        #expect(imported.stdout.contains("copied 2 repositories") && imported.stdout.contains("4 manifest(s), 3 tag(s)"), "\(imported.stdout)")
        let again = try await berth.succeed(["storage", "import-distribution", tree, "--config", config])
        #expect(again.stdout.contains("0 blob(s) (0 bytes) copied"), "\(again.stdout)")

        let server = try await TestServer.start(root: root) { $0.redirect = false }
        let after = try await answers(HTTP(server))
        #expect(after == before, "\(differences(before, after))")
        await server.stop()

        let notATree = try await berth.run(["storage", "import-distribution", berth.path("."), "--config", config])
        #expect(notATree.status == 1 && notATree.stderr.contains("not a distribution storage root"), "\(notATree.stderr)")
    }
}
