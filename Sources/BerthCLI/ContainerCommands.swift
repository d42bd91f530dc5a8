import ArgumentParser
import Foundation
import Runtime

/// The verbs for containers that outlive one command (podman's names, flags and exit statuses):
/// logs, stop, kill, start, restart, wait, exec, and `container inspect|prune`.

extension StoreFlags {
    /// Lifecycle operations whose monitors are this executable's hidden `container monitor`.
    var lifecycle: ContainerLifecycle {
        let root = store.root
        return ContainerLifecycle(store: store) { id in
            (Self.executable, ContainerMonitorCommand.arguments(root: root, id: id))
        }
    }

    /// This program, for the monitors it starts (they must be the same build).
    static var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    func container(_ nameOrID: String) throws -> ContainerRecord {
        do { return try Containers(store: store).resolve(nameOrID) } catch { throw CLIError(error.description, status: 125) }
    }

    /// Runs `body` for each container named, in order, stopping at the first failure (125);
    /// then prints the name as given, as podman does. Every name is looked up first, as podman
    /// does too: a typo among them leaves every container as it was.
    func each(_ names: [String], _ body: (ContainerRecord) async throws -> Void) async throws {
        for (name, record) in zip(names, try names.map(container)) {
            try await containerFailure { try await body(record) }
            print(name)
        }
    }
}

/// A runtime failure as the container verbs report it: podman's 125 for the tool's own failures.
func containerFailure<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let error as RuntimeError {
        throw CLIError(error.description, status: 125)
    } catch let error as ExitStatusError {
        throw CLIError(error.message, status: error.status)
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a detached container's output (its k8s-file log)")
    @Flag(name: [.short, .customLong("follow")], help: "Keep printing output as it comes, until the container exits") var follow = false
    @Option(name: .customLong("tail"), help: "Only the last N lines (-1: all)") var tail = -1
    @Option(name: .customLong("since"), help: "Only output since a time (RFC 3339) or a duration ago (10s, 5m, 1h30m)") var since: String?
    @Flag(name: [.short, .customLong("timestamps")], help: "Prefix each line with its time") var timestamps = false
    @OptionGroup var storage: StoreFlags
    @Argument(help: "CONTAINER (name or ID)") var container: String

    func run() async throws {
        let record = try storage.container(container)
        let cutoff = try since.map { text -> Date in
            guard let date = Timestamps.parse(text) ?? Durations.parse(text).map({ Date().addingTimeInterval(-$0) }) else {
                throw CLIError("invalid --since '\(text.prefix(100))' (an RFC 3339 time, or a duration such as 10m)", status: 125)
            }
            return date
        }
        let containers = Containers(store: storage.store)
        let path = containers.logPath(record.id)
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIError("container \(record.name) has no log: it ran in the foreground (berth run -d keeps one)", status: 125)
        }
        var follower = LogFollower(path: path)
        let printer = LogPrinter(timestamps: timestamps, since: cutoff)
        let existing = follower.read()
        printer.print(tail >= 0 ? Array(existing.suffix(tail)) : existing)
        guard follow else {
            printer.print(follower.rest())
            warnOfLoss(containers.load(record.id) ?? record)
            return
        }
        while true {
            let current = containers.load(record.id)
            printer.print(follower.read())
            // Read once more after the exit is recorded: the monitor has drained the output by then.
            if !(current?.isActive ?? false) {
                printer.print(follower.read() + follower.rest())
                warnOfLoss(current ?? record)
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// What is printed is not all the container wrote: one line on stderr says how much is missing.
    private func warnOfLoss(_ record: ContainerRecord) {
        guard let loss = record.logLoss else { return }
        FileHandle.standardError.write(Data("berth logs: warning: \(loss.describe(record.name))\n".utf8))
    }
}

/// Reads a k8s-file log from where it left off; a log that shrank (its size cap started it
/// over) is read again from its start.
struct LogFollower {
    let path: String
    var offset: Int64 = 0
    var partial: [UInt8] = []
    var reader = KubeLog.Reader()

    init(path: String) { self.path = path }

    mutating func read() -> [KubeLog.Line] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = Int64((try? handle.seekToEnd()) ?? 0)
        if size < offset {
            offset = 0
            partial = []
        }
        guard size > offset else { return [] }
        try? handle.seek(toOffset: UInt64(offset))
        let data = (try? handle.read(upToCount: Int(size - offset))) ?? Data()
        offset += Int64(data.count)
        partial += data
        var lines: [KubeLog.Line] = []
        while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
            lines += reader.lines(in: partial[..<newline])
            partial.removeSubrange(...newline)
        }
        return lines
    }

    /// What is left when the log is read to its end: lines without their newline yet.
    mutating func rest() -> [KubeLog.Line] { reader.flush() }
}

