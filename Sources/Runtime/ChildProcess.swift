import CLinuxIO
import Foundation

/// A program started with posix_spawn, sharing this process's stdio. Foundation's `Process`
/// closes every descriptor up to the open-files limit one by one before exec, which costs tens
/// of milliseconds per run under a high limit; here the C library closes them in one call, and
/// signal masks and dispositions are reset for the child.
struct ChildProcess: Sendable {
    let pid: Int32

    static func spawn(_ path: String, _ arguments: [String]) throws -> ChildProcess {
        let argv = ([path] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid: Int32 = 0
        let result = (argv + [nil]).withUnsafeBufferPointer { clinuxio_spawn(path, $0.baseAddress, &pid) }
        guard result == 0 else { throw RuntimeError.runtime("cannot start \(path): \(String(cString: strerror(result)))") }
        return ChildProcess(pid: pid)
    }

    /// Waits for the exit (off the cooperative pool); the status as a shell reports it, 128 +
    /// the signal when it was killed by one.
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
                let signal = status & 0x7f
                continuation.resume(returning: signal == 0 ? (status >> 8) & 0xff : 128 + signal)
            }
        }
    }
}
