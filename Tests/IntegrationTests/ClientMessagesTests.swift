import Foundation
import Testing

/// The first mistakes a new user makes print one line that says what failed and what to do —
/// no library type names, error numbers or source paths. (TLS mistakes: TLSTests.)
@Suite struct ClientMessagesTests {
    /// Free of what only a library's author could read.
    static func plain(_ message: String) -> Bool {
        ["NIO", "BoringSSL", "errno", "error set", ".swift", ".cc", "Error(", "SingleConnectionFailure", "HTTPClientError"]
            .allSatisfy { !message.contains($0) } && message.split(separator: "\n").count == 1
    }

    @Test func aRegistryThatIsNotListening() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let refusing = try RefusingPort()
        defer { refusing.close() }
        let port = refusing.port
        let result = try await berth.run(["inspect", "--tls-verify=false", "--retry-times", "0", "docker://127.0.0.1:\(port)/team/app:v1"])
        #expect(result.status == 1 && result.stderr.hasPrefix("berth: "), "\(result.stderr)")
        #expect(result.stderr.contains("connection refused by 127.0.0.1:\(port)"), "\(result.stderr)")
        #expect(result.stderr.components(separatedBy: "refused").count == 2, "said once: \(result.stderr)")
        #expect(Self.plain(result.stderr), "\(result.stderr)")
    }

    @Test func aHostThatDoesNotExist() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let result = try await berth.run(["inspect", "--retry-times", "0", "docker://no-such-registry.invalid/team/app:v1"])
        #expect(result.status == 1 && result.stderr.hasPrefix("berth: "), "\(result.stderr)")
        #expect(result.stderr.contains("cannot resolve no-such-registry.invalid"), "\(result.stderr)")
        #expect(Self.plain(result.stderr), "\(result.stderr)")
    }

    /// File-system failures say the path and the system's reason (Foundation's own text on Linux
    /// is "(NSCocoaErrorDomain error 512.)"): destinations and the local store under a file.
    @Test func fileSystemFailuresNameThePathAndTheReason() async throws {
        try await withServer { server, http in
            try await http.push(Fixtures.image(), to: "team/app", as: "v1")
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let blocker = berth.path("a-file")
            #expect(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))
            let source = "docker://127.0.0.1:\(server.port)/team/app:v1"
            let cases: [([String], String)] = [
                (["copy", "-q", "--src-tls-verify=false", source, "dir:\(blocker)/sub"], "\(blocker)/sub: Not a directory"),
                (["copy", "-q", "--src-tls-verify=false", source, "oci:\(blocker)/sub:v1"], "\(blocker)/sub: cannot create the layout: Not a directory"),
                (["copy", "-q", "--src-tls-verify=false", source, "docker-archive:\(blocker)/x.tar"], "Not a directory"),
                (["pull", "--tls-verify=false", "--root", "\(blocker)/store", source], "\(blocker)/store: Not a directory"),
                (["copy", "-q", "--src-tls-verify=false", "--digestfile", "\(blocker)/digest", source, "oci:\(berth.path("ok")):v1"],
                 "cannot write --digestfile \(blocker)/digest: Not a directory"),
            ]
            for (arguments, expected) in cases {
                let result = try await berth.run(arguments)
                #expect(result.status == 1 && result.stderr.hasPrefix("berth: ") && result.stderr.contains(expected), "\(arguments): \(result.stderr)")
                #expect(Self.plain(result.stderr) && !result.stderr.contains("NSCocoaErrorDomain"), "\(result.stderr)")
            }
        }
    }
}
