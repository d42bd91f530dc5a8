import Foundation
import OCI
import Testing

@testable import Transports

@Suite struct RegistriesDTests {
    /// A registries.d directory holding `files` (name → YAML), removed afterwards.
    func withDirectory<T>(_ files: [String: String], _ body: (String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("registries.d-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, text) in files { try Data(text.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name)")) }
        return try body(directory)
    }

    let environment = ["HOME": "/home/u"]

    @Test func mostSpecificScopeWinsPerKeyAndStagingIsForWriting() throws {
        let config = try withDirectory([
            "a.yaml": """
            default-docker:
              lookaside: https://sigs.example.com/default
            docker:
              registry.example.com:
                lookaside: https://sigs.example.com/registry
                use-sigstore-attachments: true
              registry.example.com/team:
                lookaside-staging: file:///srv/staging
              registry.example.com/team/app:
                use-sigstore-attachments: false
            """,
            "b.yaml": """
            docker:
              other.example.com/legacy:
                sigstore: file:///srv/legacy
            """,
            "ignored.yml": "not: [valid",
        ]) { try RegistriesD(directory: $0, environment: environment) }
        let app = try ImageReference(parsing: "registry.example.com/team/app:v1")
        let tool = try ImageReference(parsing: "registry.example.com/team/tool:v1")
        let elsewhere = try ImageReference(parsing: "docker.io/library/busybox:latest")
        #expect(config.lookaside(for: app, write: false)?.absoluteString == "https://sigs.example.com/registry/team/app")
        #expect(config.lookaside(for: app, write: true)?.absoluteString == "file:///srv/staging/team/app")
        #expect(config.lookaside(for: elsewhere, write: true)?.absoluteString == "https://sigs.example.com/default/library/busybox")
        #expect(config.lookaside(for: try ImageReference(parsing: "other.example.com/legacy/x:1"), write: false)?.absoluteString == "file:///srv/legacy/legacy/x")
        #expect(!config.usesSigstoreAttachments(app))
        #expect(config.usesSigstoreAttachments(tool))
        #expect(!config.usesSigstoreAttachments(elsewhere))
    }

    @Test func nothingConfiguredMeansTheBuiltInLookaside() throws {
        let config = try RegistriesD(directory: "/nonexistent/registries.d", environment: environment)
        let reference = try ImageReference(parsing: "127.0.0.1:5000/team/app:v1")
        let expected = geteuid() == 0 ? "file:///var/lib/containers/sigstore/team/app" : "file:///home/u/.local/share/containers/sigstore/team/app"
        #expect(config.lookaside(for: reference, write: true)?.absoluteString == expected)
        let lookaside = Lookaside(base: URL(string: "file:///srv/sigs/team/app")!)
        let digest = Digest.of(Array("m".utf8))
        #expect(lookaside.url(digest, 2).path == "/srv/sigs/team/app@sha256=\(digest.encoded)/signature-2")
    }

    @Test(arguments: [
        ("default-docker: {lookaside: x}\n", "expected a file://"),
        ("docker:\n  example.com:\n    lookasid: file:///x\n", "unknown key \"lookasid\""),
        ("docker:\n  example.com:\n    use-sigstore-attachments: maybe\n", "expected true or false"),
        ("registries: []\n", "unknown key \"registries\""),
        ("docker: [a]\n", "expected a mapping of scopes"),
        ("docker:\n  example.com: [file:///x]\n", "expected a mapping of"),
        ("default-docker: {lookaside: 'file:///x'\n", "not valid YAML"),
    ])
    func rejectsMalformedFilesNamingThem(_ text: String, _ why: String) throws {
        let error = try withDirectory(["bad.yaml": text]) { directory in
            #expect(throws: TransportError.self) { try RegistriesD(directory: directory, environment: environment) }
            do { _ = try RegistriesD(directory: directory, environment: environment) } catch { return "\(error)" }
            return ""
        }
        #expect(error.contains("bad.yaml") && error.contains(why), "\(error)")
    }

    @Test func aScopeDefinedInTwoFilesIsAnError() throws {
        let error = try withDirectory([
            "a.yaml": "docker:\n  example.com:\n    lookaside: file:///a\n",
            "b.yaml": "docker:\n  example.com:\n    lookaside: file:///b\n",
        ]) { directory in
            do { _ = try RegistriesD(directory: directory, environment: environment) } catch { return "\(error)" }
            return ""
        }
        #expect(error.contains("\"example.com\" is also defined in") && error.contains("a.yaml"), "\(error)")
    }
}
