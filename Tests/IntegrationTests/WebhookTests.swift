import Foundation
import Hummingbird
import Synchronization
import TestSupport
import Testing

@testable import RegistryServer

/// `notifications.endpoints`: distribution's event envelopes for pushes, pulls and deletes,
/// queued in SQLite, retried with backoff, surviving a restart.
@Suite struct WebhookTests {
    /// What a webhook receiver got: per path, one line per event ("action repository tag
    /// mediaType"), the digests of tagged targets, and the headers and sources seen.
    final class Receiver: Sendable {
        let events = Mutex<[String: [String]]>([:])
        let taggedDigests = Mutex<[String: String]>([:])
        let instanceIDs = Mutex<Set<String>>([])
        let contentTypes = Mutex<Set<String>>([])
        let tokens = Mutex<Set<String>>([])
        let failing = Atomic<Bool>(false)

        func handle(_ request: Request) async throws -> Response {
            guard !failing.load(ordering: .relaxed) else { return Response(status: .internalServerError) }
            let body = try await request.body.collect(upTo: 1 << 20)
            let envelope = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            var lines: [String] = []
            for event in envelope?["events"] as? [[String: Any]] ?? [] {
                let target = event["target"] as? [String: Any] ?? [:]
                let tag = target["tag"] as? String
                lines.append("\(event["action"] as? String ?? "") \(target["repository"] as? String ?? "") \(tag ?? "-") \(target["mediaType"] as? String ?? "")")
                if let tag, let digest = target["digest"] as? String { taggedDigests.withLock { $0[tag] = digest } }
                if let id = (event["source"] as? [String: Any])?["instanceID"] as? String { instanceIDs.withLock { _ = $0.insert(id) } }
            }
            let path = request.uri.path
            let received = lines
            events.withLock { $0[path, default: []] += received }
            let contentType = request.headers[.contentType] ?? ""
            let token = request.headers[.authorization] ?? ""
            contentTypes.withLock { _ = $0.insert(contentType) }
            tokens.withLock { _ = $0.insert(token) }
            return Response(status: .ok)
        }

        func actions(_ path: String) -> [String] { events.withLock { $0[path] ?? [] } }
    }

    func endpoints(_ port: Int) -> [WebhookEndpoint] {
        var all = WebhookEndpoint(name: "all", url: "http://127.0.0.1:\(port)/all")
        all.headers = ["Authorization": ["Bearer webhook-secret"]]
        all.threshold = 1
        all.backoff = .milliseconds(100)
        var pushes = WebhookEndpoint(name: "pushes", url: "http://127.0.0.1:\(port)/pushes")
        pushes.ignoredActions = ["pull"]
        // Its failures while the receiver is down grow its backoff past the threshold (doubling
        // up to 32×, kept across the restart): at 100 ms the longest wait is 3.2 s, not 32 s.
        pushes.backoff = .milliseconds(100)
        return [all, pushes]
    }

    @Test func pushesPullsAndDeletesAreDeliveredRetriedAndSurviveARestart() async throws {
        let receiver = Receiver()
        try await withScriptedServer({ request, _ in try await receiver.handle(request) }) { port in
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-webhooks-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: root) }
            let server = try await TestServer.start(root: root) { $0.webhooks = endpoints(port) }
            let http = HTTP(server)
            let image = Fixtures.image(layers: 1)
            try await http.push(image, to: "team/app", as: "v1")
            #expect(try await http.get("/v2/team/app/manifests/v1").status == 200)
            #expect(try await http.send(.DELETE, "/v2/team/app/manifests/\(image.digest)").status == 202)
            let manifestPush = "push team/app v1 application/vnd.oci.image.manifest.v1+json"
            // Delivery is at least once (a POST that times out on a busy machine is sent again), so
            // the checks are on what arrived, not on exact counts.
            let expected = [manifestPush, "pull team/app v1 application/vnd.oci.image.manifest.v1+json", "delete team/app - "]
            #expect(try await eventually { Set(receiver.actions("/all")).isSuperset(of: expected) }, "\(receiver.actions("/all"))")
            let all = receiver.actions("/all")
            #expect(all.filter { $0.hasPrefix("push team/app - ") }.count >= 2, "config and layer pushes: \(all)")
            #expect(try await eventually { Set(receiver.actions("/pushes")).isSuperset(of: [manifestPush, "delete team/app - "]) })
            #expect(!receiver.actions("/pushes").contains { $0.hasPrefix("pull") }, "ignore.actions drops pulls")
            #expect(receiver.contentTypes.withLock { $0 } == ["application/vnd.docker.distribution.events.v2+json"])
            #expect(receiver.tokens.withLock { $0.contains("Bearer webhook-secret") })
            #expect(receiver.taggedDigests.withLock { $0["v1"] } == image.digest)
            #expect(receiver.instanceIDs.withLock { $0.count } == 1)

            // The endpoint fails: events wait in the database, across a restart, and arrive when it recovers.
            receiver.failing.store(true, ordering: .relaxed)
            try await http.push(Fixtures.image(layers: 1), to: "team/app", as: "v2")
            try await Task.sleep(for: .milliseconds(400))
            await server.stop()
            receiver.failing.store(false, ordering: .relaxed)
            let restarted = try await TestServer.start(root: root) { $0.webhooks = endpoints(port) }
            #expect(try await eventually { receiver.actions("/all").contains("push team/app v2 application/vnd.oci.image.manifest.v1+json") })
            #expect(try await eventually { receiver.actions("/pushes").contains("push team/app v2 application/vnd.oci.image.manifest.v1+json") })
            await restarted.stop()
        }
    }

    @Test(arguments: [
        ("version: 0.1\nnotifications:\n  endpoints:\n    - url: http://x/\n", "notifications.endpoints[0].name"),
        ("version: 0.1\nnotifications:\n  endpoints:\n    - name: a\n      url: ftp://x/\n", "notifications.endpoints[0].url"),
        ("version: 0.1\nnotifications:\n  endpoints:\n    - name: a\n      url: http://x/\n      backoff: soon\n", "notifications.endpoints[0].backoff"),
        ("version: 0.1\nnotifications:\n  endpoints: nope\n", "notifications.endpoints"),
    ])
    func badEndpointsNameTheKey(_ yaml: String, _ key: String) {
        #expect { _ = try ServerConfig.load(yaml: yaml) } throws: { ($0 as? ConfigError)?.key == key }
    }

    @Test func endpointsParseAsDistributionWritesThem() throws {
        let config = try ServerConfig.load(yaml: """
            version: 0.1
            notifications:
              endpoints:
                - name: alistener
                  url: https://example.com/callback
                  headers:
                    Authorization: [Bearer <token>]
                  timeout: 500ms
                  threshold: 5
                  backoff: 1s
                  ignoredmediatypes:
                    - application/octet-stream
                  ignore:
                    actions:
                      - pull
                - name: off
                  url: https://example.com/off
                  disabled: true
            """)
        #expect(config.webhooks.count == 1 && config.warnings.isEmpty, "\(config.warnings)")
        let endpoint = try #require(config.webhooks.first)
        #expect(endpoint.headers == ["Authorization": ["Bearer <token>"]] && endpoint.timeout == .milliseconds(500) && endpoint.threshold == 5)
        #expect(endpoint.ignoredMediaTypes == ["application/octet-stream"] && endpoint.ignoredActions == ["pull"])
    }
}
