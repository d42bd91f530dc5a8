import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import OCI
import PullThroughCache
import RegistryClient
import RegistryServer
import Synchronization
import TestSupport
import Testing

/// `berth serve` as a pull-through cache: an upstream `berth serve`, a `FaultShim` in front of
/// it counting requests and injecting faults, and the cache under test in front of the shim
/// (prefix `up`). Every count is read at the shim. One test at a time: each holds two servers, and
/// the whole suite at once doubled the descriptors the test process holds (see `Spawn`).
@Suite(.serialized) struct PullThroughCacheTests {
    struct Setup {
        let upstream: HTTP
        let shim: FaultShim
        let shimPort: Int
        let cache: TestServer
        let http: HTTP
    }

    static func upstreamSettings(_ port: Int, recheck: Duration = .zero) -> UpstreamSettings {
        var upstream = UpstreamSettings(prefix: "up", url: URL(string: "http://127.0.0.1:\(port)")!)
        upstream.tagRecheck = recheck
        return upstream
    }

    /// `timeout` is long by default: the whole suite shares two cores with the upstream and shim,
    /// which run in this process, and a slow answer must not look like a failing upstream.
    func withCache(
        recheck: Duration = .zero, timeout: Duration = .seconds(30), notFoundTTL: Duration = .seconds(30),
        configure: @escaping @Sendable (inout ServerConfig) -> Void = { _ in }, _ body: (Setup) async throws -> Void
    ) async throws {
        try await withServer { upstream, upstreamHTTP in
            let shim = FaultShim(backend: upstream.base)
            try await shim.run { port in
                let cache = try await TestServer.start { config in
                    var settings = CacheSettings(upstreams: [Self.upstreamSettings(port, recheck: recheck)], spoolDirectory: "")
                    settings.upstreamTimeout = timeout
                    settings.notFoundTTL = notFoundTTL
                    config.cache = settings
                    configure(&config)
                }
                try await withCleanup {
                    try await body(Setup(upstream: upstreamHTTP, shim: shim, shimPort: port, cache: cache, http: HTTP(cache)))
                } cleanup: {
                    shim.release()
                    await cache.cleanup()
                }
            }
        }
    }

    func pullManifest(_ http: HTTP, _ repository: String, _ reference: String) async throws -> Reply {
        try await http.get("/v2/\(repository)/manifests/\(reference)", headers: [("Accept", MediaType.ociManifest + ", " + MediaType.ociIndex)])
    }

    @Test func digestsNeverGoUpstreamTwice() async throws {
        try await withCache { s in
            let image = Fixtures.image(layers: 2, layerSize: 200_000)
            try await s.upstream.push(image, to: "team/app", as: "v1")
            for _ in 0..<2 {
                let reply = try await pullManifest(s.http, "up/team/app", image.digest)
                #expect(reply.status == 200)
                #expect(reply.body == image.manifest)
                for blob in [image.config] + image.layers {
                    let got = try await s.http.get("/v2/up/team/app/blobs/\(Fixtures.digest(blob))")
                    #expect(got.status == 200)
                    #expect(got.body == blob)
                }
            }
            #expect(s.shim.count("GET", "/manifests/\(image.digest)") == 1)
            for blob in [image.config] + image.layers {
                #expect(s.shim.count("GET", "/blobs/\(Fixtures.digest(blob))") == 1)
            }
        }
    }

