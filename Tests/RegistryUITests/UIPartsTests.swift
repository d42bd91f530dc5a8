import Foundation
@testable import RegistryUI
import OCI
import RegistryStorage
import Testing

/// The UI's pure parts: form decoding, orderings and formats, sessions and throttling, what
/// counts as an attachment, SBOM parsing.
struct UIPartsTests {
    @Test func formFieldsDecodeRepeatsPlusesAndPercents() {
        let form = FormFields("tag=a&tag=b%2Bc&mode=untag&note=two+words&empty=&flag")
        #expect(form.all("tag") == ["a", "b+c"] && form["mode"] == "untag" && form["note"] == "two words")
        #expect(form["empty"] == "" && form["flag"] == "" && form["missing"] == nil)
        #expect(FormFields("bad=%zz")["bad"] == "", "undecodable text is empty, not a crash")
    }

    @Test func tagsSortAsPeopleReadVersions() {
        let sorted = ["v1.10.0", "v1.2.0", "latest", "v1.9.1", "v1.9.0", "v01.9.0", "1.0", "1.0-rc1"].sorted(by: Formatting.naturalLess)
        #expect(sorted == ["1.0-rc1", "1.0", "latest", "v1.2.0", "v01.9.0", "v1.9.0", "v1.9.1", "v1.10.0"])
        #expect(!Formatting.naturalLess("a", "a") && Formatting.naturalLess("a", "ab") && !Formatting.naturalLess("ab", "a"))
    }

