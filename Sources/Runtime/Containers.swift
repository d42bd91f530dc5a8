import Foundation

/// A container Berth created: its bundle under `containers/<id>/bundle`, this record beside it
/// (`container.json`), and for a detached one its log (`ctr.log`).
public struct ContainerRecord: Codable, Sendable {
    public var id: String
    public var name: String
    public var image: String
    public var command: [String]
    public var created: Date
    /// `created`, `running`, `restarting` (waiting out a restart's backoff) or `exited`.
    public var status: String
    public var exitCode: Int32?
    public var runtime: String
    /// The runtime as it was found (a path), so a monitor and later verbs use the same one.
    public var runtimePath: String?
    /// The process watching it while it runs: `berth run` in the foreground, else its monitor.
    public var pid: Int32?
    /// Its PID 1 on the host, while it runs.
    public var containerPid: Int32?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Run with `-d` (or started again with `berth start`): a monitor owns it.
    public var detached: Bool?
    /// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    public var restartPolicy: String?
    public var restartCount: Int?
    /// `--rm`: removed when it exits for good.
    public var autoRemove: Bool?
    /// The log's size cap in bytes (`--log-opt max-size`).
    public var logMaxSize: Int64?
    /// The signal `stop` sends first (the image's StopSignal, or `--stop-signal`).
    public var stopSignal: String?
    /// Seconds `stop` waits before SIGKILL.
    public var stopTimeout: Int?
    /// The cached layers the overlay stacks, so `start` can mount it again.
    public var lowerDirs: [String]?
    /// `--init`: the init program bind-mounted as PID 1.
    public var initPath: String?
    /// Why it could not start, or why its monitor ended it.
    public var error: String?
    /// The image's `EXPOSE` entries (`80/tcp`).
    public var exposedPorts: [String]?
    /// Published ports (`-p`, `-P`); host ports as bound once the container runs.
    public var ports: [PortMapping]?
    /// `--network` as given (`none` when absent).
    public var network: String?
    /// Output its log could not keep (a full disk).
    public var logLoss: LogLoss?

    /// Whether the process watching it is alive (a `running` record whose watcher died is not).
    public var isActive: Bool {
        guard ["running", "restarting", "created"].contains(status), let pid else { return false }
        return Self.alive(pid)
    }

    /// A process that exists and has not exited: a zombie no one has reaped yet (a monitor whose
    /// parent went away before it) counts as gone.
    static func alive(_ pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        let state = stat.split(separator: ")").last?.split(separator: " ").first
        return state != "Z" && state != "X"
    }

    /// Exited for good: no process runs it or watches it any more.
    mutating func markEnded() {
        status = "exited"
        finishedAt = finishedAt ?? Date()
        containerPid = nil
        pid = nil
    }

    /// Its PID 1 is alive (whatever became of the process watching it).
    public var containerAlive: Bool { containerPid.map(Self.alive) ?? false }

    /// The status as `ps` shows it: a record left `running` by a watcher that died is `orphaned`
    /// while the container still runs (`rm -f` or `stop` end it), else exited.
    public var effectiveStatus: String {
        if status == "running" || status == "restarting", !isActive { return containerAlive ? "orphaned" : "exited" }
        return status
    }
}

/// The containers of a store: created, listed (`ps`), looked up by name or id prefix, removed.
public struct Containers: Sendable {
    let store: LocalStore

    public init(store: LocalStore) { self.store = store }

    public func directory(_ id: String) -> String { "\(store.containersPath)/\(id)" }
    public func logPath(_ id: String) -> String { "\(directory(id))/ctr.log" }
    /// Present while `stop`, `kill` or `rm -f` wants it to stay down: its monitor does not restart it.
    func stopMarker(_ id: String) -> String { "\(directory(id))/stop-requested" }

