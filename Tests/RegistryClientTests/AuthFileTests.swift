import Foundation
import Testing

@testable import RegistryClient

@Suite struct AuthFileTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-auth-\(UUID().uuidString)")

    func file(_ name: String, _ json: String) throws -> AuthFile {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return AuthFile(path: path)
    }

    func basic(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    @Test func theMostSpecificKeyWinsAndDockerKeysAreNormalised() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let auth = try file(
            "auth.json",
            """
            {"auths": {"reg.example:5000": {"auth": "\(basic("host:h"))"},
                       "reg.example:5000/team": {"auth": "\(basic("team:t"))"},
                       "https://index.docker.io/v1/": {"auth": "\(basic("hub:p:with:colons"))"}}}
            """)
        #expect(try await AuthFile.credentials(in: [auth], registry: "reg.example:5000", repository: "team/app") == Credentials(username: "team", password: "t"))
        #expect(try await AuthFile.credentials(in: [auth], registry: "reg.example:5000", repository: "other/app") == Credentials(username: "host", password: "h"))
        #expect(try await AuthFile.credentials(in: [auth], registry: "docker.io", repository: "library/alpine") == Credentials(username: "hub", password: "p:with:colons"))
        #expect(try await AuthFile.credentials(in: [auth], registry: "elsewhere", repository: nil) == nil)
    }

    @Test func filesAreSearchedInOrderAndAMissingFileIsSkipped() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try file("first.json", #"{"auths": {}}"#)
        let second = try file("second.json", #"{"auths": {"r": {"auth": "\#(basic("b:2"))"}}}"#)
        let missing = AuthFile(path: directory.appendingPathComponent("missing.json").path)
        #expect(try await AuthFile.credentials(in: [missing, first, second], registry: "r", repository: nil)?.username == "b")
        let environment = ["REGISTRY_AUTH_FILE": "/x/a.json", "XDG_RUNTIME_DIR": "/run/user/7", "HOME": "/home/u"]
        #expect(AuthFile.searchPath(explicit: nil, environment: environment).map(\.path) == [
            "/x/a.json", "/run/user/7/containers/auth.json", "/home/u/.config/containers/auth.json", "/home/u/.docker/config.json",
        ])
        #expect(AuthFile.writable(explicit: nil, environment: ["XDG_RUNTIME_DIR": "/run/user/7"]).path == "/run/user/7/containers/auth.json")
    }

    @Test func storeWritesPodmansFormatAndKeepsOtherKeys() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let auth = try file("auth.json", #"{"credHelpers": {"x.example": "pass"}, "auths": {"old": {"auth": "\#(basic("o:o"))"}}}"#)
        try auth.store(Credentials(username: "alice", password: "s3cret"), for: "127.0.0.1:5000")
        let text = try String(contentsOfFile: auth.path, encoding: .utf8)
        #expect(text.contains("\t\"auths\": {\n\t\t\"127.0.0.1:5000\": {\n\t\t\t\"auth\": \"\(basic("alice:s3cret"))\"\n\t\t},"))
        #expect(text.contains("\"credHelpers\""))
        let mode = try FileManager.default.attributesOfItem(atPath: auth.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try auth.remove("127.0.0.1:5000"))
        #expect(try !auth.remove("127.0.0.1:5000"))
        #expect(try !String(contentsOfFile: auth.path, encoding: .utf8).contains("127.0.0.1:5000"))
    }

    @Test func credentialHelpersAreAsked() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let helper = directory.appendingPathComponent("docker-credential-fake")
        try Data(
            """
            #!/bin/sh
            read server
            if [ "$server" = "helped.example" ]; then echo '{"ServerURL":"helped.example","Username":"bot","Secret":"tok"}'; exit 0; fi
            echo "credentials not found in native keychain"; exit 1
            """.utf8
        ).write(to: helper)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: helper.path)
        let auth = try file("auth.json", #"{"credHelpers": {"helped.example": "fake"}, "credsStore": "fake"}"#)
        let environment = ["PATH": "\(directory.path):/usr/bin:/bin"]
        #expect(try await AuthFile.credentials(in: [auth], registry: "helped.example", repository: nil, environment: environment) == Credentials(username: "bot", password: "tok"))
        #expect(try await AuthFile.credentials(in: [auth], registry: "other.example", repository: nil, environment: environment) == nil)
        let broken = try file("broken.json", #"{"credsStore": "absent"}"#)
        await #expect(throws: AuthFileError.self) {
            _ = try await AuthFile.credentials(in: [broken], registry: "r", repository: nil, environment: environment)
        }
        let garbage = try file("garbage.json", "{not json")
        await #expect(throws: AuthFileError.self) {
            _ = try await AuthFile.credentials(in: [garbage], registry: "r", repository: nil, environment: environment)
        }
    }

    /// A helper that is not installed never reads its input (found by fuzzing auth.json): the
    /// server name used to be written after it started, into a pipe nobody read, and SIGPIPE
    /// ended the whole process silently. Repeated, because whether the helper is gone by then is
    /// a race (`env` failing to find it is the quickest exit there is).
    @Test func aHelperThatReadsNothingIsAnErrorNotASignal() async throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let auth = try file("auth.json", #"{"credsStore": "absent"}"#)
        for _ in 0..<300 {
            await #expect(throws: AuthFileError.self) {
                _ = try await AuthFile.credentials(in: [auth], registry: "r.example", repository: nil, environment: ["PATH": "/nonexistent"])
            }
        }
    }
}
