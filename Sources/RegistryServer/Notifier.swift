import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RegistryStorage

/// One `notifications.endpoints` entry, as distribution's configuration has it.
public struct WebhookEndpoint: Sendable, Equatable {
    public var name: String
    public var url: String
    public var headers: [String: [String]] = [:]
    public var timeout: Duration = .seconds(1)
    /// Consecutive failures after which deliveries back off.
    public var threshold = 10
    public var backoff: Duration = .seconds(1)
    public var ignoredMediaTypes: [String] = []
    public var ignoredActions: [String] = []

    public init(name: String, url: String) {
        self.name = name
        self.url = url
    }
}

/// Webhooks: each push, pull and delete becomes a distribution event
/// (`application/vnd.docker.distribution.events.v2+json`) queued in the metadata database for
/// every endpoint that wants it, so none is lost to a restart; one delivery loop per endpoint
/// sends what is due and retries failures with backoff.
final class Notifier: Sendable {
    static let envelopeType = "application/vnd.docker.distribution.events.v2+json"
    let endpoints: [WebhookEndpoint]
    let metadata: any MetadataStore
    let logger: Logger
    let instanceID = UUID().uuidString.lowercased()
    let sourceAddress: String

    init(endpoints: [WebhookEndpoint], metadata: any MetadataStore, sourceAddress: String, logger: Logger) {
        self.endpoints = endpoints
        self.metadata = metadata
        self.sourceAddress = sourceAddress
        self.logger = logger
    }

    struct Target {
        var mediaType: String
        var digest: String
        var size: Int64
        var repository: String
        var tag: String?
        var url: String
    }

    /// Queues one event for the endpoints that do not ignore it.
    func record(action: String, target: Target, method: String, host: String, userAgent: String, actor: String?) async {
        var object: [String: Any] = [
            "id": UUID().uuidString.lowercased(),
            "timestamp": ISO8601DateFormatter().string(from: Date()),
            "action": action,
            "target": [
                "mediaType": target.mediaType, "size": target.size, "digest": target.digest, "length": target.size,
                "repository": target.repository, "url": target.url,
            ].merging(target.tag.map { ["tag": $0] } ?? [:]) { $1 },
            "request": ["id": UUID().uuidString.lowercased(), "host": host, "method": method, "useragent": userAgent],
            "actor": actor.map { ["name": $0] } ?? [:],
            "source": ["addr": sourceAddress, "instanceID": instanceID],
        ]
        if object["actor"] as? [String: String] == [:] { object["actor"] = [String: String]() }
        guard let event = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        let queued = endpoints.filter { !$0.ignoredActions.contains(action) && !$0.ignoredMediaTypes.contains(target.mediaType) }
            .map { QueuedNotification(endpoint: $0.name, event: Array(event)) }
        do { try await metadata.enqueueNotifications(queued) } catch { logger.error("cannot queue a notification: \(error)") }
    }

    /// Delivers until cancelled. Servers sharing the metadata take turns per batch: one
    /// server at a time sends an endpoint's due events and marks them, so each goes out once.
    func deliver(_ endpoint: WebhookEndpoint, client: HTTPClient) async {
        var failures = 0
        while !Task.isCancelled {
            let sent = try? await metadata.asSoleRunner("webhooks \(endpoint.name)") {
                try await deliverBatch(endpoint, client: client, failures: &failures)
            }
            if sent != true {
                do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
            }
        }
    }

    /// Sends the endpoint's due events (up to 50) in one request; returns false when none were due.
    private func deliverBatch(_ endpoint: WebhookEndpoint, client: HTTPClient, failures: inout Int) async throws -> Bool {
        let due = try await metadata.dueNotifications(endpoint: endpoint.name, now: Date(), limit: 50)
        guard !due.isEmpty else { return false }
        let body = "{\"events\":[" + due.map { String(decoding: $0.event, as: UTF8.self) }.joined(separator: ",") + "]}"
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: Self.envelopeType)
        for (name, values) in endpoint.headers { for value in values { request.headers.add(name: name, value: value) } }
        request.body = .bytes(ByteBuffer(string: body))
        var delivered = false
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(endpoint.timeout.components.seconds * 1_000_000_000 + endpoint.timeout.components.attoseconds / 1_000_000_000))
            _ = try? await response.body.collect(upTo: 1 << 20)
            delivered = (200..<300).contains(Int(response.status.code))
        } catch {
            delivered = false
        }
        let ids = due.map(\.id)
        if delivered {
            failures = 0
            try await metadata.finishNotifications(ids, retryAt: nil)
            return true
        }
        failures += 1
        // Past the threshold, wait `backoff` (doubling, at most 32×) before the next try.
        let factor = failures < endpoint.threshold ? 0 : min(1 << min(failures - endpoint.threshold, 5), 32)
        let delay = Double(endpoint.backoff.components.seconds) * Double(factor) + Double(endpoint.backoff.components.attoseconds) / 1e18 * Double(factor)
        logger.warning("notification endpoint \(endpoint.name) failed (\(failures) in a row); retrying \(due.count) event(s)")
        try await metadata.finishNotifications(ids, retryAt: Date().addingTimeInterval(max(delay, 0.1)))
        return true
    }
}
