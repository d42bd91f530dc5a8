import Crypto
import Foundation
import OCI
@testable import RegistryServer
import RegistryUI
import Testing

/// The UI in a real browser: Debian's headless Chromium driven by Selenium
/// (`browser_test.py`) against a registry with the token server's rules. Screenshots of the
/// main pages land in `.build/ui-screenshots/` (not committed).
@Suite(.enabled(if: BrowserTooling.available, "chromium, chromium-driver, python3-selenium or htpasswd is not installed"))
struct UIBrowserTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func aPersonClicksThroughTheUI() async throws {
        for program in ["/usr/bin/chromium", "/usr/bin/chromedriver", "/usr/bin/python3"] where !FileManager.default.isExecutableFile(atPath: program) {
            throw TestFailure("\(program) is missing: apt-get install chromium chromium-driver python3-selenium")
        }
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let htpasswd = try await TokenServerTests.users(in: berth)
        let settings = try UISignInTests.settings(htpasswd: htpasswd)
        // v1 is signed with the key the UI trusts for team/*; the hostile image with another.
        let release = P256.Signing.PrivateKey(), stranger = P256.Signing.PrivateKey()
        var ui = UISettings()
        ui.trust = [
            TrustKey(name: "release-key", kind: .sigstore, key: Array(release.publicKey.pemRepresentation.utf8), repositories: [try RepositoryGlob("team/*")])
        ]
        try await withServer({ config in
            config.tokenServer = settings
            config.authFailureDelay = .milliseconds(10)
            config.ui = ui
        }) { server, _ in
            let registry = server.registry
            try await registry.pushForTests(UIFixtures.image(), to: "public/base", as: "v1")
            let hostile = UIFixtures.image(
                labels: ["org.opencontainers.image.title": UIFixtures.script, "note": UIFixtures.attribute, "org.opencontainers.image.source": UIFixtures.javascriptURL],
                env: ["X=\(UIFixtures.attribute)"], history: ["/bin/sh -c #(nop) LABEL x=\(UIFixtures.script)"])
            try await registry.pushForTests(hostile, to: "team/app", as: "hostile")
            let shared = UIFixtures.image()
            for tag in ["v1", "v2"] {
                try await Task.sleep(for: .milliseconds(20))
                try await registry.pushForTests(shared, to: "team/app", as: tag)
            }
            for attached in [try UIFixtures.cosignSignature(subject: shared, key: release), UIFixtures.spdx(subject: shared)] {
                try await registry.pushForTests(attached, to: "team/app", as: attached.digest)
            }
            try await registry.pushForTests(
                try UIFixtures.cosignSignature(subject: hostile, key: stranger, legacy: true), to: "team/app", as: "sha256-\(hostile.digest.dropFirst(7)).sig")
            let (index, children) = UIFixtures.multiPlatform()
            for child in children { try await registry.pushForTests(child, to: "team/multi", as: child.digest) }
            try await registry.pushForTests(manifest: index, type: MediaType.ociIndex, to: "team/multi", as: "1.0")
            for tag in ["a", "b"] { try await registry.pushForTests(UIFixtures.image(), to: "team/secret", as: tag) }

            let screenshots = Self.packageRoot.appendingPathComponent(".build/ui-screenshots")
            try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("browser_test.py").path
            var environment = ProcessInfo.processInfo.environment
            environment["BERTH_UI"] = "\(server.base)/ui"
            environment["BERTH_SCREENSHOTS"] = screenshots.path
            environment["BERTH_ARM"] = children[1].digest
            environment["HOME"] = berth.path("home")
            let result = try await Interop.run("/usr/bin/python3", [script], environment: environment)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains(" passed, 0 failed"), "\(result.stdout)")
        }
    }
}

enum BrowserTooling {
    static var available: Bool {
        Interop.required
            || (["/usr/bin/chromium", "/usr/bin/chromedriver", "/usr/bin/python3"].allSatisfy(FileManager.default.isExecutableFile(atPath:))
                && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/selenium") && Interop.path(of: "htpasswd") != nil)
    }
}
