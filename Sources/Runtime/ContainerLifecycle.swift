import CLinuxIO
import Foundation

/// What `start`, `stop`, `kill`, `wait`, `rm -f` and `restart` do to a container, with podman's
/// semantics; the container's monitor (`ContainerMonitor`) notices the exits they cause.
public struct ContainerLifecycle: Sendable {
    public let containers: Containers
    let state: String
    /// How the CLI starts a monitor for a container id (its own executable and arguments).
    let monitorCommand: @Sendable (String) -> (path: String, arguments: [String])

    public init(store: LocalStore, monitorCommand: @escaping @Sendable (String) -> (path: String, arguments: [String])) {
        containers = Containers(store: store)
        state = store.runtimeState
        self.monitorCommand = monitorCommand
    }

    /// A monitor for container `id` (by default one still to be made, its id chosen now),
    /// started now and waiting to be released by `launch`: its start-up overlaps whatever the
    /// caller still does before (finding the image, preparing the bundle).
    public func startMonitor(for id: String = Containers.newID()) throws -> PendingMonitor {
        let (path, arguments) = monitorCommand(id)
        return try PendingMonitor(id: id, path: path, arguments: arguments)
    }

    /// Releases a monitor for a prepared container (`monitor`, or one started now) and waits
    /// until the container runs; throws what the runtime said when it could not start.
    public func launch(_ record: ContainerRecord, monitor: PendingMonitor? = nil) async throws -> ContainerRecord {
        unlink(containers.stopMarker(record.id))
        var record = record
        record.detached = true
        record.status = "created"
        record.error = nil
        try containers.save(record)
        let monitor = try monitor ?? startMonitor(for: record.id)
        monitor.release()
        let answered = await monitor.answered(within: .seconds(60))
        let current = containers.load(record.id)
        if let current, current.status != "created" {
            if current.status == "exited", let error = current.error { throw RuntimeError.runtime(error) }
            return current
        }
        guard answered else { throw RuntimeError.runtime("container \(record.name) did not start within 60 s") }
        // Answered with the record unchanged: the monitor ended, and as our child its status says why.
        let status = monitor.process.waitBlocking()
        throw RuntimeError.runtime(current?.error ?? "the container's monitor exited before the container started (status \(status))")
    }

    /// `berth start`: a container that is not running again, on the same writable layer
    /// (`mounted`: its overlay is mounted already, as `run -d` leaves it; `monitor`: one started
    /// ahead by `startMonitor`).
    public func start(_ record: ContainerRecord, mounted: Bool = false, monitor: PendingMonitor? = nil) async throws -> ContainerRecord {
        guard !record.isActive else { return record }
        containers.waitForMonitor(record)
        let rootfs = "\(containers.directory(record.id))/bundle/rootfs"
        if let layers = record.lowerDirs, !mounted {
            OverlayMount.unmount(rootfs)
            try OverlayMount.mount(layers: layers, container: containers.directory(record.id), rootfs: rootfs, again: true)
        }
        do {
            return try await launch(record, monitor: monitor)
        } catch {
            if record.lowerDirs != nil { OverlayMount.unmount(rootfs) }
            throw error
        }
    }

    /// Sends `signal` to PID 1 and, after `timeout` without an exit, SIGKILL; the container stays
    /// down (its restart policy does not apply). True when it had to be killed.
    @discardableResult
    public func stop(_ record: ContainerRecord, signal: Int32? = nil, timeout: Duration? = nil) async throws -> Bool {
        if record.effectiveStatus == "orphaned" { return try await stopOrphan(record) }
        guard record.isActive else { return false }
        try markStopped(record)
        guard record.status == "running" else {
            // Waiting out a restart's backoff: the marker is enough.
            _ = await waitForExit(record.id, within: .seconds(5))
            return false
        }
        let first = signal ?? record.stopSignal.flatMap(Signals.number) ?? SIGTERM
        let grace = timeout ?? .seconds(record.stopTimeout ?? 10)
        if grace > .zero {
            try send(first, to: record)
            if await waitForExit(record.id, within: grace) { return false }
        }
        try send(SIGKILL, to: record)
        guard await waitForExit(record.id, within: .seconds(5)) else {
            throw RuntimeError.runtime("container \(record.name) did not exit after SIGKILL")
        }
        return true
    }