    public func list() -> [ContainerRecord] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: store.containersPath)) ?? []
        return ids.compactMap { load($0) }.sorted { $0.created < $1.created }
    }

    public func load(_ id: String) -> ContainerRecord? {
        guard id.allSatisfy(\.isHexDigit) else { return nil }
        return FileManager.default.contents(atPath: "\(directory(id))/container.json").flatMap { try? Self.decoder.decode(ContainerRecord.self, from: $0) }
    }

    public func find(_ nameOrID: String) -> ContainerRecord? { try? resolve(nameOrID) }

    /// podman's lookup: a full id, an exact name, else a unique id prefix. A full id and a claimed
    /// name are read directly, one record rather than every container's (`exec`, `stop`, `logs`
    /// and the rest do this first); only a prefix, or the name of a container made before names
    /// were claimed, takes the whole list.
    public func resolve(_ nameOrID: String) throws(RuntimeError) -> ContainerRecord {
        if nameOrID.count == 32, let record = load(nameOrID) { return record }
        if Self.isValidName(nameOrID), let id = claimant(of: nameOrID), let record = load(id), record.name == nameOrID { return record }
        let all = list()
        if let exact = all.first(where: { $0.id == nameOrID || $0.name == nameOrID }) { return exact }
        let matches = nameOrID.isEmpty ? [] : all.filter { $0.id.hasPrefix(nameOrID.lowercased()) }
        guard matches.count <= 1 else { throw .invalidArgument("more than one result for container ID \(nameOrID)") }
        guard let match = matches.first else { throw .notFound("no container with name or ID \"\(nameOrID)\" found") }
        return match
    }

    /// A fresh container id: 32 hex digits.
    public static func newID() -> String { String((0..<32).map { _ in "0123456789abcdef".randomElement()! }) }

    /// A new container directory with id `id` and a unique name.
    func create(name: String?, image: String, runtime: OCIRuntime, id: String = newID()) throws -> ContainerRecord {
        let chosen = name ?? "berth-\(id.prefix(12))"
        guard Self.isValidName(chosen) else {
            throw RuntimeError.invalidArgument("invalid container name '\(chosen.prefix(100))' ([a-zA-Z0-9][a-zA-Z0-9_.-]*)")
        }
        try claimEarlierNames()
        var claimed = false
        do {
            // The directory before the claim: a claim whose container has no directory is stale.
            try FileManager.default.createDirectory(atPath: "\(directory(id))/bundle/rootfs", withIntermediateDirectories: true)
            chmod(directory(id), 0o700)
            guard try claim(chosen, for: id) else {
                throw RuntimeError.invalidArgument("the container name \(chosen) is already in use (berth rm \(chosen))")
            }
            claimed = true
            let record = ContainerRecord(
                id: id, name: chosen, image: image, command: [], created: Date(), status: "created", exitCode: nil, runtime: runtime.name, runtimePath: runtime.path)
            try save(record)
            return record
        } catch {
            if claimed { release(chosen, of: id) }
            try? FileManager.default.removeItem(atPath: directory(id))
            throw error
        }
    }

    /// podman's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.first, first.isLetter || first.isNumber else { return false }
        return name.allSatisfy { ($0.isLetter || $0.isNumber || "_.-".contains($0)) && $0.isASCII }
    }

    /// Claims the names of the containers made before names were claimed, once per store (the
    /// marker records it; names cannot start with a dot), so that a new name is checked against
    /// the claims alone rather than against every container's record.
    private func claimEarlierNames() throws {
        let marker = "\(store.containerNamesPath)/.all-claimed"
        guard !FileManager.default.fileExists(atPath: marker) else { return }
        try FileManager.default.createDirectory(atPath: store.containerNamesPath, withIntermediateDirectories: true)
        for record in list() { _ = try claim(record.name, for: record.id) }
        guard FileManager.default.createFile(atPath: marker, contents: nil) else { throw RuntimeError.io(marker, String(cString: strerror(errno))) }
    }

    /// `container-names/NAME` holds the id of the container that has the name: made with O_EXCL,
    /// so of two commands giving one name at once only one gets it (the listing alone cannot tell them).
    private func namePath(_ name: String) -> String { "\(store.containerNamesPath)/\(name)" }

    /// The id a name's claim holds (empty while the claim is being written), nil without one.
    private func claimant(of name: String) -> String? { try? String(contentsOfFile: namePath(name), encoding: .utf8) }

    /// Takes `name` for `id`; false when a container has it. A claim whose container directory is
    /// gone (a command killed while removing it) is taken over; `create` makes the directory
    /// before the claim, so a claim being made is never taken for a stale one. `claimEarlierNames`
    /// has made the claims' directory.
    private func claim(_ name: String, for id: String) throws -> Bool {
        for _ in 0..<2 {
            let fd = open(namePath(name), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd >= 0 {
                let written = write(fd, id, id.utf8.count)
                close(fd)
                guard written == id.utf8.count else {
                    unlink(namePath(name))
                    throw RuntimeError.io(namePath(name), String(cString: strerror(written < 0 ? errno : ENOSPC)))
                }
                return true
            }
            guard errno == EEXIST else { throw RuntimeError.io(namePath(name), String(cString: strerror(errno))) }
            let holder = claimant(of: name) ?? ""
            // A claim being written (empty for a moment) or of a container that exists stands.
            guard !holder.isEmpty, !FileManager.default.fileExists(atPath: directory(holder)) else { return false }
            unlink(namePath(name))
        }
        return false
    }

    /// Gives the name up, if `id` has it.
    private func release(_ name: String, of id: String) {
        if claimant(of: name) == id { unlink(namePath(name)) }
    }

    /// The space a monitor holds back for the records of `id` (`SpaceReserve`).
    func reserve(_ id: String) -> SpaceReserve { SpaceReserve(path: "\(directory(id))/space-reserve") }

    /// Replaces the record atomically (readers never see half of it); on a full disk, the
    /// container's reserve gives space back until the record fits.
    func save(_ record: ContainerRecord) throws {
        let data = try Self.encoder.encode(record)
        let reserve = reserve(record.id)
        while true {
            let code = replace("\(directory(record.id))/container.json", with: data)
            if code == 0 { return }
            guard code == ENOSPC || code == EDQUOT, reserve.release() else {
                throw RuntimeError.io("\(directory(record.id))/container.json", String(cString: strerror(code)))
            }
        }
    }

    /// Writes `data` to a temporary file renamed over `path`; errno, or 0. Nothing is left
    /// behind when it fails.
    private func replace(_ path: String, with data: Data) -> Int32 {
        let temporary = "\(path).\(getpid()).tmp"
        var code = writeFile(temporary, data, mode: 0o600)
        if code == 0, rename(temporary, path) != 0 { code = errno }
        if code != 0 { unlink(temporary) }
        return code
    }

    /// The runtime that runs `record`.
    func runtime(of record: ContainerRecord) throws -> OCIRuntime {
        try OCIRuntime.find(record.runtimePath ?? record.runtime)
    }

    /// Waits (up to 10 s) until the monitor of a container that has exited has finished
    /// cleaning up after it, so nothing it still writes races what comes next.
    func waitForMonitor(_ record: ContainerRecord) {
        // A foreground `run` is its own watcher.
        guard let pid = load(record.id)?.pid ?? record.pid, pid != getpid() else { return }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContainerRecord.alive(pid), load(record.id)?.pid == pid, ContinuousClock.now < deadline { usleep(5_000) }
    }

    /// Deletes the container's runtime state and its directory.
    public func remove(_ record: ContainerRecord) throws {
        if record.isActive && (record.status != "created" || record.containerPid != nil) || record.effectiveStatus == "orphaned" {
            throw RuntimeError.invalidArgument("container \(record.name) is running (berth stop it, or berth rm -f)")
        }
        waitForMonitor(record)
        // A monitor or `run` deletes the runtime's state when the container exits; only one
        // that died mid-run leaves some behind.
        if FileManager.default.fileExists(atPath: "\(store.runtimeState)/\(record.id)"), let runtime = try? runtime(of: record) {
            runtime.delete(id: record.id, state: store.runtimeState)
        }
        // A berth killed mid-run leaves the overlay mounted; removing through it would whiteout, not delete.
        OverlayMount.unmount("\(directory(record.id))/bundle/rootfs")
        try FileManager.default.removeItem(atPath: directory(record.id))
        release(record.name, of: record.id)
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamps.rfc3339(date))
        }
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = Timestamps.parse(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an RFC 3339 time: \(text)"))
            }
            return date
        }
        return decoder
    }()
}
