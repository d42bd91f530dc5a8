import ArgumentParser
import Foundation
import OCI
import Runtime
import Transports

/// `--root`: where local images and containers live.
struct StoreFlags: ParsableArguments {
    @Option(name: .customLong("root"), help: ArgumentHelp("Berth's local storage (default: $BERTH_ROOT, /var/lib/berth as root, else $XDG_DATA_HOME/berth)", valueName: "DIR"))
    var root: String?

    var store: LocalStore { LocalStore(root: root ?? LocalStore.defaultRoot()) }
}

/// An image argument as podman takes it: a transport name, or else a registry reference.
func localImageName(_ text: String) throws -> ImageName {
    if text.contains("://") || ["oci:", "oci-archive:", "dir:", "docker-archive:", "local:"].contains(where: text.hasPrefix) { return try parseName(text) }
    do { return .docker(try ImageReference(parsing: text)) } catch { throw CLIError("invalid image name '\(text.prefix(200))': \(error.description)") }
}

/// What an image argument of `pull` and `run` may mean: a short name (`alpine`) resolved through
/// registries.conf's aliases and search registries as podman does, else the one name it is.
func localImageCandidates(_ text: String, access: ImageAccess) throws -> [ImageName] {
    let name = try localImageName(text)
    guard case .docker = name, !text.contains("://") else { return [name] }
    let conf = try RegistriesConfFile.load(explicit: access.registriesConf)
    do { return try conf.shortNameCandidates(text)?.map { ImageName.docker($0) } ?? [name] } catch { throw CLIError(error.description) }
}

/// The first of `candidates` in the store (unless `always`), else the first that can be pulled,
/// in order; one candidate's failure is reported as it is.
func ensurePulled(_ candidates: [ImageName], store: LocalStore, access: ImageAccess, always: Bool, quiet: Bool) async throws -> String {
    guard candidates.count > 1 else { return try await ensurePulled(candidates[0], store: store, access: access, always: always, quiet: quiet) }
    if !always, let present = try candidates.map(LocalStore.storedName(for:)).first(where: store.contains) { return present }
    var failures: [String] = []
    for name in candidates {
        do { return try await ensurePulled(name, store: store, access: access, always: true, quiet: quiet) } catch is CancellationError {
            throw CancellationError()
        } catch {
            failures.append("\(name): \(error)")
        }
    }
    throw CLIError("no search registry has it: \(failures.joined(separator: "; "))", status: 2)
}

/// Pulls `name` into the store unless it is there (`always` pulls anyway); returns its stored name.
func ensurePulled(_ name: ImageName, store: LocalStore, access: ImageAccess, always: Bool, quiet: Bool) async throws -> String {
    let stored = LocalStore.storedName(for: name)
    // Only a registry image is taken from the store as it is: a layout, directory or archive is
    // named by its path's last component, so another one at a different path (or the same one,
    // rewritten) would be served stale; copying it again reuses every blob the store has.
    if !always, case .docker = name, try store.contains(stored) { return stored }
    let options = try await access.flags.resolve(for: name)
    let source = try name.openSource(options)
    var copy = CopyOptions()
    copy.progress = quiet ? nil : ConsoleProgress(interval: 5)
    let progress = copy.progress as? ConsoleProgress
    let digest = try await Interrupt.cancellingOnSignal { [copy] in
        try await progress.withReporting { try await store.pull(source, as: stored, options: copy) }
    }
    if !quiet { Console.err("Stored \(stored) (\(digest))\n") }
    return stored
}

struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull", abstract: "Pull an image into Berth's local store (this machine's platform)")
    @Argument(help: "IMAGE (a registry reference, or transport:details)") var image: String
    @Flag(name: [.short, .customLong("quiet")], help: "Suppress progress output") var quiet = false
    @OptionGroup var access: ImageAccess
    @OptionGroup var storage: StoreFlags

    func run() async throws {
        let stored = try await ensurePulled(try localImageCandidates(image, access: access), store: storage.store, access: access, always: true, quiet: quiet)
        print(stored)
    }
}

