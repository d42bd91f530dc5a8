import CLinuxIO
import Foundation
import Glibc
import Synchronization

/// External programs for the tests, started by `clinuxio_spawn_with` (every descriptor but the
/// three given closed in the child) and reaped with `waitpid` on their own pid.
///
/// Not Foundation's `Process`, for three reasons found the hard way: its `run()` lists
/// /proc/self/fd and crashes once a full run holds ~1360 descriptors; under many concurrent
/// spawns it can miss a child's exit, so `waitUntilExit` waits on a zombie forever (and when two
/// such waits sit on the two cooperative threads of a 2-core machine, every in-process server of
/// the run stops answering); and its pipes are not close-on-exec, so any other child spawned
/// meanwhile holds them open.
public enum Spawn {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: Data
        public let stderr: Data
    }

    /// How long output may stay open after the program exits: a daemon it started (gpg-agent,
    /// podman's pause process) may hold a copy of its stdout for as long as it lives.
    static let outputGrace: DispatchTimeInterval = .seconds(2)

    /// Runs a program to completion within `timeout` and collects its output and exit status: a
    /// program that hangs fails its test with what it printed (its process group is killed),
    /// instead of holding the whole run until CI's own limit ends it without a word.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]?, timeout: Duration = .seconds(300)
    ) throws -> Result {
        // Socket pairs rather than pipes: created close-on-exec in one step.
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &outPipe) == 0 else { throw SpawnError(what: "socketpair", code: errno) }
        guard socketpair(AF_UNIX, type, 0, &errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            throw SpawnError(what: "socketpair", code: errno)
        }
        let child: Spawned
        do {
            child = try start(executable, arguments, environment: environment, stdout: outPipe[1], stderr: errPipe[1], group: true)
        } catch {
            for fd in outPipe + errPipe { close(fd) }
            throw error
        }
        close(outPipe[1])
        close(errPipe[1])
        // Both outputs are drained at once, each on a thread, so a program filling one never
        // waits on the other.
        let stdout = Reader(outPipe[0])
        let stderr = Reader(errPipe[0])
        let status = child.wait(timeout: timeout)
        if status == nil {
            // The program and whatever it started.
            kill(-child.pid, SIGKILL)
            _ = child.wait(timeout: .seconds(10))
        }
        let grace = DispatchTime.now() + outputGrace
        let out = stdout.finish(by: grace)
        let err = stderr.finish(by: grace)
        guard let status else {
            let said = String(decoding: err.suffix(2000), as: UTF8.self)
            throw SpawnError(what: "\(executable) \(arguments.joined(separator: " ")) still running after \(timeout), killed; it printed: \(said)", code: ETIMEDOUT)
        }
        return Result(status: status, stdout: out, stderr: err)
    }

    /// Starts a program that runs beside the test (a server, a daemon): stdin on /dev/null, its
    /// output on the descriptors given (nil: /dev/null), `group`: a process group of its own.
    public static func start(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, stdout: Int32? = nil, stderr: Int32? = nil, group: Bool = false
    ) throws -> Spawned {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in env { free(pointer) }
        }
        var pid: Int32 = 0
        let failure = argv.withUnsafeBufferPointer { argv in
            env.withUnsafeBufferPointer { env in
                clinuxio_spawn_with(executable, argv.baseAddress, env.baseAddress, -1, stdout ?? -1, stderr ?? -1, group ? 1 : 0, &pid)
            }
        }
        guard failure == 0 else { throw SpawnError(what: "spawn \(executable)", code: failure) }
        return Spawned(pid: pid)
    }

    /// Reads one descriptor to its end on a thread of its own.
    private final class Reader: Sendable {
        private let fd: Int32
        private let data = Mutex(Data())
        private let done = DispatchSemaphore(value: 0)

        init(_ fd: Int32) {
            self.fd = fd
            Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 64 << 10)
                while true {
                    let n = read(fd, &buffer, buffer.count)
                    if n < 0, errno == EINTR { continue }
                    guard n > 0 else { break }
                    data.withLock { $0.append(buffer, count: n) }
                }
                done.signal()
            }.start()
        }

        /// What was read once the program has exited: to the end, or, when something the
        /// program left behind still holds the other end, what arrived within the grace.
        func finish(by grace: DispatchTime) -> Data {
            if done.wait(timeout: grace) == .timedOut {
                shutdown(fd, Int32(SHUT_RDWR))
                done.wait()
            }
            close(fd)
            return data.withLock { $0 }
        }
    }
}

/// A program started by `Spawn.start`, reaped by its own pid.
public final class Spawned: Sendable {
    public let pid: Int32
    private let exit = Mutex<Int32?>(nil)

    init(pid: Int32) { self.pid = pid }

    /// Whether it has not exited yet (reaping it if it has).
    public var isRunning: Bool { poll() == nil }

    /// The exit status as a shell reports it (128 + signal), once it has exited; nil before.
    public func poll() -> Int32? {
        exit.withLock { known in
            if let known { return known }
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            guard reaped == pid else { return nil }
            known = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            return known
        }
    }

    /// Waits up to `timeout` for the exit, on this thread (call it off the cooperative pool, or
    /// with a short timeout); its status, or nil if it still runs.
    public func wait(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = poll() { return status }
            if ContinuousClock.now >= deadline { return nil }
            usleep(10_000)
        }
    }

    /// Waits for the exit without holding a thread of the cooperative pool.
    public func exited(timeout: Duration = .seconds(60)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = poll() { return status }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return poll()
    }

    /// `signal` to it, then (unless it is SIGSTOP-like) its exit awaited up to 10 s, then SIGKILL.
    public func stop(_ signal: Int32 = SIGTERM) async {
        guard isRunning else { return }
        kill(pid, signal)
        if await exited(timeout: .seconds(10)) == nil {
            kill(pid, SIGKILL)
            _ = await exited(timeout: .seconds(10))
        }
    }

    public func signal(_ number: Int32) { if isRunning { kill(pid, number) } }
}

public struct SpawnError: Error, CustomStringConvertible {
    let what: String
    let code: Int32
    public var description: String { code == ETIMEDOUT ? what : "\(what): \(String(cString: strerror(code)))" }
}