    @Test func formatsAndLinks() {
        #expect(Formatting.bytes(999) == "999 B" && Formatting.bytes(1500) == "1.5 KB" && Formatting.bytes(250_000_000) == "250 MB")
        #expect(Formatting.short("sha256:0123456789abcdef0123") == "sha256:0123456789ab")
        #expect(Formatting.ago(Date(timeIntervalSinceNow: -7200)) == "2 hours ago" && Formatting.ago(Date(timeIntervalSinceNow: 60)) == "just now")
        for unsafe in ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "//evil.example", "vbscript:x", "http://"] {
            #expect(Formatting.safeLink(unsafe) == nil, "\(unsafe)")
        }
        #expect(Formatting.safeLink("https://github.com/x/y") == "https://github.com/x/y")
        #expect(RegistryUI.dockerfileStep("/bin/sh -c #(nop)  CMD [\"sh\"]") == "CMD [\"sh\"]")
        #expect(RegistryUI.dockerfileStep("/bin/sh -c apk add curl") == "RUN apk add curl")
        #expect(RegistryUI.dockerfileStep("RUN /bin/sh -c make # buildkit") == "RUN /bin/sh -c make # buildkit")
    }

    @Test func sessionsExpireWhenIdleOrOldAndRotate() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-sessions-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let metadata = try SQLiteMetadataStore(path: root.appendingPathComponent("m.sqlite").path)
        defer { try? metadata.close() }
        let registry = Registry(blobs: try FileSystemBlobStore(root: root), metadata: metadata, options: Registry.Options())
        let store = SessionStore(registry: registry, idle: 60, lifetime: 300)
        let start = Date(timeIntervalSince1970: 1_000_000)
        let first = try await store.create(user: "alice", now: start)
        #expect(first.id.count == 43 && first.csrf.count == 43 && first.id != first.csrf)
        #expect(try await store.session(first.id, now: start.addingTimeInterval(59))?.user == "alice")
        // Kept alive by use, until the absolute lifetime.
        var now = start
        for _ in 0..<4 {
            now = now.addingTimeInterval(59)
            #expect(try await store.session(first.id, now: now) != nil)
        }
        #expect(try await store.session(first.id, now: start.addingTimeInterval(301)) == nil, "ended at its lifetime")
        let idle = try await store.create(user: "bob", now: start)
        #expect(try await store.session(idle.id, now: start.addingTimeInterval(61)) == nil, "ended when idle")
        let before = try await store.create(user: nil, now: start)
        let after = try await store.create(user: "carol", replacing: before.id, now: start)
        #expect(try await store.session(before.id, now: start) == nil, "a sign-in replaces the session")
        #expect(try await store.session(after.id, now: start)?.user == "carol")
        #expect(try await store.session("forged", now: start) == nil)
        #expect(try await store.session(nil) == nil)
        try await store.remove(after.id)
        #expect(try await store.session(after.id, now: start) == nil)
        // The database holds the id's hash, never the id itself.
        let dump = try Data(contentsOf: root.appendingPathComponent("m.sqlite"))
        #expect(dump.range(of: Data(first.id.utf8)) == nil)
    }

    @Test func throttleCountsFailuresPerNameWithinAMinute() {
        let throttle = SignInThrottle()
        let start = Date(timeIntervalSince1970: 1_000_000)
        for second in 0..<5 { throttle.failed("alice", now: start.addingTimeInterval(Double(second))) }
        #expect(throttle.retryAfter("alice", now: start.addingTimeInterval(10)) == 50)
        #expect(throttle.retryAfter("bob", now: start.addingTimeInterval(10)) == nil)
        #expect(throttle.retryAfter("alice", now: start.addingTimeInterval(61)) == nil, "old failures stop counting")
        throttle.failed("carol", now: start)
        throttle.succeeded("carol")
        #expect(throttle.retryAfter("carol", now: start) == nil)
    }

    @Test func tokensCompareWhole() {
        #expect(RequestChecks.tokensMatch("abc", "abc"))
        #expect(!RequestChecks.tokensMatch("abc", "abd") && !RequestChecks.tokensMatch("abc", "abcd") && !RequestChecks.tokensMatch("", ""))
    }

    @Test func cosignTagsAndArtifactTypesAreRecognised() {
        let hex = String(repeating: "ab", count: 32)
        #expect(ManifestFacts.attachmentSubject("sha256-\(hex).sig")! == ("sha256:\(hex)", "sig"))
        #expect(ManifestFacts.attachmentSubject("sha256-\(hex).sbom")! == ("sha256:\(hex)", "sbom"))
        for tag in ["v1.sig", "sha256-abc.sig", "md5-\(hex).sig", "sha256-\(hex).txt", "sha256-\(hex.uppercased()).sig"] {
            #expect(ManifestFacts.attachmentSubject(tag) == nil, "\(tag)")
        }
        #expect(ArtifactKind(artifactType: "application/vnd.dev.cosign.artifact.sig.v1+json", annotations: [:]) == .signature)
        #expect(ArtifactKind(artifactType: "application/vnd.cyclonedx+json", annotations: [:]) == .sbom)
        #expect(ArtifactKind(artifactType: "application/vnd.in-toto+json", annotations: [:]) == .attestation)
        let bundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
        #expect(ArtifactKind(artifactType: bundle, annotations: ["dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"]) == .signature)
        #expect(ArtifactKind(artifactType: bundle, annotations: ["dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1"]) == .attestation)
        #expect(ArtifactKind(artifactType: "application/vnd.example.thing", annotations: [:]) == .other)
    }

    @Test func sbomDocumentsOfBothFormatsBecomeRows() throws {
        let cyclone = Array(#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"zlib","version":"1.3","licenses":[{"license":{"id":"Zlib"}}]},{"name":"x","licenses":[{"expression":"MIT OR Apache-2.0"}]}]}"#.utf8)
        let document = try #require(SBOMDocument(cyclone))
        #expect(document.format == "CycloneDX 1.5" && document.packages.map(\.name) == ["zlib", "x"])
        #expect(document.packages.map(\.license) == ["Zlib", "MIT OR Apache-2.0"])
        let spdx = Array(#"{"spdxVersion":"SPDX-2.3","packages":[{"name":"a","versionInfo":"1","licenseConcluded":"NOASSERTION","licenseDeclared":"BSD-3-Clause"}]}"#.utf8)
        #expect(SBOMDocument(spdx)?.packages.first?.license == "BSD-3-Clause")
        #expect(SBOMDocument(Array("{\"a\":1}".utf8)) == nil && SBOMDocument(Array("not json".utf8)) == nil)
    }

    @Test func templatesDropEmptyValuesAndEscapeTheRest() {
        let templates = Templates()
        let html = templates.render("message", ["heading": "<b>x</b>", "text": Optional<String>.none as Any, "base": "/ui"])
        #expect(html.contains("<h1>&lt;b&gt;x&lt;/b&gt;</h1>") && html.contains(#"<p id="message"></p>"#) && !html.contains("nil"))
    }
}
