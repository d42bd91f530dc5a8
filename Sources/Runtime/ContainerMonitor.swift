import CLinuxIO
import Foundation

/// The process that owns a detached container for as long as it lives (`berth run -d`,
/// `berth start`): started by the CLI in a session of its own, it creates and starts the
/// container through the runtime, owns its stdout and stderr and writes them to the k8s-file log,
/// reaps its PID 1 (as the child subreaper the runtime's exit leaves it to) and records the exit
/// status and time, and restarts it under its restart policy with docker's backoff.
///
/// Why not conmon: the restart policy, its backoff and `--rm` live here instead of in an exit
/// command that re-runs the CLI for every exit; the same code drives crun inside the private mount
/// namespace this host's hybrid cgroups need (the runtime is spawned as `berth run` spawns it);
/// and the state is the one record the other verbs read. The cost is memory: 30 MiB resident, 3 of
/// them its own (the binary's pages are shared by every monitor), against conmon's 2 (README).
public struct ContainerMonitor {
    let containers: Containers
    let id: String
    let state: String

    public init(store: LocalStore, id: String) {
        containers = Containers(store: store)
        self.id = id
        state = store.runtimeState
    }

    /// Runs until the container has exited for good; the process's exit status.
    public func run() -> Int32 {
        let handshake = MonitorHandshake.inherited()
        guard clinuxio_become_subreaper() == 0 else { return 1 }
        for number in [SIGPIPE, SIGHUP, SIGINT] { signal(number, SIG_IGN) }
        // The CLI may still be preparing the bundle: nothing of the container is touched before
        // it says go (when it gives up instead, it removes the container itself).
        if let handshake, !handshake.awaitRelease() { return 0 }
        // Whatever happens below, the CLI waiting for the container hears of it.
        defer { handshake?.answer() }
        guard var record = containers.load(id) else { return 2 }
        containers.reserve(id).fill()
        do {
            let output = try OutputPipes()
            var log = try KubeLogWriter(path: containers.logPath(id), maxSize: record.logMaxSize)
            defer { log.close() }
            let runtime = try containers.runtime(of: record)
            let policy = (try? RestartPolicy(parsing: record.restartPolicy ?? "no")) ?? .no
            // Bound before the first start, held across restarts.
            let forwarder = try PortForwarder(record.ports ?? [])
            record.ports = record.ports == nil ? nil : forwarder.mappings
            var streak = 0
            while true {
                let began = ContinuousClock.now
                guard let status = try runOnce(&record, runtime: runtime, output: output, log: &log, forwarder: forwarder, handshake: handshake) else { break }
                forwarder.forward(to: 0)
                let restarts = record.restartCount ?? 0
                let again = !stopRequested && policy.restarts(after: status, restarts: restarts)
                record.status = again ? "restarting" : "exited"
                record.exitCode = status
                record.finishedAt = Date()
                record.containerPid = nil
                // `stop` and `wait` learn of the exit now; the runtime's state and the mount are
                // cleaned up after (`start` and `rm` wait for this monitor to be gone).
                try containers.save(record)
                runtime.delete(id: id, state: state)
                guard again else { break }
                streak = ContinuousClock.now - began >= .seconds(10) ? 0 : streak
                guard waitOut(RestartPolicy.backoff(streak: streak)) else { break }
                streak += 1
                record.restartCount = restarts + 1
            }
        } catch {
            record.error = "\(error)"
        }
        if record.status != "exited" {
            // It never ran (or the monitor failed): what the runtime has of it goes.
            runtime(record).map { $0.delete(id: id, state: state) }
        }
        record.markEnded()
        OverlayMount.unmount("\(containers.directory(id))/bundle/rootfs")
        if record.autoRemove == true, record.error == nil {
            try? containers.remove(record)
        } else {
            try? containers.save(record)
        }
        return 0
    }

    private func runtime(_ record: ContainerRecord) -> OCIRuntime? { try? containers.runtime(of: record) }

    private var stopRequested: Bool { FileManager.default.fileExists(atPath: containers.stopMarker(id)) }

    /// Sleeps `delay` in slices, false as soon as a stop is requested.
    private func waitOut(_ delay: Duration) -> Bool {
        let end = ContinuousClock.now + delay
        while ContinuousClock.now < end {
            if stopRequested { return false }
            usleep(20_000)
        }
        return !stopRequested
    }