    /// A container whose monitor died (SIGKILLed, out of memory): killed through the runtime
    /// and its state cleaned up here, its exit status recorded as unknown.
    private func stopOrphan(_ record: ContainerRecord) async throws -> Bool {
        try send(SIGKILL, to: record)
        let deadline = ContinuousClock.now + .seconds(10)
        while record.containerAlive, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        guard !record.containerAlive else { throw RuntimeError.runtime("container \(record.name) did not exit after SIGKILL") }
        try containers.runtime(of: record).delete(id: record.id, state: state)
        OverlayMount.unmount("\(containers.directory(record.id))/bundle/rootfs")
        var ended = containers.load(record.id) ?? record
        ended.exitCode = nil
        ended.finishedAt = Date()
        ended.markEnded()
        ended.error = "its monitor died; the container was killed and its exit status is unknown"
        try containers.save(ended)
        return true
    }

    /// `berth kill`: a signal to PID 1, without waiting; after it the container stays down.
    public func kill(_ record: ContainerRecord, signal: Int32) throws {
        guard record.isActive, record.status == "running" else { throw RuntimeError.invalidArgument("container \(record.name) is not running") }
        try markStopped(record)
        try send(signal, to: record)
    }

    /// Tells the monitor the container is to stay down once it exits.
    private func markStopped(_ record: ContainerRecord) throws {
        let fd = open(containers.stopMarker(record.id), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw RuntimeError.io(containers.stopMarker(record.id), String(cString: strerror(errno))) }
        close(fd)
    }

    private func send(_ signal: Int32, to record: ContainerRecord) throws {
        if Self.signalDirectly(signal, record: containers.load(record.id) ?? record, reload: { containers.load(record.id) }) { return }
        let runtime = try containers.runtime(of: record)
        // An exit between our check and the signal is not a failure ("container not running").
        _ = try runtime.start(["kill", record.id, "\(signal)"], state: state, quiet: true).waitBlocking()
    }

    /// `signal` straight to the container's PID 1 through a pidfd, as `runc kill` would send it,
    /// without starting the runtime (20–50 ms of `stop`). The pidfd is opened first and the record
    /// read again after, so a PID 1 reaped in between (its pid free for reuse) is never signalled.
    /// False when the runtime should do it: no pid on record, an old kernel, or no permission
    /// (rootless, to a process of a subordinate uid outside berth's namespace).
    static func signalDirectly(_ signal: Int32, record: ContainerRecord, reload: () -> ContainerRecord?) -> Bool {
        guard let pid = record.containerPid, pid > 0 else { return false }
        let fd = clinuxio_pidfd_open(pid)
        guard fd >= 0 else { return errno == ESRCH }
        defer { close(fd) }
        guard let current = reload(), current.containerPid == pid, current.status == "running" else { return true }
        if clinuxio_pidfd_send_signal(fd, signal) == 0 { return true }
        return errno == ESRCH
    }

    /// Waits until the container has exited for good (no restart pending) and returns its status.
    public func wait(_ record: ContainerRecord) async throws -> Int32 {
        while true {
            guard let current = containers.load(record.id) else { throw RuntimeError.notFound("container \(record.name) was removed") }
            if !current.isActive, current.effectiveStatus == "exited" || current.status == "created" { return current.exitCode ?? -1 }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// True once the monitor has recorded the exit, within `limit`.
    func waitForExit(_ id: String, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            guard let current = containers.load(id) else { return true }
            if !current.isActive { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    /// `berth rm`: with `force`, a running container is stopped first (its stop signal and
    /// `timeout`, then SIGKILL; at once when zero).
    public func remove(_ record: ContainerRecord, force: Bool, timeout: Duration = .zero) async throws {
        if record.isActive || record.effectiveStatus == "orphaned" {
            guard force else { throw RuntimeError.running("container \(record.name) is running (berth stop it, or berth rm -f)") }
            try await stop(record, timeout: timeout)
        }
        try containers.remove(containers.load(record.id) ?? record)
    }
}

/// Signal names and numbers as `kill -s`, `--stop-signal` and the image's StopSignal give them.
public enum Signals {
    static let names: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12,
        "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23,
        "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
    ]

    /// `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN+3`; nil for anything else.
    public static func number(_ text: String) -> Int32? {
        if let value = Int32(text) { return (1...64).contains(value) ? value : nil }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if let value = names[name] { return value }
        if name == "RTMIN" { return 34 }
        if name == "RTMAX" { return 64 }
        if name.hasPrefix("RTMIN+"), let offset = Int32(name.dropFirst(6)), (0...30).contains(offset) { return 34 + offset }
        return nil
    }
}
