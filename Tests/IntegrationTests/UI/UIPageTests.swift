import Foundation
import OCI
@testable import RegistryServer
import RegistryUI
import Testing

/// The web interface over HTTP, without a browser: every page's status, escaping and headers,
/// what each user may see and do, deletes with their confirmation, CSRF and origin checks.
/// (`UIBrowserTests` clicks through the same in Chromium.)
struct UIPageTests {
    static let htmlHeaders = [
        ("Content-Security-Policy", RegistryUIHeaders.csp), ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"), ("Referrer-Policy", "same-origin"),
    ]

    static func checkHTMLHeaders(_ reply: Reply, _ context: String) {
        for (name, value) in htmlHeaders { #expect(reply.header(name) == value, "\(context): \(name)") }
        #expect(reply.header("Content-Type") == "text/html; charset=utf-8", "\(context)")
    }

    @Test func hostileImageContentRendersAsTextOnEveryPage() async throws {
        try await withServer({ UIFixtures.openUI(&$0) }) { _, http in
            let hostile = UIFixtures.image(
                labels: ["org.opencontainers.image.title": UIFixtures.script, "note": UIFixtures.attribute, "org.opencontainers.image.source": UIFixtures.javascriptURL],
                env: ["X=\(UIFixtures.attribute)"], history: ["/bin/sh -c #(nop) LABEL x=\(UIFixtures.script)", "/bin/sh -c echo '<b>bold</b>'"],
                annotations: ["org.opencontainers.image.description": UIFixtures.attribute, "org.opencontainers.image.url": "https://example.com/app"])
            try await http.push(hostile, to: "team/app", as: "v1")
            let sbom = UIFixtures.spdx(subject: hostile)
            try await http.push(sbom, to: "team/app", as: sbom.digest)
            let ui = UIClient(http)
            for path in [
                "/ui/", "/ui/?q=team&sort=size", "/ui/repositories/team/app", "/ui/image/team/app?ref=v1", "/ui/sbom/team/app?digest=\(sbom.digest)",
                "/ui/storage", "/ui/storage?dryrun=1", "/ui/webhooks", "/ui/search?q=app", "/ui/search?q=%3Cscript%3E",
            ] {
                let page = try await ui.get(path)
                #expect(page.status == 200, "\(path): \(page.status)")
                Self.checkHTMLHeaders(page, path)
                for raw in ["<script>window", "<img src=x", "href=\"javascript:", "<b>bold"] {
                    #expect(!page.text.contains(raw), "\(path) carries \(raw) unescaped")
                }
            }
            let image = try await ui.get("/ui/image/team/app?ref=v1").text
            #expect(image.contains("&lt;script&gt;window.__x=1&lt;/script&gt;"), "the title shows as text")
            #expect(image.contains("&quot;&gt;&lt;img src=x onerror=window.__x=1&gt;"), "the label shows as text")
            #expect(image.contains(UIFixtures.javascriptURL) && !image.contains("href=\"\(UIFixtures.javascriptURL)"), "a javascript: source is not a link")
            #expect(image.contains(#"<a href="https://example.com/app" rel="noopener noreferrer">"#), "an https URL is one")
            #expect(image.contains("LABEL x=&lt;script&gt;") && image.contains("RUN echo &#39;&lt;b&gt;bold&lt;/b&gt;&#39;"), "history reads like a Dockerfile")
            #expect(image.contains("SBOMs (1)") && image.contains("/ui/sbom/team/app?digest=\(sbom.digest)"))
            let packages = try await ui.get("/ui/sbom/team/app?digest=\(sbom.digest)").text
            #expect(packages.contains("<td>openssl</td><td>3.0.15</td><td>Apache-2.0</td>") && packages.contains("<td>musl</td><td>1.2.5</td><td>MIT</td>"))
            #expect(packages.contains("SPDX-2.3") && packages.contains("3 packages"))
        }
    }

    @Test func assetsAreImmutableAndPagesAreNot() async throws {
        try await withServer({ UIFixtures.openUI(&$0) { $0.collectionGrace = 0 } }) { server, http in
            let home = try await http.get("/")
            #expect(home.status == 303 && home.header("Location") == "/ui/")
            #expect(try await http.get("/ui").header("Location") == "/ui/")
            let page = try await http.get("/ui/").text
            let range = try #require(page.range(of: #"/ui/static/berth\.[0-9a-f]{8}\.css"#, options: .regularExpression))
            let stylesheet = String(page[range])
            let css = try await http.get(stylesheet)
            #expect(css.status == 200 && css.header("Cache-Control") == "public, max-age=31536000, immutable" && css.header("Content-Type") == "text/css; charset=utf-8")
            let etag = try #require(css.header("ETag"))
            #expect(try await http.get(stylesheet, headers: [("If-None-Match", etag)]).status == 304)
            #expect(try await http.get("/ui/static/berth.00000000.css").status == 404)
            #expect(try await http.get("/ui/nowhere").status == 404)
            // The registry's own answers never render as a page in the UI's origin.
            let blob = try await http.pushBlob("team/app", Array("<html><script>alert(1)</script>".utf8))
            let served = try await http.get("/v2/team/app/blobs/\(blob)")
            #expect(served.header("Content-Security-Policy") == "sandbox" && served.header("X-Content-Type-Options") == "nosniff")
            // The storage page: nothing collected yet, then what a collection deleted.
            #expect(try await http.get("/ui/storage").text.contains("No collection has run in this server since it started."))
            let dryRun = try await http.get("/ui/storage?dryrun=1").text
            #expect(dryRun.contains("A collection now (grace 0 s) would delete 0 manifest(s) and 1 blob(s)") && dryRun.contains(blob), "an unreferenced blob")
            _ = try await server.registry.collectGarbage(grace: 0)
            #expect(try await http.get("/ui/storage").text.contains("deleted 0 manifest(s) and 1 blob(s)"))
        }
    }

    @Test func aMultiPlatformIndexShowsEachPlatformAndItsAttestation() async throws {
        try await withServer({ UIFixtures.openUI(&$0) }) { _, http in
            let (index, children) = UIFixtures.multiPlatform()
            for child in children { try await http.push(child, to: "team/multi", as: child.digest) }
            #expect(try await http.pushManifest("team/multi", "1.0", index, type: MediaType.ociIndex).status == 201)
            let ui = UIClient(http)
            let tags = try await ui.get("/ui/repositories/team/multi").text
            #expect(tags.contains("<td>linux/amd64, linux/arm64</td>"), "the attestation manifest is not a platform")
            #expect(tags.contains("linux/amd64 ") && tags.contains("; linux/arm64 "), "a size per platform")
            let first = try await ui.get("/ui/image/team/multi?ref=1.0").text
            #expect(first.contains(#"<code id="platform-digest">\#(children[0].digest)</code>"#) && first.contains("1 attestation manifest(s)"))
            let second = try await ui.get("/ui/image/team/multi?ref=1.0&platform=\(children[1].digest)").text
            #expect(second.contains(#"<code id="platform-digest">\#(children[1].digest)</code>"#) && second.contains("ADD file:def in /"))
            #expect(!second.contains("apk add curl"), "the layers are the chosen platform's")
            let list = try await ui.get("/ui/").text
            #expect(list.contains("multi-arch"))
        }
    }

    @Test func tagsSortByPushOrByVersionAndCosignTagsFold() async throws {
        try await withServer({ UIFixtures.openUI(&$0) }) { _, http in
            let image = UIFixtures.image()
            for tag in ["1.9.0", "1.10.0", "1.2.0"] {
                try await http.push(image, to: "team/app", as: tag)
                try await Task.sleep(for: .milliseconds(20))
            }
            let signature = try UIFixtures.cosignSignature(subject: image, legacy: true)
            try await http.push(signature, to: "team/app", as: "sha256-\(image.digest.dropFirst(7)).sig")
            let ui = UIClient(http)
            func order(_ page: String) -> [String] {
                page.matches(of: /class="tag">([^<]+)</).map { String($0.1) }
            }
            #expect(order(try await ui.get("/ui/repositories/team/app").text) == ["1.2.0", "1.10.0", "1.9.0"], "newest push first")
            #expect(order(try await ui.get("/ui/repositories/team/app?sort=name").text) == ["1.10.0", "1.9.0", "1.2.0"], "versions in numeric order")
            let page = try await ui.get("/ui/repositories/team/app").text
            #expect(page.contains("1 signature, attestation and SBOM tags shown with their images") && page.contains("badge ok\">signed"))
            // A referrer counts as much as a cosign tag.
            let other = UIFixtures.image()
            try await http.push(other, to: "team/app", as: "2.0.0")
            let sbom = UIFixtures.spdx(subject: other)
            try await http.push(sbom, to: "team/app", as: sbom.digest)
            let badges = try await ui.get("/ui/repositories/team/app").text
            #expect(badges.contains(#"class="tag">2.0.0</a> <span class="badge">SBOM</span>"#), "an SBOM referrer makes a badge")
            #expect(badges.contains("<td>linux/amd64</td>"), "a single image's platform comes from its config")
            let detail = try await ui.get("/ui/image/team/app?ref=1.2.0").text
            #expect(detail.contains("Signatures (1)") && detail.contains("claims registry.example/team/app") && detail.contains("not verified (no trust keys"))
        }
    }

    @Test func deletesAreConfirmedSayWhatGoesAndRefuseForgedRequests() async throws {
        try await withServer({ UIFixtures.openUI(&$0) }) { _, http in
            let shared = UIFixtures.image(), lone = UIFixtures.image()
            for tag in ["v1", "v2"] { try await http.push(shared, to: "team/app", as: tag) }
            try await http.push(lone, to: "team/app", as: "old")
            var ui = UIClient(http)
            let page = try await ui.get("/ui/repositories/team/app")
            ui.keep(page)
            let token = try #require(UIClient.csrf(page))
            // Forged: from another site, with another Origin, without the token, or with another one.
            for (fields, headers, site) in [
                ([("csrf", token), ("tag", "v1"), ("mode", "untag"), ("confirm", "yes")], [(String, String)](), "cross-site"),
                ([("csrf", token), ("tag", "v1"), ("mode", "untag"), ("confirm", "yes")], [], "same-site"),
                ([("csrf", token), ("tag", "v1"), ("mode", "untag"), ("confirm", "yes")], [("Origin", "http://evil.example")], nil),
                ([("csrf", token), ("tag", "v1"), ("mode", "untag"), ("confirm", "yes")], [("Origin", "null")], nil),
                ([("tag", "v1"), ("mode", "untag"), ("confirm", "yes")], [], "same-origin"),
                // Another token: its first character changed (a token that begins with x stays itself with an x in front).
                ([("csrf", (token.first == "x" ? "y" : "x") + token.dropFirst()), ("tag", "v1"), ("mode", "untag"), ("confirm", "yes")], [], "same-origin"),
            ] as [([(String, String)], [(String, String)], String?)] {
                let refused = try await ui.post("/ui/delete/team/app", fields, site: site, extraHeaders: headers)
                #expect(refused.status == 403, "\(fields.map(\.0)) \(headers) \(site ?? "-"): \(refused.status)")
            }
            var noSession = ui
            noSession.cookie = nil
            #expect(try await noSession.post("/ui/delete/team/app", [("csrf", token), ("tag", "v1"), ("mode", "untag"), ("confirm", "yes")]).status == 403)
            #expect(try await http.get("/v2/team/app/tags/list").json["tags"] as? [String] == ["old", "v1", "v2"], "nothing changed")

            // Untag v1: the confirmation says the image stays under v2; nothing changes before confirming.
            let confirm = try await ui.post("/ui/delete/team/app", [("csrf", token), ("tag", "v1"), ("mode", "untag")])
            #expect(confirm.status == 200 && confirm.text.contains("Tag v1 is removed. Its image \(shortDigest(shared.digest)) stays, still tagged v2."))
            #expect(try await http.get("/v2/team/app/tags/list").json["tags"] as? [String] == ["old", "v1", "v2"])
            let untagged = try await ui.post("/ui/delete/team/app", [("csrf", token), ("tag", "v1"), ("mode", "untag"), ("confirm", "yes")])
            #expect(untagged.status == 200 && untagged.text.contains("Removed tag v1."))
            #expect(try await http.get("/v2/team/app/tags/list").json["tags"] as? [String] == ["old", "v2"])
            #expect(try await http.head("/v2/team/app/manifests/\(shared.digest)").status == 200, "untagging keeps the image")

            // Delete the image of "old" and v2 selected together: both images go, with every tag.
            let second = try await ui.post("/ui/delete/team/app", [("csrf", token), ("tag", "v2"), ("tag", "old"), ("mode", "manifests")])
            #expect(second.text.contains("Image \(shared.digest) is deleted with every tag naming it: v2."))
            let deleted = try await ui.post("/ui/delete/team/app", [("csrf", token), ("tag", "v2"), ("tag", "old"), ("mode", "manifests"), ("confirm", "yes")])
            #expect(deleted.status == 200 && deleted.text.contains("Deleted image \(lone.digest)"))
            #expect(try await http.head("/v2/team/app/manifests/\(shared.digest)").status == 404)
            #expect(try await http.get("/v2/team/app/tags/list").json["tags"] as? [String] == [])
            // A tag that no longer exists is named, not silently skipped.
            let stale = try await ui.post("/ui/delete/team/app", [("csrf", token), ("tag", "v2"), ("mode", "untag"), ("confirm", "yes")])
            #expect(stale.status == 404 && stale.text.contains("has no tag v2"))
        }
    }

    @Test func readOnlyShowsNoFormsAndRefusesPosts() async throws {
        try await withServer({ UIFixtures.openUI(&$0) { $0.readOnly = true } }) { _, http in
            try await http.push(UIFixtures.image(), to: "team/app", as: "v1")
            var ui = UIClient(http)
            let page = try await ui.get("/ui/repositories/team/app")
            ui.keep(page)
            #expect(page.text.contains(#"id="read-only""#) && !page.text.contains("name=\"tag\"") && !page.text.contains("delete-selected"))
            let refused = try await ui.post("/ui/delete/team/app", [("tag", "v1"), ("mode", "untag"), ("confirm", "yes")])
            #expect(refused.status == 405)
            #expect(try await http.get("/v2/team/app/tags/list").json["tags"] as? [String] == ["v1"])
        }
    }

    @Test func aBasePathPrefixesEveryLink() async throws {
        try await withServer({ UIFixtures.openUI(&$0) { $0.basePath = "/registry/ui" } }) { _, http in
            try await http.push(UIFixtures.image(), to: "team/app", as: "v1")
            let page = try await http.get("/registry/ui/repositories/team/app")
            #expect(page.status == 200)
            let links = page.text.matches(of: /(?:href|action|src)="([^"]+)"/).map { String($0.1) }
            #expect(!links.isEmpty && links.allSatisfy { $0.hasPrefix("/registry/ui/") || $0 == "data:," }, "\(links)")
            #expect(try await http.get("/ui/").status == 404)
            #expect(try await http.get("/").header("Location") == "/registry/ui/")
        }
    }

