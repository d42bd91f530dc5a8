import Foundation
import Hummingbird

extension RegistryUI {
    /// Administrators: each webhook endpoint with the events waiting for it and how many of
    /// those have failed at least once.
    func webhooksPage(_ visit: Visit) async throws -> Response {
        guard access.isAdmin(user: visit.user) else { throw PageFailure(.notFound, "Not found", "There is no such page.") }
        let backlog = Dictionary(try await registry.notificationBacklog().map { ($0.endpoint, $0) }, uniquingKeysWith: { first, _ in first })
        let rows = settings.webhooks.map { endpoint -> [String: Any] in
            let waiting = backlog[endpoint.name]
            return [
                "name": endpoint.name, "url": endpoint.url, "queued": waiting?.queued ?? 0, "failing": waiting?.failing ?? 0,
                "attempts": waiting?.maxAttempts ?? 0, "next": waiting?.oldestNextAttempt.map(Formatting.iso) ?? "",
                "healthy": (waiting?.failing ?? 0) == 0,
            ]
        }
        return page("Webhooks", template: "webhooks", ["endpoints": rows, "none": rows.isEmpty], visit)
    }
}