struct Images: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "images", abstract: "List the images in Berth's local store")
    @Flag(name: .customLong("digests"), help: "Show full digests") var fullDigests = false
    @Option(name: .customLong("format"), help: "json, table (the default), or a Go template: '{{.Repository}}:{{.Tag}}', 'table {{.Repository}}\\t{{.Size}}'")
    var format: String?
    @OptionGroup var storage: StoreFlags

    /// The fields a template sees (podman's names; `Size` as the table prints it, `VirtualSize` in
    /// bytes) and the column titles of a `table` template.
    static func fields(_ image: LocalStore.Image, fullDigest: Bool) -> [String: Any] {
        let (repository, tag) = split(image.name)
        return [
            "Repository": repository, "Tag": tag, "Name": image.name, "Digest": image.digest.description,
            "ID": fullDigest ? image.digest.description : String(image.digest.encoded.prefix(12)), "Size": ByteCount.format(image.size),
            "VirtualSize": image.size, "CreatedAt": image.created ?? "",
        ]
    }

    static let titles = [
        "Repository": "REPOSITORY", "Tag": "TAG", "Name": "NAME", "Digest": "DIGEST", "ID": "DIGEST", "Size": "SIZE", "VirtualSize": "SIZE",
        "CreatedAt": "CREATED",
    ]

    func run() throws {
        let images = try storage.store.images().sorted(by: { $0.name < $1.name })
        if format == "json" {
            let objects = images.map { ["Names": [$0.name], "Digest": $0.digest.description, "Size": $0.size, "Created": $0.created ?? ""] as [String: Any] }
            print(String(decoding: try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            return
        }
        if let format, format != "table" {
            Console.out(try OutputTemplate(format, status: 125).render(images.map { Self.fields($0, fullDigest: fullDigests) }, header: Self.titles))
            return
        }
        let columns = ["Repository", "Tag", "ID", "Size"]
        let rows = images.map { image in
            let fields = Self.fields(image, fullDigest: fullDigests)
            return columns.map { fields[$0] as? String ?? "" } + [image.created.map { String($0.prefix(19)) } ?? "-"]
        }
        Console.out(TextTable.render([columns.map { Self.titles[$0] ?? $0 } + ["CREATED"]] + rows))
    }

    static func split(_ name: String) -> (String, String) {
        if let at = name.firstIndex(of: "@") { return (String(name[..<at]), "<none>") }
        if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") { return (String(name[..<colon]), String(name[name.index(after: colon)...])) }
        return (name, "latest")
    }
}

struct Rmi: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rmi", abstract: "Remove images from Berth's local store")
    @Argument(help: "IMAGE") var images: [String]
    @OptionGroup var storage: StoreFlags

    func run() throws {
        let store = storage.store
        for image in images {
            let stored = LocalStore.storedName(for: try localImageName(image))
            let users = Containers(store: store).list().filter { $0.image == stored }
            guard users.isEmpty else { throw CLIError("image \(stored) is used by container \(users[0].name) (berth rm it first)") }
            do { try store.remove(stored) } catch let error as RuntimeError { throw CLIError(error.description, status: 2) }
            print("Untagged: \(stored)")
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in a new container from an image (pulled when missing)",
        discussion: """
            The container's exit status is berth's. 125: berth itself failed (image, flags, runtime);
            126: the command is not executable; 127: the command was not found in the image.
            Examples:
              berth run --rm 127.0.0.1:5000/team/app:v1 echo hello
              berth run --rm -e KEY=v -w /work -u 1000:1000 --entrypoint /bin/sh app:v1 -c 'id; pwd'
            """)

    @Flag(name: .customLong("rm"), help: "Remove the container when it exits") var remove = false
    @Flag(name: [.short, .customLong("detach")], help: "Run in the background under a monitor; print the container ID") var detach = false
    @Flag(name: .customLong("init"), help: "Run an init as PID 1 that reaps zombies and forwards signals (catatonit or tini)") var initProcess = false
    @Option(name: .customLong("init-path"), help: "The init for --init (a static binary; default: catatonit, else tini-static)") var initPath: String?
    @Option(name: .customLong("restart"), help: "Restart policy with -d: no, on-failure[:N], always, unless-stopped") var restart = "no"
    @Option(name: .customLong("log-opt"), help: "Log option with -d: max-size=SIZE (e.g. 10m)") var logOptions: [String] = []
    @Option(name: .customLong("stop-signal"), help: "Signal stop sends first (default: the image's StopSignal, else SIGTERM)") var stopSignal: String?
    @Option(name: .customLong("stop-timeout"), help: "Seconds stop waits before SIGKILL (default 10)") var stopTimeout: Int?
    @Option(name: [.short, .customLong("publish")], help: "Publish a port: [IP:][HOSTPORT:]CONTAINERPORT[/tcp] (a userspace proxy)") var publish: [String] = []
    @Flag(name: [.customShort("P"), .customLong("publish-all")], help: "Publish every port the image exposes on a free host port") var publishAll = false
    @Option(name: .customLong("security-opt"), help: "seccomp=unconfined, seccomp=PROFILE.json, no-new-privileges") var securityOptions: [String] = []
    @Flag(name: .customLong("privileged"), help: "Every capability, no seccomp filter, no masked paths, the host's devices") var privileged = false
    @Option(name: [.short, .customLong("env")], help: "Set an environment variable (KEY=VALUE)") var env: [String] = []
    @Option(name: [.short, .customLong("workdir")], help: "Working directory inside the container") var workdir: String?
    @Option(name: [.short, .customLong("user")], help: "USER[:GROUP], names or numbers") var user: String?
    @Option(name: .customLong("entrypoint"), help: "Override the image's entrypoint (\"\" for none)") var entrypoint: String?
    @Flag(name: .customLong("read-only"), help: "Mount the root filesystem read-only") var readOnly = false
    @Option(name: .customLong("cap-add"), help: "Add a Linux capability (or ALL)") var capAdd: [String] = []
    @Option(name: .customLong("cap-drop"), help: "Drop a Linux capability (or ALL)") var capDrop: [String] = []
    @Option(name: [.short, .customLong("memory")], help: "Memory limit (e.g. 256m, 1g)") var memory: String?
    @Option(name: .customLong("cpus"), help: "Number of CPUs (e.g. 1.5)") var cpus: Double?
    @Option(name: .customLong("pids-limit"), help: "Maximum number of processes") var pidsLimit: Int64?
    @Option(name: [.short, .customLong("volume")], help: "Bind mount /host:/container[:ro]") var volumes: [String] = []
    @Option(name: .customLong("network"), help: "none (loopback only, the default), host, or slirp4netns[:allow_host_loopback=true]") var network = "none"
    @Option(name: [.customShort("h"), .customLong("hostname")], help: "Container host name") var hostname: String?
    @Option(name: .customLong("name"), help: "Container name") var name: String?
    @Option(name: .customLong("runtime"), help: "OCI runtime: a name on PATH or a path (default: crun, else runc)") var runtime: String?
    @Flag(name: [.short, .customLong("tty")], help: "Allocate a terminal (when stdin is one)") var tty = false
    @Flag(name: [.short, .customLong("interactive")], help: "Keep stdin open (it always is)") var interactive = false
    @Option(name: .customLong("pull"), help: "missing (default), always or never") var pull = "missing"
    @Flag(name: [.short, .customLong("quiet")], help: "Suppress pull progress") var quiet = false
    @OptionGroup var access: ImageAccess
    @OptionGroup var storage: StoreFlags
    @Argument(parsing: .captureForPassthrough, help: "IMAGE [COMMAND [ARG...]]") var arguments: [String] = []

    func run() async throws {
        // The passthrough argument takes `--help` too when it comes before the image.
        if arguments.first == "--help" { throw CleanExit.helpRequest(self) }
        do {
            let status = try await start()
            throw ExitCode(status)
        } catch let error as ExitStatusError {
            throw CLIError(error.message, status: error.status)
        } catch let error as ExitCode {
            throw error
        } catch let error as CLIError where error.status == 1 {
            throw CLIError(error.description, status: 125)
        } catch let error as RuntimeError {
            throw CLIError(error.description, status: 125)
        } catch let error as TransportError {
            throw CLIError(error.description, status: 125)
        }
    }

    private func start() async throws -> Int32 {
        guard let image = arguments.first else { throw CLIError("run needs an IMAGE") }
        var options = RunOptions()
        options.command = Array(arguments.dropFirst())
        options.entrypoint = entrypoint
        options.environment = try env.map { variable in
            guard variable.contains("=") else {
                // docker's `-e NAME` passes the caller's value.
                guard let value = ProcessInfo.processInfo.environment[variable] else { return nil }
                return "\(variable)=\(value)"
            }
            guard !variable.hasPrefix("=") else { throw CLIError("invalid environment variable '\(variable)'") }
            return variable
        }.compactMap { $0 }
        options.workingDirectory = workdir
        if let workdir, !workdir.hasPrefix("/") { throw CLIError("--workdir must be an absolute path") }
        options.user = user
        options.hostname = hostname
        options.network = try RunOptions.Network(parsing: network)
        options.readOnly = readOnly
        options.capAdd = capAdd
        options.capDrop = capDrop
        if let memory {
            guard let bytes = ByteCount.parse(memory), bytes >= 6 << 20 else { throw CLIError("invalid --memory '\(memory)' (at least 6m, e.g. 256m, 1g)") }
            options.memoryLimit = bytes
        }
        if let cpus { guard cpus > 0, cpus <= Double(ProcessInfo.processInfo.activeProcessorCount) else { throw CLIError("--cpus must be between 0 and the number of CPUs") }; options.cpus = cpus }
        if let pidsLimit { guard pidsLimit > 0 else { throw CLIError("--pids-limit must be positive") }; options.pidsLimit = pidsLimit }
        options.volumes = volumes
        options.terminal = tty && isatty(STDIN_FILENO) == 1 && !detach
        if options.terminal, case .slirp = options.network {
            throw CLIError("-t with --network slirp4netns is not supported (the container is created before its terminal could be handed over)")
        }
        guard ["missing", "always", "never"].contains(pull) else { throw CLIError("invalid --pull '\(pull)' (missing, always, never)") }
        if initProcess || initPath != nil { options.initPath = try Self.findInit(initPath) }
        options.restartPolicy = try RestartPolicy(parsing: restart)
        if options.restartPolicy != .no, !detach { throw CLIError("--restart needs -d (a monitor restarts the container)") }
        if options.restartPolicy != .no, remove { throw CLIError("--restart and --rm cannot be combined") }
        for option in logOptions {
            guard option.hasPrefix("max-size="), let size = ByteCount.parse(String(option.dropFirst("max-size=".count))), size >= 1024 else {
                throw CLIError("invalid --log-opt '\(option.prefix(100))' (max-size=SIZE, at least 1k)")
            }
            options.logMaxSize = size
        }
        if let stopSignal {
            guard Signals.number(stopSignal) != nil else { throw CLIError("invalid --stop-signal '\(stopSignal.prefix(40))'") }
            options.stopSignal = stopSignal
        }
        if let stopTimeout {
            guard stopTimeout >= 0 else { throw CLIError("--stop-timeout must not be negative") }
            options.stopTimeout = stopTimeout
        }
        for option in securityOptions {
            switch option {
            case "no-new-privileges", "no-new-privileges=true": options.noNewPrivileges = true
            case "no-new-privileges=false": options.noNewPrivileges = false
            case "seccomp=unconfined": options.seccomp = .unconfined
            case _ where option.hasPrefix("seccomp="):
                let path = String(option.dropFirst("seccomp=".count))
                guard FileManager.default.fileExists(atPath: path) else { throw CLIError("--security-opt \(option.prefix(100)): no such file") }
                options.seccomp = .profile(path)
            default: throw CLIError("unsupported --security-opt '\(option.prefix(100))' (seccomp=unconfined|PROFILE, no-new-privileges)")
            }
        }
        options.privileged = privileged
        options.ports = try publish.flatMap { try PortMapping.parse($0) }
        options.publishExposed = publishAll
        if !options.ports.isEmpty || publishAll, options.network == .host {
            throw CLIError("-p and -P publish ports of the container's own network; with --network host its ports are the host's")
        }

        // A detached container's monitor starts now: its start-up (an exec of this program, the
        // longest step before the runtime's) overlaps finding the image and preparing the bundle.
        let lifecycle = storage.lifecycle
        let monitor = detach ? try lifecycle.startMonitor() : nil
        let runtime = try OCIRuntime.find(self.runtime)
        let store = storage.store
        let candidates = try localImageCandidates(image, access: access)
        let stored: String
        if pull == "never" {
            let names = candidates.map(LocalStore.storedName(for:))
            guard let present = try names.first(where: store.contains) else {
                throw CLIError("\(names.joined(separator: ", ")) is not in the local store (--pull never)")
            }
            stored = present
        } else {
            stored = try await ensurePulled(candidates, store: store, access: access, always: pull == "always", quiet: quiet)
        }
        let runner = LocalRunner(store: store, runtime: runtime)
        guard let monitor else { return try await runner.run(image: stored, name: self.name, options: options, remove: remove) }
        let record = try await runner.runDetached(image: stored, name: self.name, options: options, remove: remove, lifecycle: lifecycle, monitor: monitor)
        print(record.id)
        return 0
    }

    /// `--init-path`, else catatonit (podman's) or a static tini (docker's) from the host.
    static func findInit(_ explicit: String?) throws -> String {
        let candidates = explicit.map { [$0] } ?? ["/usr/libexec/podman/catatonit", "/usr/bin/catatonit", "/usr/bin/tini-static", "/usr/bin/tini"]
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return (try? FileManager.default.destinationOfSymbolicLink(atPath: candidate)).map { URL(fileURLWithPath: $0, relativeTo: URL(fileURLWithPath: candidate).deletingLastPathComponent()).standardizedFileURL.path } ?? candidate
        }
        if let explicit { throw CLIError("--init-path \(explicit): not an executable file") }
        throw CLIError("--init needs catatonit or tini on this machine (apt-get install catatonit)")
    }
}

