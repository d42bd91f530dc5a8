import Foundation
import Hummingbird
@testable import RegistryServer
import RegistryUI
import TestSupport
import Testing

/// A delete in the UI raises the webhook event an API DELETE raises, with the signed-in user as
/// its actor; the webhooks page shows each endpoint's queue without its credentials.
struct UIWebhookTests {
    @Test func uiDeletesAreDeliveredAndTheQueueIsShown() async throws {
        let receiver = WebhookTests.Receiver()
        try await withScriptedServer({ request, _ in try await receiver.handle(request) }) { port in
            var delivered = WebhookEndpoint(name: "audit", url: "http://hook:secret@127.0.0.1:\(port)/audit?token=abc")
            delivered.threshold = 1
            delivered.backoff = .milliseconds(100)
            // Nothing listens on port 9 of loopback: deliveries there fail and wait.
            var broken = WebhookEndpoint(name: "broken", url: "http://127.0.0.1:9/hook")
            broken.timeout = .milliseconds(200)
            try await withServer({ config in
                config.webhooks = [delivered, broken]
                UIFixtures.openUI(&config)
            }) { _, http in
                let image = UIFixtures.image()
                try await http.push(image, to: "team/app", as: "v1")
                var ui = UIClient(http)
                let page = try await ui.get("/ui/repositories/team/app")
                ui.keep(page)
                let token = try #require(UIClient.csrf(page))
                let done = try await ui.post("/ui/delete/team/app", [("csrf", token), ("tag", "v1"), ("mode", "manifests"), ("confirm", "yes")])
                #expect(done.status == 200)
                #expect(try await eventually { receiver.actions("/audit").contains("delete team/app - ") }, "\(receiver.actions("/audit"))")

                let webhooks = try await ui.get("/ui/webhooks").text
                #expect(webhooks.contains("<code>http://127.0.0.1:\(port)/audit</code>") && !webhooks.contains("secret") && !webhooks.contains("token=abc"))
                // The broken endpoint's events stay queued and show as failing once tried.
                var brokenRow = ""
                _ = try await eventually {
                    let text = try await ui.get("/ui/webhooks").text
                    brokenRow = text.split(separator: "\n").first { $0.contains("<td>broken") }.map(String.init) ?? ""
                    return brokenRow.contains("badge bad\">failing")
                }
                let counts = brokenRow.matches(of: /<td>(\d+)<\/td>/).map { Int($0.1)! }
                #expect(brokenRow.contains("badge bad\">failing") && counts.count == 3 && counts[0] >= 4 && counts[1] >= 1 && counts[2] >= 1, "\(brokenRow)")
            }
        }
    }
}
