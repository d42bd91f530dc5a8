import Foundation

/// What several targets need: async code run to completion from libFuzzer's thread, a scratch
/// directory for parsers that read files, and the fixtures beside this package.
enum Harness {
    /// Runs `body` on the cooperative pool and waits: libFuzzer calls targets synchronously, from
    /// its own thread, which may block.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let result = Box<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            result.value = await body()
            done.signal()
        }
        done.wait()
        return result.value!
    }

    private final class Box<T>: @unchecked Sendable {
        // Written by the task before it signals, read after the wait: ordered by the semaphore.
        var value: T?
    }

    /// A directory of this process's own (the same few file names are rewritten), removed when
    /// libFuzzer exits.
    static let scratch: String = {
        let path = scratchPath()
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: scratchPath()) }
        return path
    }()

    private static func scratchPath() -> String { NSTemporaryDirectory() + "berth-fuzz-\(getpid())" }

    /// Writes `bytes` to `name` in the scratch directory and returns its path.
    static func file(_ name: String, _ bytes: [UInt8]) -> String {
        let path = "\(scratch)/\(name)"
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Fuzz/Fixtures: keys, certificates and credentials the targets check inputs against.
    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fixtures/\(name)").standardized.path
    }

    /// The repository's own test data (signatures, keys).
    static func testdata(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../testdata/\(name)").standardized.path
    }
}