    @Test func searchFindsNamesTagsDigestsAndTitles() async throws {
        try await withServer({ UIFixtures.openUI(&$0) }) { _, http in
            let titled = UIFixtures.image(annotations: ["org.opencontainers.image.title": "Payments Gateway"])
            try await http.push(titled, to: "team/billing", as: "release-2024")
            try await http.push(UIFixtures.image(), to: "team/gateway-tools", as: "v1")
            let ui = UIClient(http)
            let byTitle = try await ui.get("/ui/search?q=payments").text
            #expect(byTitle.contains(#"<ul id="found-titles"><li><a href="/ui/image/team/billing?ref=\#(titled.digest)">Payments Gateway</a>"#))
            let byName = try await ui.get("/ui/search?q=gateway").text
            #expect(byName.contains(#"class="repository">team/gateway-tools</a>"#) && byName.contains("Payments Gateway"))
            let byTag = try await ui.get("/ui/search?q=release-20").text
            #expect(byTag.contains(#"<a href="/ui/image/team/billing?ref=release-2024">team/billing:release-2024</a>"#))
            let hex = String(titled.digest.dropFirst(7).prefix(10))
            for term in [hex, "sha256:\(hex)"] {
                #expect(try await ui.get("/ui/search?q=\(term)").text.contains("team/billing@\(titled.digest)"), "\(term)")
            }
            #expect(try await ui.get("/ui/search?q=nothing-like-this").text.contains(#"id="no-results""#))
            #expect(try await ui.get("/ui/search?q=%25").text.contains(#"id="no-results""#), "LIKE wildcards are text")
        }
    }