    @Test func aTagCostsOneHeadPerPullWhenRecheckIsZeroAndFollowsARetag() async throws {
        try await withCache(recheck: .zero) { s in
            let first = Fixtures.image(layers: 1)
            try await s.upstream.push(first, to: "team/app", as: "v1")
            for _ in 0..<3 { #expect(try await pullManifest(s.http, "up/team/app", "v1").body == first.manifest) }
            #expect(s.shim.count("GET", "/manifests/") == 1)
            #expect(s.shim.count("HEAD", "/manifests/v1") == 2)
            let second = Fixtures.image(layers: 1)
            try await s.upstream.push(second, to: "team/app", as: "v1")
            #expect(try await pullManifest(s.http, "up/team/app", "v1").body == second.manifest)
            #expect(s.shim.count("GET", "/manifests/\(second.digest)") == 1)
            #expect(s.shim.count("HEAD", "/manifests/v1") == 3)
        }
    }

    @Test func aTagIsNotAskedForAgainWithinItsRecheckWindow() async throws {
        try await withCache(recheck: .seconds(3600)) { s in
            let image = Fixtures.image(layers: 1)
            try await s.upstream.push(image, to: "team/app", as: "v1")
            for _ in 0..<5 { #expect(try await pullManifest(s.http, "up/team/app", "v1").status == 200) }
            #expect(s.shim.count("GET", "/manifests/") == 1)
            #expect(s.shim.count("HEAD", "/manifests/") == 0)
        }
    }

    final class Started: Sendable { let count = Atomic<Int>(0) }

    /// Streams a GET, reporting to `started` once the first bytes arrived; returns the body's digest.
    static func streamedDigest(_ url: String, started: Started) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response = try await HTTP.client.execute(request, timeout: .seconds(120))
        var hasher = DigestHasher(.sha256)
        var reported = false
        for try await piece in response.body {
            piece.withUnsafeReadableBytes { hasher.update($0) }
            if !reported, piece.readableBytes > 0 {
                reported = true
                started.count.add(1, ordering: .relaxed)
            }
        }
        return (Int(response.status.code), hasher.finalize().description)
    }

    static func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        for _ in 0..<600 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("timed out waiting for \(what)")
    }

    /// A blob in the upstream whose download the shim holds after `holdAfter` bytes until released.
    func heldBlob(_ s: Setup, size: Int, holdAfter: Int) async throws -> (blob: [UInt8], digest: String, url: String) {
        let blob = Fixtures.random(size)
        let digest = try await s.upstream.pushBlob("team/app", blob)
        s.shim.inject(.init(paths: "/blobs/", holdAfter: holdAfter))
        return (blob, digest, "\(s.cache.base)/v2/up/team/app/blobs/\(digest)")
    }