    /// Creates, starts and follows the container once; its exit status, or nil (with the
    /// record's error set) when it could not be started.
    private func runOnce(
        _ record: inout ContainerRecord, runtime: OCIRuntime, output: OutputPipes, log: inout KubeLogWriter, forwarder: PortForwarder,
        handshake: MonitorHandshake?
    ) throws -> Int32? {
        let directory = containers.directory(id)
        let pidFile = "\(directory)/pid"
        let runtimeLog = "\(directory)/runtime.log"
        unlink(pidFile)
        unlink(runtimeLog)
        // State left by a runtime that was interrupted (a start costs one runtime process less
        // when there is none).
        if FileManager.default.fileExists(atPath: "\(state)/\(id)") { runtime.delete(id: id, state: state) }
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        // The runtime's messages go to its own log, not the container's output.
        let global = ["--log", runtimeLog, "--log-format", "json"]
        // With slirp4netns the network must be attached between the runtime's create and start;
        // otherwise one `run --detach` does both (one runtime process less to wait for).
        let slirpNetwork: SlirpNetwork? = if case .slirp(let network) = try RunOptions.Network(parsing: record.network ?? "none") { network } else { nil }
        let verb = slirpNetwork == nil ? ["run", "--detach"] : ["create"]
        let created = try runtime.start(global + verb + ["--bundle", "\(directory)/bundle", "--pid-file", pidFile, id], state: state).waitBlocking()
        guard created == 0, let pid = PidFile.read(pidFile) else {
            record.error = Self.lastError(runtimeLog) ?? "\(runtime.name) \(verb[0]) failed (status \(created))"
            return nil
        }
        var slirp: ChildProcess?
        defer { slirp.map(SlirpNetwork.detach) }
        if let slirpNetwork {
            do { slirp = try slirpNetwork.attach(to: pid) } catch {
                kill(pid, SIGKILL)
                record.error = "\(error)"
                return nil
            }
            guard try runtime.start(global + ["start", id], state: state).waitBlocking() == 0 else {
                kill(pid, SIGKILL)
                record.error = Self.lastError(runtimeLog) ?? "\(runtime.name) start failed"
                return nil
            }
        }
        forwarder.forward(to: pid)
        record.status = "running"
        record.containerPid = pid
        record.pid = getpid()
        record.startedAt = Date()
        record.finishedAt = nil
        record.error = nil
        try containers.save(record)
        handshake?.answer()
        // Woken by output or by PID 1's exit (a pidfd; without one, a 200 ms poll finds it).
        let exited = clinuxio_pidfd_open(pid)
        defer { if exited >= 0 { close(exited) } }
        while true {
            if output.copy(to: &log, waitingUpTo: exited >= 0 ? 1000 : 200, alsoWaitingFor: exited) {
                // `logs` and `inspect` say so from the moment output is lost and once it is kept again.
                record.logLoss = log.loss
                try? containers.save(record)
            }
            if let status = Self.reap(pid) {
                output.copy(to: &log, waitingUpTo: 0)
                log.endLoss()
                record.logLoss = log.loss
                return status
            }
        }
    }

    /// Reaps every exited child (orphans of the container come here too, as the subreaper's);
    /// the status of `pid` once it is among them.
    private static func reap(_ pid: Int32) -> Int32? {
        var found: Int32?
        while true {
            var status: Int32 = 0
            let reaped = waitpid(-1, &status, WNOHANG)
            if reaped <= 0 { return found }
            if reaped == pid { found = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
        }
    }

    /// The last error the runtime logged (`--log-format json`: one object per line with `msg`).
    static func lastError(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n").reversed() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let message = object["msg"] as? String else { continue }
            if (object["level"] as? String).map({ ["error", "fatal", "panic"].contains($0) }) ?? true { return message }
        }
        return nil
    }
}

/// The container's stdout and stderr: pipes whose write ends become this process's own 1 and 2
/// (the runtime passes them to the container), read without blocking into the log.
struct OutputPipes {
    let stdout: Int32
    let stderr: Int32

    init() throws {
        var out: [Int32] = [0, 0]
        var err: [Int32] = [0, 0]
        guard pipe(&out) == 0, pipe(&err) == 0 else { throw RuntimeError.io("pipe", String(cString: strerror(errno))) }
        dup2(out[1], 1)
        dup2(err[1], 2)
        close(out[1])
        close(err[1])
        for fd in [out[0], err[0]] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        stdout = out[0]
        stderr = err[0]
    }

    /// Waits up to `milliseconds` for output (or for `other` to be readable), then copies all
    /// there is to the log.
    /// True when a loss of output began or ended (`KubeLogWriter.write`).
    @discardableResult
    func copy(to log: inout KubeLogWriter, waitingUpTo milliseconds: Int32, alsoWaitingFor other: Int32 = -1) -> Bool {
        var fds = [
            pollfd(fd: stdout, events: Int16(POLLIN), revents: 0), pollfd(fd: stderr, events: Int16(POLLIN), revents: 0),
            pollfd(fd: other, events: Int16(POLLIN), revents: 0),
        ]
        _ = poll(&fds, 3, milliseconds)
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var changed = false
        for (fd, stream) in [(stdout, KubeLog.Stream.stdout), (stderr, .stderr)] {
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { break }
                if log.write(buffer[0..<n], stream: stream) { changed = true }
            }
        }
        return changed
    }
}