struct LogPrinter {
    let timestamps: Bool
    let since: Date?

    func print(_ lines: [KubeLog.Line]) {
        for line in lines {
            if let since, let date = line.date, date < since { continue }
            var bytes: [UInt8] = []
            if timestamps { bytes += Array(((line.date.map(Timestamps.rfc3339)) ?? line.timestamp).utf8) + [UInt8(ascii: " ")] }
            bytes += line.text
            if line.complete { bytes.append(UInt8(ascii: "\n")) }
            let handle = line.stream == .stdout ? FileHandle.standardOutput : FileHandle.standardError
            try? handle.write(contentsOf: Data(bytes))
        }
    }
}

struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop running containers: the stop signal, then SIGKILL after the timeout")
    @Option(name: [.short, .customLong("time")], help: "Seconds to wait before SIGKILL (default: the container's --stop-timeout, 10)") var time: Int?
    @OptionGroup var storage: StoreFlags
    @Argument(help: "CONTAINER (name or ID)") var containers: [String]

    func run() async throws {
        if let time, time < 0 { throw CLIError("--time must not be negative", status: 125) }
        try await storage.each(containers) { record in
            let killed = try await storage.lifecycle.stop(record, timeout: time.map { .seconds($0) })
            if killed, time != 0 {
                let signal = record.stopSignal ?? "SIGTERM"
                Console.err("StopSignal \(signal) failed to stop container \(record.name) in \(time ?? record.stopTimeout ?? 10) seconds, resorting to SIGKILL\n")
            }
        }
    }
}

struct Kill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Send a signal to running containers' PID 1 (SIGKILL by default)")
    @Option(name: [.short, .customLong("signal")], help: "Signal name or number") var signal = "KILL"
    @OptionGroup var storage: StoreFlags
    @Argument(help: "CONTAINER (name or ID)") var containers: [String]

    func run() async throws {
        guard let number = Signals.number(signal) else { throw CLIError("invalid signal '\(signal.prefix(40))'", status: 125) }
        try await storage.each(containers) { record in
            try storage.lifecycle.kill(record, signal: number)
        }
    }
}

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start stopped containers again, on the same writable layer")
    @OptionGroup var storage: StoreFlags
    @Argument(help: "CONTAINER (name or ID)") var containers: [String]

    func run() async throws {
        try await storage.each(containers) { record in
            _ = try await storage.lifecycle.start(record)
        }
    }
}

struct Restart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Stop, then start containers")
    @Option(name: [.short, .customLong("time")], help: "Seconds to wait before SIGKILL") var time: Int?
    @OptionGroup var storage: StoreFlags
    @Argument(help: "CONTAINER (name or ID)") var containers: [String]

    func run() async throws {
        let lifecycle = storage.lifecycle
        try await storage.each(containers) { record in
            try await lifecycle.stop(record, timeout: time.map { .seconds($0) })
            _ = try await lifecycle.start(try storage.container(record.id))
        }
    }
}

struct Wait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wait", abstract: "Wait until containers exit and print their exit codes")
    @OptionGroup var storage: StoreFlags
    @Argument(help: "CONTAINER (name or ID)") var containers: [String]

    func run() async throws {
        for record in try containers.map(storage.container) {
            print(try await containerFailure { try await storage.lifecycle.wait(record) })
        }
    }
}

