import Foundation
import OCI

/// Runs the real `berth` binary with its own HOME and XDG_RUNTIME_DIR, so auth files written by
/// one test never reach another (or the user's).
struct BerthCommand {
    let home: URL

    init() throws {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("berth-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent("run"), withIntermediateDirectories: true)
    }

    var environment: [String: String] {
        [
            "HOME": home.path, "XDG_RUNTIME_DIR": home.appendingPathComponent("run").path,
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
    }

    var authFile: URL { home.appendingPathComponent("run/containers/auth.json") }

    func path(_ name: String) -> String { home.appendingPathComponent(name).path }

    /// Runs berth; `stdin` is fed to it when given.
    func run(_ arguments: [String], stdin: String? = nil) async throws -> Interop.Output {
        guard let stdin else { return try await Interop.run(Interop.berthBinary, arguments, environment: environment) }
        let input = path("stdin-\(UUID().uuidString)")
        try Data(stdin.utf8).write(to: URL(fileURLWithPath: input))
        return try await Interop.run("/bin/sh", ["-c", "exec \"$0\" \"$@\" < '\(input)'", Interop.berthBinary] + arguments, environment: environment)
    }

    /// Runs berth and fails the test with its stderr unless it succeeds.
    @discardableResult
    func succeed(_ arguments: [String], stdin: String? = nil) async throws -> Interop.Output {
        let result = try await run(arguments, stdin: stdin)
        guard result.status == 0 else { throw TestFailure("berth \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stderr)") }
        return result
    }

    /// The digest `berth copy` reports through --digestfile.
    func copy(_ arguments: [String]) async throws -> String {
        let file = path("digest-\(UUID().uuidString)")
        try await succeed(["copy", "-q", "--digestfile", file] + arguments)
        return try String(contentsOfFile: file, encoding: .utf8)
    }

    func cleanup() { try? FileManager.default.removeItem(at: home) }
}