    @Test func badRequestsGetAPageThatSaysWhy() async throws {
        try await withServer({ UIFixtures.openUI(&$0) }) { _, http in
            let image = UIFixtures.image()
            try await http.push(image, to: "team/app", as: "v1")
            var ui = UIClient(http)
            let zero = "sha256:\(String(repeating: "0", count: 64))"
            for (path, status, says) in [
                ("/ui/image/team/app?ref=v9", 404, "team/app has no v9."),
                ("/ui/image/team/app?ref=%3Cbad%3E", 404, "team/app has no &lt;bad&gt;."),
                ("/ui/repositories/Team/App", 404, "There is no repository Team/App."),
                ("/ui/repositories/team/none", 404, "There is no repository team/none."),
                ("/ui/download/team/app?kind=blob", 400, "A digest is needed."),
                ("/ui/download/team/app?kind=blob&digest=sha256:xyz", 400, "A digest is needed."),
                ("/ui/download/team/app?kind=blob&digest=\(zero)", 404, "team/app has no blob \(zero)."),
                ("/ui/download/team/app?kind=manifest&digest=\(zero)", 404, "team/app has no manifest \(zero)."),
                ("/ui/sbom/team/app?digest=\(image.digest)", 422, "The SBOM is not SPDX or CycloneDX JSON; download it instead."),
                ("/ui/sbom/team/app", 404, "team/app has no such SBOM."),
            ] {
                let page = try await ui.get(path)
                #expect(page.status == status && page.text.contains(#"<p id="message">\#(says)</p>"#), "\(path): \(page.status)")
                Self.checkHTMLHeaders(page, path)
            }
            #expect(try await http.send(.PUT, "/ui/").status == 405)
            let form = try await ui.get("/ui/repositories/team/app")
            ui.keep(form)
            let token = try #require(UIClient.csrf(form))
            let empty = try await ui.post("/ui/delete/team/app", [("csrf", token), ("mode", "untag")])
            #expect(empty.status == 400 && empty.text.contains("Select the tags to remove first."))
            let huge = try await ui.post("/ui/delete/team/app", [("csrf", token), ("tag", String(repeating: "a", count: 2 << 20))])
            #expect(huge.status == 413 && huge.text.contains("The form is larger than 1 MiB."))
            #expect(try await http.get("/v2/team/app/tags/list").json["tags"] as? [String] == ["v1"])
        }
    }