struct Exec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a command in a running container",
        discussion: "The command's exit status is berth's; 125: berth failed; 126: not executable; 127: not found.")
    @Flag(name: [.short, .customLong("interactive")], help: "Keep stdin open (it always is)") var interactive = false
    @Flag(name: [.short, .customLong("tty")], help: "Allocate a terminal (when stdin is one)") var tty = false
    @Flag(name: [.short, .customLong("detach")], help: "Run in the background") var detach = false
    @Option(name: [.short, .customLong("env")], help: "Set an environment variable (KEY=VALUE)") var env: [String] = []
    @Option(name: [.short, .customLong("user")], help: "USER[:GROUP] in the container") var user: String?
    @Option(name: [.short, .customLong("workdir")], help: "Working directory in the container") var workdir: String?
    @Flag(name: .customLong("privileged"), help: "Every capability for this process") var privileged = false
    @OptionGroup var storage: StoreFlags
    @Argument(parsing: .captureForPassthrough, help: "CONTAINER COMMAND [ARG...]") var arguments: [String] = []

    func run() async throws {
        // The passthrough argument takes `--help` too when it comes before the container.
        if arguments.first == "--help" { throw CleanExit.helpRequest(self) }
        guard arguments.count >= 2 else { throw CLIError("exec needs a CONTAINER and a COMMAND", status: 125) }
        let record = try storage.container(arguments[0])
        var session = ExecSession(command: Array(arguments.dropFirst()))
        session.environment = try env.map { variable in
            guard variable.contains("=") else {
                guard let value = ProcessInfo.processInfo.environment[variable] else { throw CLIError("-e \(variable): not set here", status: 125) }
                return "\(variable)=\(value)"
            }
            return variable
        }
        session.user = user
        session.workingDirectory = workdir
        session.terminal = tty && isatty(STDIN_FILENO) == 1
        session.detach = detach
        session.privileged = privileged
        let store = storage.store
        let status = try await containerFailure { try await session.run(in: record, containers: Containers(store: store), state: store.runtimeState) }
        throw ExitCode(status)
    }
}

struct ContainerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container", abstract: "Manage containers",
        subcommands: [ContainerInspect.self, ContainerPrune.self, ContainerMonitorCommand.self])
}

struct ContainerInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Print containers' state and configuration as JSON")
    @Option(name: [.short, .customLong("format")], help: "A Go template for each container ('{{.State.Status}}'), or json (the default)")
    var format: String?
    @OptionGroup var storage: StoreFlags
    @Argument(help: "CONTAINER (name or ID)") var containers: [String]

    func run() throws {
        let records = try containers.map { try storage.container($0) }
        let store = storage.store
        Console.out(try ContainerReport.inspect(records.map { ContainerReport(record: $0, containers: Containers(store: store)) }, format: format))
    }
}

struct ContainerPrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove every container that is not running")
    @Flag(name: [.short, .customLong("force")], help: "Do not ask (berth never asks)") var force = false
    @OptionGroup var storage: StoreFlags

    func run() async throws {
        let containers = Containers(store: storage.store)
        for record in containers.list() where !record.isActive {
            try await containerFailure { try containers.remove(record) }
            print(record.id)
        }
    }
}

/// The monitor of one detached container (started by `run -d` and `start`, not by users).
struct ContainerMonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "monitor", shouldDisplay: false)
    @OptionGroup var storage: StoreFlags
    @Argument var id: String

    func run() throws {
        throw ExitCode(ContainerMonitor(store: storage.store, id: id).run())
    }

    /// The command line `StoreFlags.lifecycle` starts a monitor with.
    static func arguments(root: String, id: String) -> [String] { ["container", "monitor", "--root", root, id] }

    /// The store root and id when `raw` is exactly that command line: `Entry.main` then runs the
    /// monitor without the parser (its start is part of every `run -d` and `start`, and parsing,
    /// reflection over every command, is most of it).
    static func started(_ raw: [String]) -> (root: String, id: String)? {
        guard raw.count == 5, Array(raw.prefix(3)) == Array(arguments(root: "", id: "").prefix(3)) else { return nil }
        return (raw[3], raw[4])
    }
}
