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
        let port = try freePort()
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
}
