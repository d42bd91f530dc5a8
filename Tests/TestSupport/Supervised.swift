import Foundation

/// A server run by a Python script that prints one line (its port) once it is ready and stops the
/// server when its stdin closes. The test process holds the pipe, so the server goes away with it
/// however the process ends.
public final class Supervised: Sendable {
    private let process: Process
    private let stdin: Pipe
    /// The first line the script printed (empty when it exited first).
    public let firstLine: String

    public init(python script: String, arguments: [String] = []) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        stdin = Pipe()
        let output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data([0x0A]) { line.append(byte) }
        firstLine = String(decoding: line, as: UTF8.self)
    }
}
