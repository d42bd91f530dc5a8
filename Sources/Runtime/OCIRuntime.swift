import CLinuxIO
import Foundation
import Synchronization

/// An OCI runtime binary (crun or runc) and how to invoke it: its state under Berth's root
/// (`--root`), and on hosts with hybrid cgroups, crun inside a private mount namespace where
/// the cgroup2 mount is hidden (crun 1.8 refuses hybrid hierarchies; runc copes with them).
public struct OCIRuntime: Sendable {
    public let path: String
    public let name: String

    /// `requested` is a name on PATH or a path; nil picks crun, then runc.
    public static func find(_ requested: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(RuntimeError) -> OCIRuntime {
        let candidates = requested.map { [$0] } ?? ["crun", "runc"]
        let directories = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") .split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        for candidate in candidates {
            if candidate.contains("/") {
                if FileManager.default.isExecutableFile(atPath: candidate) { return OCIRuntime(path: candidate, name: (candidate as NSString).lastPathComponent) }
                continue
            }
            for directory in directories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(candidate)") {
                return OCIRuntime(path: "\(directory)/\(candidate)", name: candidate)
            }
        }
        if let requested { throw .notFound("OCI runtime '\(requested)' not found") }
        throw .notFound("no OCI runtime found: install one (apt-get install crun, or runc)")
    }

    /// Whether `/sys/fs/cgroup` mixes v1 controllers with a cgroup2 tree that holds controllers.
    static var hybridCgroups: Bool {
        guard let controllers = try? String(contentsOfFile: "/sys/fs/cgroup/unified/cgroup.controllers", encoding: .utf8) else { return false }
        return !controllers.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// The cgroup2 mount crun must not see on a hybrid-cgroup host (nil: run the runtime as is).
    var hiddenMount: String? { name == "crun" && Self.hybridCgroups ? "/sys/fs/cgroup/unified" : nil }

    /// Starts the runtime with `arguments` after the global `--root`, in a private mount
    /// namespace without the hidden mount where needed (a C helper does that between fork and
    /// exec: no `unshare` or shell in between, and signals reach crun itself).
    func start(_ arguments: [String], state: String, quiet: Bool = false) throws -> ChildProcess {
        try ChildProcess.spawn(path, ["--root", state] + arguments, hiding: hiddenMount, quiet: quiet)
    }

    /// Runs the container in the foreground with this process's stdio; SIGINT and SIGTERM are
    /// passed on, and a container still running `stopTimeout` after one is killed. Returns its
    /// exit status (128 + signal when it was killed).
    public func run(bundle: String, id: String, state: String, pidFile: String, stopTimeout: Duration = .seconds(10)) async throws -> Int32 {
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        return try await foreground(["run", "--bundle", bundle, "--pid-file", pidFile, id], state: state) {
            // A PID 1 without a handler ignores SIGTERM: kill it once the timeout has passed.
            try await Task.sleep(for: stopTimeout)
            try? control(["kill", id, "KILL"], state: state)
        }
    }

    /// As `run`, in two steps with `prepare` between them, for what must be ready before the
    /// container's process starts (its network): `create` with this process's stdio, which the
    /// container inherits, then `start`; this process, as the child subreaper, reaps PID 1.
    public func run(
        bundle: String, id: String, state: String, pidFile: String, stopTimeout: Duration = .seconds(10), preparing prepare: (Int32) throws -> Void
    ) async throws -> Int32 {
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        guard clinuxio_become_subreaper() == 0 else { throw RuntimeError.runtime("cannot become the child subreaper: \(String(cString: strerror(errno)))") }
        return try await withSignalsForwarded(afterSignal: {
            try await Task.sleep(for: stopTimeout)
            try? control(["kill", id, "KILL"], state: state)
        }) { forward in
            let created = try await start(["create", "--bundle", bundle, "--pid-file", pidFile, id], state: state).wait()
            guard created == 0, let pid = PidFile.read(pidFile) else {
                delete(id: id, state: state)
                throw RuntimeError.runtime("\(name) create failed (status \(created))")
            }
            let container = ChildProcess(pid: pid)
            do {
                try prepare(pid)
                guard try await start(["start", id], state: state).wait() == 0 else { throw RuntimeError.runtime("\(name) start failed") }
            } catch {
                kill(pid, SIGKILL)
                _ = await container.wait()
                delete(id: id, state: state)
                throw error
            }
            forward(pid)
            let status = await container.wait()
            delete(id: id, state: state)
            return status
        }
    }

    /// Runs a runtime command (`run`, `exec`) with this process's stdio, SIGINT and SIGTERM
    /// passed on to it; `afterSignal` runs once one has been (a deadline for the container).
    func foreground(_ arguments: [String], state: String, afterSignal: @escaping @Sendable () async throws -> Void = {}) async throws -> Int32 {
        try await withSignalsForwarded(afterSignal: afterSignal) { forward in
            let child = try start(arguments, state: state)
            forward(child.pid)
            return await child.wait()
        }
    }

    /// Runs `body` with SIGINT and SIGTERM caught and passed on to the process `body` names
    /// through its argument (one that arrived before is passed on then); `afterSignal` runs once
    /// one has arrived.
    private func withSignalsForwarded(
        afterSignal: @escaping @Sendable () async throws -> Void, _ body: (_ forward: (Int32) -> Void) async throws -> Int32
    ) async throws -> Int32 {
        // A plain signal handler rather than a dispatch source: a parent may have left SIGTERM
        // ignored or blocked (test runners do), and a handler set here works either way.
        SignalForwarding.received.store(0, ordering: .relaxed)
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        signal(SIGINT, SignalForwarding.handler)
        signal(SIGTERM, SignalForwarding.handler)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        defer {
            SignalForwarding.target.store(0, ordering: .relaxed)
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
        }
        let watchdog = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(100))
                guard SignalForwarding.received.load(ordering: .relaxed) != 0 else { continue }
                try await afterSignal()
                return
            }
        }
        defer { watchdog.cancel() }
        return try await body { pid in
            SignalForwarding.target.store(pid, ordering: .relaxed)
            let early = SignalForwarding.received.load(ordering: .relaxed)
            if early != 0 { kill(pid, early) }
        }
    }

    /// `kill`, `delete --force`…: short runtime commands whose output is not the user's.
    func control(_ arguments: [String], state: String) throws {
        _ = try start(arguments, state: state, quiet: true).waitBlocking()
    }

    public func delete(id: String, state: String) {
        try? control(["delete", "--force", id], state: state)
    }
}

/// Where SIGINT/SIGTERM go while a container runs: the runtime process, which passes them to
/// the container's PID 1. Only async-signal-safe work happens in the handler.
enum SignalForwarding {
    static let target = Atomic<Int32>(0)
    static let received = Atomic<Int32>(0)

    static let handler: @convention(c) (Int32) -> Void = { number in
        received.store(number, ordering: .relaxed)
        let pid = target.load(ordering: .relaxed)
        if pid > 0 { kill(pid, number) }
    }
}