    @Test func twentyConcurrentColdPullsFetchOnceAndStreamBeforeTheEnd() async throws {
        try await withCache { s in
            // The upstream's body stops after 1 MiB until every client has bytes: they are
            // streamed from the download as it arrives, not after it.
            let (blob, digest, url) = try await heldBlob(s, size: 4 << 20, holdAfter: 1 << 20)
            let started = Started()
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for _ in 0..<20 { group.addTask { try await Self.streamedDigest(url, started: started) } }
                try await Self.waitUntil("20 clients receiving") { started.count.load(ordering: .relaxed) == 20 }
                s.shim.release()
                for try await (status, got) in group {
                    #expect(status == 200)
                    #expect(got == digest)
                }
            }
            #expect(s.shim.count("GET", "/blobs/\(digest)") == 1)
            #expect(try await s.http.get("/v2/up/team/app/blobs/\(digest)").body == blob)
            #expect(s.shim.count("GET", "/blobs/\(digest)") == 1)
        }
    }

    @Test func aStalledUpstreamsFirstBytesStillReachTheClient() async throws {
        try await withCache { s in
            // Less than the 256 KiB the clients are woken for: the delayed wake sends it.
            let (_, digest, url) = try await heldBlob(s, size: 1 << 20, holdAfter: 100_000)
            let started = Started()
            let client = Task { try await Self.streamedDigest(url, started: started) }
            try await Self.waitUntil("the client receiving") { started.count.load(ordering: .relaxed) == 1 }
            s.shim.release()
            let (status, got) = try await client.value
            #expect(status == 200)
            #expect(got == digest)
        }
    }

    @Test func aClientLeavingDoesNotBreakTheOthers() async throws {
        try await withCache { s in
            let (_, digest, url) = try await heldBlob(s, size: 2 << 20, holdAfter: 512 << 10)
            let started = Started()
            let leaver = Task { try await Self.streamedDigest(url, started: started) }
            let stayer = Task { try await Self.streamedDigest(url, started: started) }
            try await Self.waitUntil("both clients receiving") { started.count.load(ordering: .relaxed) == 2 }
            leaver.cancel()
            _ = await leaver.result
            s.shim.release()
            let (status, got) = try await stayer.value
            #expect(status == 200)
            #expect(got == digest)
            #expect(s.shim.count("GET", "/blobs/\(digest)") == 1)
        }
    }

    @Test(arguments: [FaultShim.Fault(paths: "/blobs/", cutAfter: 100_000), FaultShim.Fault(paths: "/blobs/", corrupt: true)])
    func aBrokenDownloadCommitsNothingAndNeverLooksWhole(_ fault: FaultShim.Fault) async throws {
        try await withCache { s in
            let blob = Fixtures.random(1 << 20)
            let digest = try await s.upstream.pushBlob("team/app", blob)
            s.shim.inject(fault)
            var received: [UInt8] = []
            do {
                let reply = try await s.http.get("/v2/up/team/app/blobs/\(digest)")
                received = reply.body
                #expect(reply.status != 200 || received.count < blob.count)
            } catch {
                // A cut body is an error to the client: what it should see.
            }
            #expect(received != blob)
            let name = try RepositoryName(parsing: "up/team/app")
            #expect(try await s.cache.registry.metadata.linkedBlobSize(name, try Digest(parsing: digest)) == nil)
            s.shim.heal()
            #expect(try await s.http.get("/v2/up/team/app/blobs/\(digest)").body == blob)
        }
    }

    @Test func aBlobHeadAsksTheUpstreamWithoutDownloading() async throws {
        try await withCache { s in
            let blob = Fixtures.random(300_000)
            let digest = try await s.upstream.pushBlob("team/app", blob)
            let reply = try await s.http.head("/v2/up/team/app/blobs/\(digest)")
            #expect(reply.status == 200)
            #expect(reply.header("Content-Length") == "\(blob.count)")
            #expect(s.shim.count("HEAD", "/blobs/\(digest)") == 1)
            #expect(s.shim.count("GET", "/blobs/\(digest)") == 0)
            #expect(try await s.http.head("/v2/up/team/app/blobs/sha256:\(String(repeating: "0", count: 64))").status == 404)
        }
    }

    @Test func cachedContentIsServedWhenTheUpstreamFailsOrHangs() async throws {
        try await withCache(recheck: .zero, timeout: .seconds(5)) { s in
            let image = Fixtures.image(layers: 1)
            try await s.upstream.push(image, to: "team/app", as: "v1")
            #expect(try await pullManifest(s.http, "up/team/app", "v1").status == 200)
            for blob in [image.config] + image.layers { _ = try await s.http.get("/v2/up/team/app/blobs/\(Fixtures.digest(blob))") }
            for fault in [FaultShim.Fault(status: 503), FaultShim.Fault(status: 401), FaultShim.Fault(delay: .seconds(120))] {
                s.shim.inject(fault)
                let started = ContinuousClock.now
                let reply = try await pullManifest(s.http, "up/team/app", "v1")
                #expect(reply.status == 200, "\(fault)")
                #expect(reply.body == image.manifest)
                // Bounded by the 5 s header timeout, not by the injected 120 s.
                #expect(ContinuousClock.now - started < .seconds(60))
                for blob in [image.config] + image.layers {
                    #expect(try await s.http.get("/v2/up/team/app/blobs/\(Fixtures.digest(blob))").body == blob)
                }
                let missing = try await pullManifest(s.http, "up/team/app", "never-cached")
                #expect(missing.status == 503)
                #expect(missing.errorCode == "UNAVAILABLE")
            }
        }
    }

    @Test func rateLimitingOpensTheCircuitUntilRetryAfter() async throws {
        try await withCache(recheck: .zero) { s in
            let image = Fixtures.image(layers: 1)
            try await s.upstream.push(image, to: "team/app", as: "v1")
            #expect(try await pullManifest(s.http, "up/team/app", "v1").status == 200)
            s.shim.inject(.init(status: 429, retryAfter: "30"))
            let before = s.shim.count("HEAD", "/") + s.shim.count("GET", "/")
            for _ in 0..<4 { #expect(try await pullManifest(s.http, "up/team/app", "v1").body == image.manifest) }
            let missing = try await pullManifest(s.http, "up/team/app", "v2")
            #expect(missing.status == 429)
            #expect(missing.errorCode == "TOOMANYREQUESTS")
            let retryAfter = Int(missing.header("Retry-After") ?? "") ?? -1
            #expect((1...30).contains(retryAfter))
            // One request found the 429; the circuit kept every other one from the upstream.
            #expect(s.shim.count("HEAD", "/") + s.shim.count("GET", "/") == before + 1)
        }
    }

    @Test func anUpstream404IsRememberedBrieflyAndA503Never() async throws {
        try await withCache(notFoundTTL: .seconds(60)) { s in
            try await s.upstream.push(Fixtures.image(layers: 1), to: "team/app", as: "v1")
            for _ in 0..<20 {
                let reply = try await pullManifest(s.http, "up/team/app", "missing")
                #expect(reply.status == 404)
                #expect(reply.errorCode == "MANIFEST_UNKNOWN")
            }
            #expect(s.shim.count("GET", "/manifests/missing") + s.shim.count("HEAD", "/manifests/missing") == 1)
            s.shim.inject(.init(status: 503))
            for _ in 0..<5 { #expect(try await pullManifest(s.http, "up/team/app", "other").status == 503) }
            #expect(s.shim.count("GET", "/manifests/other") == 5)
        }
    }

    @Test func cachedNamespacesRefuseWritesWhileOtherRepositoriesTakePushes() async throws {
        try await withCache { s in
            let image = Fixtures.image(layers: 1)
            try await s.upstream.push(image, to: "team/app", as: "v1")
            let upload = try await s.http.send(.POST, "/v2/up/team/app/blobs/uploads/")
            #expect(upload.status == 405)
            #expect(upload.errorCode == "UNSUPPORTED")
            #expect(try await s.http.pushManifest("up/team/app", "v2", image.manifest).status == 405)
            #expect(try await s.http.delete("/v2/up/team/app/manifests/v1").status == 405)
            #expect(try await s.http.push(image, to: "local/app", as: "v1").status == 201)
            #expect(try await pullManifest(s.http, "local/app", "v1").body == image.manifest)
            #expect(s.shim.count("POST", "/") + s.shim.count("PUT", "/") + s.shim.count("DELETE", "/") == 0)
        }
    }

    @Test func nsSelectsTheUpstreamAndIsEchoed() async throws {
        try await withCache(recheck: .seconds(3600)) { s in
            let image = Fixtures.image(layers: 1)
            try await s.upstream.push(image, to: "team/app", as: "v1")
            for ns in ["up", "127.0.0.1:\(s.shimPort)"] {
                let reply = try await pullManifest(s.http, "team/app", "v1?ns=\(ns)")
                #expect(reply.status == 200)
                #expect(reply.header("OCI-Namespace") == ns)
                #expect(reply.body == image.manifest)
            }
            // Both forms are one cache: the path form is a hit.
            #expect(try await pullManifest(s.http, "up/team/app", "v1").status == 200)
            #expect(s.shim.count("GET", "/manifests/") == 1)
            // An `ns` naming no upstream is ignored, as the spec allows.
            #expect(try await pullManifest(s.http, "team/app", "v1?ns=elsewhere.io").status == 404)
        }
    }

    @Test func referrersAndCosignTagsTravelUnchanged() async throws {
        try await withCache { s in
            let image = Fixtures.image(layers: 1)
            try await s.upstream.push(image, to: "team/app", as: "v1")
            let subject = Fixtures.descriptor(MediaType.ociManifest, image.manifest)
            let sbom = Fixtures.image(layers: 1, subject: subject, artifactType: "application/spdx+json")
            try await s.upstream.push(sbom, to: "team/app", as: sbom.digest)
            let signature = Fixtures.image(layers: 1)
            let sigTag = "sha256-\(image.digest.dropFirst(7)).sig"
            try await s.upstream.push(signature, to: "team/app", as: sigTag)
            let referrers = try await s.http.get("/v2/up/team/app/referrers/\(image.digest)")
            #expect(referrers.status == 200)
            let listed = (referrers.json["manifests"] as? [[String: Any]] ?? []).compactMap { $0["digest"] as? String }
            #expect(listed == [sbom.digest])
            #expect(try await pullManifest(s.http, "up/team/app", sbom.digest).body == sbom.manifest)
            let sig = try await pullManifest(s.http, "up/team/app", sigTag)
            #expect(sig.body == signature.manifest)
            #expect(sig.header("Docker-Content-Digest") == signature.digest)
            let tags = try await s.http.get("/v2/up/team/app/tags/list")
            #expect((tags.json["tags"] as? [String] ?? []).sorted() == [sigTag, "v1"].sorted())
            #expect(tags.json["name"] as? String == "up/team/app")
        }
    }

    @Test func simpleSignaturesComeThroughTheExtensionAPIAndStay() async throws {
        try await withCache { s in
            let image = Fixtures.image(layers: 1)
            try await s.upstream.push(image, to: "team/app", as: "v1")
            let content = Data("an OpenPGP message".utf8).base64EncodedString()
            let signature = #"{"schemaVersion":2,"type":"atomic","name":"\#(image.digest)@0123abcd","content":"\#(content)"}"#
            let upstreamPath = "/extensions/v2/team/app/signatures/\(image.digest)"
            #expect(try await s.upstream.send(.PUT, upstreamPath, body: Array(signature.utf8)).status == 201)
            let path = "/extensions/v2/up/team/app/signatures/\(image.digest)"
            for fault in [nil, FaultShim.Fault(status: 503)] {
                if let fault { s.shim.inject(fault) }
                let listed = try await s.http.get(path).json["signatures"] as? [[String: Any]]
                #expect(listed?.count == 1 && listed?.first?["content"] as? String == content, "\(String(describing: fault))")
            }
            #expect(try await pullManifest(s.http, "up/team/app", image.digest).body == image.manifest)
            #expect(try await s.http.send(.PUT, path, body: Array(signature.utf8)).status == 405)
        }
    }

    @Test func aRestartWithNoUpstreamReachableServesTheCache() async throws {
        try await withServer { upstream, upstreamHTTP in
            let image = Fixtures.image(layers: 1)
            try await upstreamHTTP.push(image, to: "team/app", as: "v1")
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-cache-\(UUID().uuidString)")
            let first = try await TestServer.start(root: root) { config in
                config.cache = CacheSettings(upstreams: [Self.upstreamSettings(upstream.port)], spoolDirectory: "")
            }
            let http = HTTP(first)
            #expect(try await pullManifest(http, "up/team/app", "v1").status == 200)
            for blob in [image.config] + image.layers { _ = try await http.get("/v2/up/team/app/blobs/\(Fixtures.digest(blob))") }
            try await Self.waitUntil("downloads committed") { first.cache?.downloadsUnderWay == 0 }
            await first.stop()
            // Nothing listens on the upstream's new port: connections are refused.
            var closed = 0
            try await withScriptedServer({ _, _ in Response(status: .ok) }) { closed = $0 }
            let second = try await TestServer.start(root: root) { config in
                var settings = CacheSettings(upstreams: [Self.upstreamSettings(closed)], spoolDirectory: "")
                settings.upstreamTimeout = .seconds(1)
                config.cache = settings
            }
            let again = HTTP(second)
            #expect(try await pullManifest(again, "up/team/app", "v1").body == image.manifest)
            for blob in [image.config] + image.layers {
                #expect(try await again.get("/v2/up/team/app/blobs/\(Fixtures.digest(blob))").body == blob)
            }
            #expect(try await pullManifest(again, "up/team/app", "v9").status == 503)
            await second.cleanup()
        }
    }

    @Test func upstreamCredentialsStayBetweenTheCacheAndItsUpstream() async throws {
        try await withServer { upstream, upstreamHTTP in
            let image = Fixtures.image(layers: 2)
            try await upstreamHTTP.push(image, to: "team/app", as: "v1")
            let gate = TokenGate(backend: upstream.base)
            try await gate.run { port in
                for (password, works) in [("secret", true), ("wrong", false)] {
                    let cache = try await TestServer.start { config in
                        var settings = Self.upstreamSettings(port)
                        settings.credentials = Credentials(username: "alice", password: password)
                        config.cache = CacheSettings(upstreams: [settings], spoolDirectory: "")
                    }
                    let http = HTTP(cache)
                    let reply = try await pullManifest(http, "up/team/app", "v1")
                    if works {
                        #expect(reply.status == 200)
                        for blob in [image.config] + image.layers {
                            #expect(try await http.get("/v2/up/team/app/blobs/\(Fixtures.digest(blob))").body == blob)
                        }
                        // One token for the repository's pull scope, reused for every request.
                        #expect(gate.tokenRequests.load(ordering: .relaxed) == 1)
                        #expect(reply.header("WWW-Authenticate") == nil)
                    } else {
                        #expect(reply.status == 503)
                        #expect(reply.text.contains("authentication failed"))
                        #expect(!reply.text.contains("wrong"))
                    }
                    await cache.cleanup()
                }
            }
        }
    }

    /// An upstream naming a token realm on another host gets no credentials sent there.
    @Test func upstreamCredentialsNeverGoToARealmElsewhere() async throws {
        let authorizations = Mutex<[String]>([])
        try await withScriptedServer({ request, _ in
            authorizations.withLock { $0.append(request.headers[.authorization] ?? "none") }
            return Response(status: .unauthorized)
        }) { realmPort in
            try await withScriptedServer({ _, _ in
                Response(status: .unauthorized, headers: [.wwwAuthenticate: #"Bearer realm="http://localhost:\#(realmPort)/token",service="x""#])
            }) { upstreamPort in
                let cache = try await TestServer.start { config in
                    var settings = Self.upstreamSettings(upstreamPort)
                    settings.credentials = Credentials(username: "alice", password: "secret")
                    config.cache = CacheSettings(upstreams: [settings], spoolDirectory: "")
                }
                let reply = try await pullManifest(HTTP(cache), "up/team/app", "v1")
                await cache.cleanup()
                #expect(reply.status == 503)
                #expect(authorizations.withLock { $0 } == ["none"])
            }
        }
    }

    @Test func metricsCountHitsMissesAndTheUpstream() async throws {
        try await withCache(configure: { $0.debugAddress = ("127.0.0.1", 0) }) { s in
            let image = Fixtures.image(layers: 1)
            try await s.upstream.push(image, to: "team/app", as: "v1")
            for _ in 0..<2 { _ = try await pullManifest(s.http, "up/team/app", image.digest) }
            _ = try await pullManifest(s.http, "up/team/app", "absent")
            let metrics = try await HTTP(base: "http://127.0.0.1:\(s.cache.debugPort!)").get("/metrics").text
            for line in [
                #"berth_cache_hits_total{kind="manifest"} 1"#, #"berth_cache_misses_total{kind="manifest"} 2"#,
                #"berth_cache_upstream_requests_total{upstream="127.0.0.1:\#(s.shimPort)",outcome="404"} 1"#,
            ] {
                #expect(metrics.contains(line), "missing: \(line)\n\(metrics)")
            }
        }
    }
}

/// `berth.cache.maxsize`: least recently pulled images go whole, shared layers stay, and what is
/// still listed pulls completely with the upstream gone.
@Suite(.serialized) struct CacheEvictionTests {
    /// Pulls an image's manifest and every blob through the cache, and waits until the store has
    /// committed them (a client gets its last byte once the digest checks, before the commit).
    func pull(_ http: HTTP, _ repository: String, _ image: Fixtures.Image, cache: PullThroughCache? = nil) async throws {
        let manifest = try await http.get("/v2/\(repository)/manifests/v1", headers: [("Accept", MediaType.ociManifest)])
        #expect(manifest.status == 200, "\(repository): \(manifest.text)")
        for blob in [image.config] + image.layers {
            #expect(try await http.get("/v2/\(repository)/blobs/\(Fixtures.digest(blob))").body == blob, "\(repository)")
        }
        if let cache { try await PullThroughCacheTests.waitUntil("downloads committed") { cache.downloadsUnderWay == 0 } }
    }

    func has(_ server: TestServer, _ repository: String, _ image: Fixtures.Image) async throws -> Bool {
        (try? await server.registry.manifest(try RepositoryName(parsing: repository), .tag(try Tag(parsing: "v1")))) != nil
    }

    func stored(_ server: TestServer, _ blob: [UInt8]) async throws -> Bool {
        try await server.registry.blobs.size(of: try Digest(parsing: Fixtures.digest(blob))) != nil
    }

    @Test func leastRecentlyPulledImagesGoWholeAndSharedLayersStay() async throws {
        try await withServer { upstream, upstreamHTTP in
            let shim = FaultShim(backend: upstream.base)
            try await shim.run { port in
                let base = Fixtures.random(1_000_000)
                var images: [String: Fixtures.Image] = [:]
                for name in ["a", "b", "c"] {
                    var image = Fixtures.image(layers: 1, layerSize: 1_000_000)
                    if name != "c" { image = Self.withBase(image, base) }
                    images[name] = image
                    try await upstreamHTTP.push(image, to: "team/\(name)", as: "v1")
                }
                let cacheServer = try await TestServer.start { config in
                    var settings = CacheSettings(upstreams: [PullThroughCacheTests.upstreamSettings(port)], spoolDirectory: "")
                    settings.maxSize = 3_500_000
                    settings.maintenanceInterval = .seconds(3600)
                    settings.upstreamTimeout = .seconds(30)
                    config.cache = settings
                }
                try await withCleanup {
                    let http = HTTP(cacheServer)
                    let cache = try #require(cacheServer.cache)
                    for name in ["a", "b", "c"] { try await pull(http, "up/team/\(name)", images[name]!, cache: cache) }
                    // a + base, b (base shared), c: about 4 MB, over the cap by a's own layer.
                    let first = try await cache.maintainOnce()
                    #expect(first.map(\.repository.value) == ["up/team/a"])
                    #expect(try await !has(cacheServer, "up/team/a", images["a"]!))
                    #expect(try await !stored(cacheServer, images["a"]!.layers[1]))
                    #expect(try await stored(cacheServer, base), "b still uses the base layer")
                    #expect(try await has(cacheServer, "up/team/b", images["b"]!))
                    #expect(try await has(cacheServer, "up/team/c", images["c"]!))
                    // b is pulled again and a comes back: c is now the least recently pulled.
                    try await pull(http, "up/team/b", images["b"]!, cache: cache)
                    try await pull(http, "up/team/a", images["a"]!, cache: cache)
                    #expect(try await cache.maintainOnce().map(\.repository.value) == ["up/team/c"])
                    // With the upstream gone, everything still listed pulls completely.
                    shim.inject(.init(status: 503))
                    for name in ["a", "b"] { try await pull(http, "up/team/\(name)", images[name]!) }
                    #expect(try await http.get("/v2/up/team/c/manifests/v1").status == 503)
                    #expect(try await cacheServer.registry.bytesLinked(under: ["up"]) <= 3_500_000)
                } cleanup: {
                    await cacheServer.cleanup()
                }
            }
        }
    }

    /// `image` with `base` as its first layer.
    static func withBase(_ image: Fixtures.Image, _ base: [UInt8]) -> Fixtures.Image {
        let layers = [base] + image.layers
        let manifest = Fixtures.json([
            "schemaVersion": 2, "mediaType": MediaType.ociManifest,
            "config": Fixtures.descriptor(MediaType.ociConfig, image.config),
            "layers": layers.map { Fixtures.descriptor(MediaType.ociLayerTarGzip, $0) },
        ])
        return Fixtures.Image(config: image.config, layers: layers, manifest: manifest)
    }
}
