import CLinuxIO
import Foundation

/// A program started by `clinuxio_spawn` (clone + exec in C, optionally entering a private mount
/// namespace first), sharing this process's stdio. Foundation's `Process` closes every
/// descriptor up to the open-files limit one by one before exec, which costs tens of
/// milliseconds per run under a high limit; here one `close_range` does it, and signal masks and
/// dispositions are reset for the child.
struct ChildProcess: Sendable {
    let pid: Int32

    /// With `hiding`, the child runs in a private mount namespace where that mount is gone;
    /// `quiet` sends its stdout and stderr to /dev/null; `detached` starts it in a session of its
    /// own with no stdio (it outlives this process); `passing` becomes the child's descriptor 3.
    static func spawn(
        _ path: String, _ arguments: [String], hiding: String? = nil, quiet: Bool = false, detached: Bool = false, passing: Int32? = nil
    ) throws -> ChildProcess {
        let argv = ([path] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid: Int32 = 0
        let flags = (quiet ? CLINUXIO_SPAWN_QUIET : 0) | (detached ? CLINUXIO_SPAWN_DETACH : 0)
        let result = (argv + [nil]).withUnsafeBufferPointer { clinuxio_spawn(path, $0.baseAddress, hiding, flags, passing ?? -1, &pid) }
        guard result == 0 else { throw RuntimeError.runtime("cannot start \(path): \(String(cString: strerror(result)))") }
        return ChildProcess(pid: pid)
    }

    /// Waits for the exit (off the cooperative pool); the status as a shell reports it, 128 +
    /// the signal when it was killed by one.
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: waitBlocking()) }
        }
    }

    /// Waits for the exit on this thread: for short commands only.
    func waitBlocking() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
