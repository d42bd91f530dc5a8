import Foundation
import Testing
import TestSupport

/// Real external programs (skopeo, the berth binary). On a laptop without them the tests skip; with
/// BERTH_REQUIRE_INTEROP=1 (as CI sets) a missing program fails the test instead.
enum Interop {
    static let required = ProcessInfo.processInfo.environment["BERTH_REQUIRE_INTEROP"] == "1"

    static func path(of tool: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return paths.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Whether a test needing `tool` should run: always when required, else when it is installed.
    static func enabled(_ tool: String) -> Bool { required || path(of: tool) != nil }

    static func tool(_ tool: String) throws -> String {
        guard let found = path(of: tool) else {
            throw TestFailure("\(tool) is not installed and BERTH_REQUIRE_INTEROP=1 requires it (apt-get install \(tool))")
        }
        return found
    }

    /// The `berth` executable built alongside the tests.
    static var berthBinary: String {
        if let explicit = ProcessInfo.processInfo.environment["BERTH_BINARY"] { return explicit }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/berth").path
    }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs a program to completion (off the cooperative pool) and collects its output; through
    /// `Spawn`, which survives the many descriptors a full test run holds.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> Output {
        try await offThread {
            let result = try Spawn.run(executable, arguments, environment: environment)
            return Output(status: result.status, stdout: String(decoding: result.stdout, as: UTF8.self), stderr: String(decoding: result.stderr, as: UTF8.self))
        }
    }

    /// Runs `/bin/sh -c script`, failing on a non-zero exit.
    static func shell(_ script: String) async throws {
        let result = try await run("/bin/sh", ["-c", script])
        guard result.status == 0 else { throw TestFailure("'\(script)' failed: \(result.stderr)") }
    }
}

/// A free loopback port (bound, read and released; the caller binds it right away).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestFailure("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A loopback port that refuses connections until `close()`: bound but never listening, so no
/// server another test starts meanwhile can take it (a port found free and let go can be).
struct RefusingPort {
    let port: Int
    private let descriptor: Int32

    init() throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { [descriptor] in
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else {
            Glibc.close(descriptor)
            throw TestFailure("no free port")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { Glibc.close(descriptor) }
}

/// `berth serve` as a separate process, so a test can kill it with SIGKILL.
final class ServerProcess: Sendable {
    let process: Spawned
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    /// `environment`: `REGISTRY_*` settings beyond the address, the root and the log level.
    init(root: URL, environment extra: [String: String] = [:]) async throws {
        port = try freePort()
        var environment = ProcessInfo.processInfo.environment
        environment["REGISTRY_HTTP_ADDR"] = "127.0.0.1:\(port)"
        environment["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"] = root.path
        environment["REGISTRY_LOG_LEVEL"] = "warn"
        environment.merge(extra) { _, new in new }
        process = try Spawn.start(Interop.berthBinary, ["serve"], environment: environment, stderr: 2)
        let http = HTTP(base: base)
        // Bounded at 30 s (startup is quick; the whole suite running beside it is not).
        for _ in 0..<600 {
            // Only this process's answer counts (its port may have been taken meanwhile).
            guard process.isRunning else { throw TestFailure("berth serve exited (status \(process.poll().map(String.init) ?? "?")) before answering on port \(port)") }
            if (try? await http.get("/v2/"))?.status == 200, process.isRunning { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill()
        throw TestFailure("berth serve did not come up on port \(port)")
    }

    func kill() {
        process.signal(SIGKILL)
        _ = process.wait(timeout: .seconds(10))
    }
}
