import Foundation
import Testing

/// `berth serve` refusing to start says why in one line a user can act on — no Foundation error
/// dumps, no NIOSSL case names, no cancellation noise from tasks that never ran.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: Interop.berthBinary), "the berth binary is not built"))
struct ServerStartupMessagesTests {
    func serve(_ yaml: String) async throws -> Interop.Output {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let config = berth.path("config.yml")
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: config))
        return try await berth.run(["serve", "--config", config])
    }

    func config(root: String, port: Int, extra: String = "") -> String {
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: \(root)\nhttp:\n  addr: 127.0.0.1:\(port)\n\(extra)"
    }

    @Test func eachFailureIsOneLineThatSaysWhy() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-startup-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let junk = root + "-junk.pem"
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: junk))
        defer { try? FileManager.default.removeItem(atPath: junk) }
        let busy = try RawListener()
        defer { busy.close() }
        let cases: [(String, String)] = [
            (config(root: root, port: try freePort(), extra: "  tls:\n    certificate: /nonexistent/cert.pem\n    key: /nonexistent/key.pem\n"),
             "TLS: cannot read /nonexistent/cert.pem: no such file"),
            (config(root: root, port: try freePort(), extra: "  tls:\n    certificate: \(junk)\n    key: \(junk)\n"),
             "TLS: \(junk) holds no PEM certificate"),
            (config(root: "/proc/berth-cannot-be-here", port: try freePort()), "mkdir /proc/berth-cannot-be-here: No such file or directory"),
            (config(root: root, port: busy.port), "cannot listen on 127.0.0.1:\(busy.port): Address already in use"),
        ]
        for (yaml, expected) in cases {
            let result = try await serve(yaml)
            #expect(result.status != 0 && result.stderr.contains(expected), "\(expected): \(result.stderr)")
            #expect(ClientMessagesTests.plain(result.stderr) && !result.stderr.contains("Cancellation"), "\(result.stderr)")
        }
    }
}

/// A loopback port something is already listening on.
final class RawListener: Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw TestFailure("cannot listen on loopback") }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(fd) }
}
