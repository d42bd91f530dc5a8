import Foundation

/// A server run by a Python script that prints one line (its port) once it is ready and stops the
/// server when its stdin closes. The test process holds the pipe, so the server goes away with it
/// however the process ends. Scripts that take commands read them one per line and answer each
/// with one line (`command(_:)`). Waiting on the script (initdb takes seconds) happens on a thread
/// of its own: blocking one of the two cooperative threads starves every other test's server.
public final class Supervised: Sendable {
    private let process: Process
    private let stdin: Pipe
    private let stdout: Pipe
    /// The first line the script printed (empty when it exited first).
    public let firstLine: String

    /// Starts the script and waits, off the cooperative pool, for its first line. `showErrors`:
    /// the script's stderr goes to the test's (where a server's tracebacks belong), else nowhere.
    public static func launch(python script: String, arguments: [String] = [], showErrors: Bool = false) async throws -> Supervised {
        try await onThread { try Supervised(python: script, arguments: arguments, showErrors: showErrors) }
    }

    private init(python script: String, arguments: [String], showErrors: Bool) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        stdin = Pipe()
        let output = Pipe()
        stdout = output
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = showErrors ? FileHandle.standardError : FileHandle.nullDevice
        try process.run()
        firstLine = try Self.readLine(output)
    }

    /// Sends one command line and returns the script's one-line answer.
    public func command(_ line: String) async throws -> String {
        try await onThread { [self] in
            try stdin.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
            return try Self.readLine(stdout)
        }
    }

    private static func readLine(_ pipe: Pipe) throws -> String {
        var line = Data()
        while let byte = try pipe.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data([0x0A]) { line.append(byte) }
        return String(decoding: line, as: UTF8.self)
    }
}

/// `work` on a thread of its own, for blocking I/O in async tests.
private func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
