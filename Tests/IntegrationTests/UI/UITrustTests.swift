import Crypto
import Foundation
import OCI
@testable import RegistryServer
import RegistryStorage
import RegistryUI
import Signing
import Testing

/// `berth.ui.trust`: signatures are checked against the keys configured for their repository.
/// A cosign signature made with the configured key reads "signed by <key>", one made with
/// another key "key unknown", one over another image "invalid"; with no keys nothing is claimed.
/// The same for GPG simple signatures from the extension API.
@Suite(.enabled(if: Interop.enabled("gpg"), "gpg is not installed"))
struct UITrustTests {
    static func statuses(_ page: String) -> [String] {
        page.matches(of: /<span class="badge (?:ok|warn|bad)">([^<]+)<\/span>/).map { String($0.1) }
    }

    @Test func signaturesSayWhetherTheyVerify() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-trust-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let release = try P256PrivateKeyBox(), other = try P256PrivateKeyBox()
        let releasePath = directory.appendingPathComponent("release-key.pub").path
        try Data(release.publicPEM.utf8).write(to: URL(fileURLWithPath: releasePath))
        let gpg = try await GPGHome()
        defer { gpg.cleanup() }
        let gpgKey = try await gpg.exportPublicKey()
        let yaml = """
            version: 0.1
            berth:
              ui:
                enabled: true
                trust:
                  "team/*":
                    - type: sigstoreSigned
                      keyPath: \(releasePath)
                    - type: signedBy
                      keyType: GPGKeys
                      keyPath: \(gpgKey)
                      name: gpg-release
            """
        let loaded = try ServerConfig.load(yaml: yaml)
        #expect(loaded.ui?.trust.map(\.name) == ["release-key", "gpg-release"])
        try await withServer({ $0.ui = loaded.ui }) { server, http in
            let good = UIFixtures.image(), foreign = UIFixtures.image(), misplaced = UIFixtures.image(), gpgSigned = UIFixtures.image()
            for (image, repository) in [(good, "team/app"), (foreign, "team/app"), (misplaced, "team/app"), (good, "other/app"), (gpgSigned, "team/app")] {
                try await http.push(image, to: repository, as: image.digest)
            }
            func tag(_ image: Fixtures.Image) -> String { "sha256-\(image.digest.dropFirst(7)).sig" }
            try await http.push(try UIFixtures.cosignSignature(subject: good, key: release.key, legacy: true), to: "team/app", as: tag(good))
            try await http.push(try UIFixtures.cosignSignature(subject: foreign, key: other.key, legacy: true), to: "team/app", as: tag(foreign))
            // A valid signature of `good`, stored as if it were `misplaced`'s.
            try await http.push(try UIFixtures.cosignSignature(subject: good, key: release.key, legacy: true), to: "team/app", as: tag(misplaced))
            try await http.push(try UIFixtures.cosignSignature(subject: good, key: release.key, legacy: true), to: "other/app", as: tag(good))
            let payload = SignaturePayload(dockerReference: "registry.example/team/app:v1", manifestDigest: try OCI.Digest(parsing: gpgSigned.digest)).encoded()
            let simple = try GPG.sign(payload, fingerprint: gpg.fingerprint, homeDirectory: gpg.path)
            try await server.registry.addSignature(
                try RepositoryName(parsing: "team/app"), try OCI.Digest(parsing: gpgSigned.digest), StoredSignature(name: "\(gpgSigned.digest)@abc123", content: simple))

            func page(_ repository: String, _ image: Fixtures.Image) async throws -> String {
                try await http.get("/ui/image/\(repository)?ref=\(image.digest)").text
            }
            #expect(Self.statuses(try await page("team/app", good)) == ["signed by release-key"])
            #expect(Self.statuses(try await page("team/app", foreign)) == ["signature present, key unknown"])
            let wrong = Self.statuses(try await page("team/app", misplaced))
            #expect(wrong.count == 1 && wrong.first?.hasPrefix("invalid: it signs \(good.digest)") == true, "\(wrong)")
            #expect(Self.statuses(try await page("other/app", good)) == ["not verified (no trust keys for this repository)"])
            #expect(Self.statuses(try await page("team/app", gpgSigned)) == ["signed by gpg-release"])
            #expect(try await page("team/app", good).contains("claims registry.example/team/app:v1"))
            // An OCI 1.1 referrer is checked the same way.
            let referrer = try UIFixtures.cosignSignature(subject: gpgSigned, key: release.key)
            try await http.push(referrer, to: "team/app", as: referrer.digest)
            #expect(Self.statuses(try await page("team/app", gpgSigned)).sorted() == ["signed by gpg-release", "signed by release-key"])
        }
    }

    @Test func trustConfigurationMistakesNameTheirKey() throws {
        let cases: [(String, String)] = [
            ("trust: [a]", "berth.ui.trust"),
            ("trust:\n      \"Team/*\": [{type: sigstoreSigned, keyPath: /etc/hostname}]", "berth.ui.trust.Team/*"),
            ("trust:\n      \"team/*\": [{type: signedBy, keyPath: /nonexistent}]", "berth.ui.trust.team/*[0].keyPath"),
            ("trust:\n      \"team/*\": [{type: sigstoreSigned, keyPath: /etc/hostname}]", "berth.ui.trust.team/*[0].keyPath"),
            ("trust:\n      \"team/*\": [{type: x509, keyPath: /etc/hostname}]", "berth.ui.trust.team/*[0].type"),
            ("trust:\n      \"team/*\": [{type: signedBy, keyType: X509Certificates, keyPath: /etc/hostname}]", "berth.ui.trust.team/*[0].keyType"),
            ("basepath: /v2/ui", "berth.ui.basepath"),
            ("sessionidle: 5s", "berth.ui.sessionidle"),
            ("admins: alice", "berth.ui.admins"),
        ]
        for (fragment, key) in cases {
            let yaml = "version: 0.1\nberth:\n  ui:\n    enabled: true\n    \(fragment)\n"
            #expect(throws: ConfigError.self, "\(fragment)") {
                do { _ = try ServerConfig.load(yaml: yaml) } catch let error as ConfigError {
                    #expect(error.key == key, "\(fragment): \(error)")
                    throw error
                }
            }
        }
        let external = "version: 0.1\nauth:\n  token: {realm: http://x/token, service: s, issuer: i, rootcertbundle: /etc/hostname}\nberth:\n  ui:\n    enabled: true\n"
        #expect(throws: ConfigError.self) { _ = try ServerConfig.load(yaml: external) }
        #expect(try ServerConfig.load(yaml: "version: 0.1\n").ui == nil, "off unless enabled")
        #expect(try ServerConfig.load(yaml: ServerConfig.embeddedDefault).ui != nil, "on in the embedded default")
    }
}

/// A cosign-style key pair for tests.
struct P256PrivateKeyBox {
    let key: P256.Signing.PrivateKey
    let publicPEM: String

    init() throws {
        key = P256.Signing.PrivateKey()
        publicPEM = key.publicKey.pemRepresentation
    }
}