struct Unpack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpack",
        abstract: "Unpack a stored image into an OCI runtime bundle (BUNDLE/rootfs and BUNDLE/config.json), as umoci unpack does")
    @Argument(help: "IMAGE (pulled when missing)") var image: String
    @Argument(help: "BUNDLE directory (must not exist)") var bundle: String
    @Flag(name: [.short, .customLong("quiet")], help: "Suppress pull progress") var quiet = false
    @OptionGroup var access: ImageAccess
    @OptionGroup var storage: StoreFlags

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: bundle) else { throw CLIError("\(bundle) already exists") }
        let store = storage.store
        let stored = try await ensurePulled(try localImageCandidates(image, access: access), store: store, access: access, always: false, quiet: quiet)
        do {
            try await LocalRunner.unpack(store: store, image: stored, bundle: bundle)
        } catch {
            try? FileManager.default.removeItem(atPath: bundle)
            throw error
        }
    }
}

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List running containers (-a: all)")
    @Flag(name: [.short, .customLong("all")], help: "Show every container, not only running ones") var all = false
    @Flag(name: [.short, .customLong("quiet")], help: "Only print container IDs") var quiet = false
    @Flag(name: .customLong("no-trunc"), help: "Do not truncate IDs and commands") var noTrunc = false
    @Option(name: .customLong("format"), help: "json, table (the default), or a Go template: '{{.Names}} {{.Status}}', 'table {{.ID}}\\t{{.Ports}}'")
    var format: String?
    @Option(name: [.short, .customLong("filter")], help: "KEY=VALUE: name or id (regular expressions), status, exited (a code), ancestor (the image); repeatable")
    var filters: [String] = []
    @OptionGroup var storage: StoreFlags

    func run() throws {
        let filter = try ContainerFilter(filters)
        let containers = Containers(store: storage.store)
        // Without -a only running containers, unless the filter asks for a status (as podman).
        let reports = containers.list().map { ContainerReport(record: $0, containers: containers) }
            .filter { (all || filter.choosesStatus || ["running", "restarting", "orphaned"].contains($0.status)) && filter.matches($0) }
        if format == "json" {
            let data = try JSONSerialization.data(withJSONObject: reports.map(\.psJSON), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if let format, format != "table" {
            let template = try OutputTemplate(format, status: 125)
            let now = Date()
            Console.out(try template.render(reports.map { $0.psTemplateFields(noTrunc: noTrunc, now: now) }, header: ContainerReport.psTitles))
            return
        }
        if quiet {
            for report in reports { print(report.shownID(noTrunc: noTrunc)) }
            return
        }
        // podman's default columns, from the fields a template sees.
        let columns = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]
        let now = Date()
        let rows = reports.map { report in
            let fields = report.psTemplateFields(noTrunc: noTrunc, now: now)
            return columns.map { fields[$0] as? String ?? "" }
        }
        Console.out(TextTable.render([columns.map { ContainerReport.psTitles[$0] ?? $0 }] + rows))
    }
}