    @Test func longTagListsPageOnTheServer() async throws {
        try await withServer({ UIFixtures.openUI(&$0) }) { _, http in
            let image = UIFixtures.image()
            try await http.push(image, to: "team/many", as: "t000")
            for n in 1..<105 {
                #expect(try await http.pushManifest("team/many", String(format: "t%03d", n), image.manifest).status == 201)
            }
            let first = try await http.get("/ui/repositories/team/many?sort=name").text
            let names = first.matches(of: /class="tag">([^<]+)</).map { String($0.1) }
            #expect(names.count == 100 && names.first == "t104" && names.last == "t005" && first.contains("Page 1 of 2."))
            let second = try await http.get("/ui/repositories/team/many?sort=name&page=2").text
            #expect(second.matches(of: /class="tag">([^<]+)</).map { String($0.1) } == ["t004", "t003", "t002", "t001", "t000"])
            #expect(first.contains("105 tags"))
        }
    }

    @Test func repositoriesPageOnTheServer() async throws {
        try await withServer({ UIFixtures.openUI(&$0) }) { server, http in
            let image = UIFixtures.image()
            for n in 0..<(RegistryUIHeaders.perPage + 5) {
                try await http.push(image, to: String(format: "bulk/r%03d", n), as: "v1")
            }
            let first = try await http.get("/ui/?sort=name").text
            #expect(first.contains("1–50 of 55.") && first.contains("bulk/r049") && !first.contains("bulk/r050"))
            let second = try await http.get("/ui/?sort=name&page=2").text
            #expect(second.contains("51–55 of 55.") && second.contains("bulk/r054") && !second.contains("bulk/r049"))
            let filtered = try await http.get("/ui/?q=r05").text
            #expect(filtered.contains("1–5 of 5."))
            _ = server
        }
    }
}

/// The UI's constants as the tests check them.
enum RegistryUIHeaders {
    static let csp =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    static let perPage = 50
}

/// `sha256:` and the first 12 hex digits, as the pages shorten digests.
func shortDigest(_ digest: String) -> String { String(digest.prefix(7 + 12)) }