struct Rm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove containers",
        discussion: """
            Exit status as podman's: 1 when a container named does not exist (nothing is removed \
            then; -i ignores it), 2 when one is running and -f was not given (the others are \
            removed), 125 for any other failure.
            """)
    @Flag(name: [.short, .customLong("all")], help: "Remove every container") var all = false
    @Flag(name: [.short, .customLong("force")], help: "Stop running containers first (SIGKILL at once, or after -t)") var force = false
    @Flag(name: [.short, .customLong("ignore")], help: "Ignore containers that do not exist") var ignore = false
    @Option(name: [.short, .customLong("time")], help: "With -f: seconds to wait after the stop signal before SIGKILL (default 0)") var time: Int?
    @OptionGroup var storage: StoreFlags
    @Argument(help: "CONTAINER (name or ID)") var containers: [String] = []

    func run() async throws {
        if all, !containers.isEmpty { throw CLIError("when using the --all switch, you may not pass any container names or IDs", status: 125) }
        if !all, containers.isEmpty { throw CLIError("rm needs a CONTAINER (or --all)", status: 125) }
        if let time, time < 0 { throw CLIError("--time must not be negative", status: 125) }
        if time != nil, !force { throw CLIError("--force must be specified to use the --time option", status: 125) }
        // Every name is found before anything is removed, as podman does: a typo removes nothing.
        var records: [(shown: String, record: ContainerRecord)] = []
        var missing: [String] = []
        let store = Containers(store: storage.store)
        if all {
            records = store.list().map { ($0.id, $0) }
        } else {
            for name in containers {
                do { records.append((name, try store.resolve(name))) } catch .notFound(let why) {
                    if !ignore { missing.append(why) }
                } catch { throw CLIError(error.description, status: 125) }
            }
        }
        if let last = missing.popLast() {
            for why in missing { Console.err("berth: \(why)\n") }
            throw CLIError(last, status: 1)
        }
        var failures: [(why: String, status: Int32)] = []
        for (shown, record) in records {
            do {
                try await storage.lifecycle.remove(record, force: force, timeout: .seconds(time ?? 0))
                print(shown)
            } catch RuntimeError.running(let why) {
                failures.append((why, 2))
            } catch {
                failures.append(("\(error)", 125))
            }
        }
        guard let last = failures.popLast() else { return }
        for failure in failures { Console.err("berth: \(failure.why)\n") }
        throw CLIError(last.why, status: failures.contains { $0.status == 125 } ? 125 : last.status)
    }
}

/// Sizes as docker prints and takes them.
enum ByteCount {
    /// Decimal units as `docker images` prints them, or binary ones (KiB, MiB) for progress.
    static func format(_ bytes: Int64, binary: Bool = false) -> String {
        let units = binary ? ["B", "KiB", "MiB", "GiB", "TiB"] : ["B", "kB", "MB", "GB", "TB"]
        let step = binary ? 1024.0 : 1000.0
        var value = Double(bytes)
        var unit = 0
        while value >= step, unit < units.count - 1 {
            value /= step
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }

    /// `256m`, `1g`, `512k`, `1048576` (bytes).
    static func parse(_ text: String) -> Int64? {
        let lower = text.lowercased().replacingOccurrences(of: "b", with: "")
        let scale: Int64 = lower.hasSuffix("k") ? 1 << 10 : lower.hasSuffix("m") ? 1 << 20 : lower.hasSuffix("g") ? 1 << 30 : 1
        let digits = scale == 1 ? lower : String(lower.dropLast())
        return Int64(digits).map { $0 * scale }
    }
}
