import Foundation

/// `berth exec`: a process in a running container, built as podman builds it from the container's
/// own `process` (its capability bounding set, rlimits, no_new_privs carry over) and started by
/// the runtime's `exec`, which joins every namespace and the cgroup of PID 1 and applies the
/// container's seccomp.
public struct ExecSession: Sendable {
    public var command: [String]
    /// `KEY=VALUE` (`-e`), replacing the container's value of KEY.
    public var environment: [String] = []
    /// `-u USER[:GROUP]`, resolved in the container's /etc/passwd and /etc/group.
    public var user: String?
    public var workingDirectory: String?
    public var terminal = false
    public var detach = false
    /// `--privileged`: every capability for this process (the container's seccomp filter stays).
    public var privileged = false

    public init(command: [String]) { self.command = command }

    /// Runs the process; its exit status (the runtime's own failure is 125, not found 127, not
    /// executable 126, as podman reports them).
    public func run(in record: ContainerRecord, containers: Containers, state: String) async throws -> Int32 {
        guard record.isActive, record.status == "running" else {
            throw ExitStatusError(status: 125, message: "can only create exec sessions on running containers: container \(record.name) is \(record.effectiveStatus)")
        }
        guard !command.isEmpty else { throw ExitStatusError(status: 125, message: "exec needs a COMMAND") }
        let directory = containers.directory(record.id)
        let rootfs = "\(directory)/bundle/rootfs"
        let spec = try JSONDecoder().decode(RuntimeSpec.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/bundle/config.json")))
        let process = try process(from: spec.process, rootfs: rootfs)
        try LocalRunner.checkExecutable(command[0], process: process, rootfs: rootfs)
        let file = "\(directory)/exec-\(UUID().uuidString.prefix(8)).json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try writeContainerFile(file, encoder.encode(process))
        defer { unlink(file) }
        let runtime = try containers.runtime(of: record)
        return try await runtime.foreground(["exec", "--process", file] + (detach ? ["--detach"] : []) + [record.id], state: state)
    }

    /// The container's process with this session's command, user, directory and variables.
    func process(from container: RuntimeSpec.Process, rootfs: String) throws(RuntimeError) -> RuntimeSpec.Process {
        var process = container
        process.args = command
        process.terminal = terminal
        if let user {
            let resolved = try UserDatabase(root: RootPath(root: rootfs)).resolve(user)
            process.user = .init(uid: resolved.uid, gid: resolved.gid, additionalGids: resolved.additionalGids.isEmpty ? nil : resolved.additionalGids)
            // Root gets the container's capabilities; another user none in effect (the bounding
            // set stays the container's), as podman gives them.
            if resolved.uid != 0 {
                process.capabilities.effective = []
                process.capabilities.permitted = []
            }
        }
        if privileged {
            let all = RuntimeSpec.boundingCapabilities
            process.capabilities = .init(bounding: all, effective: all, permitted: all)
        }
        if let workingDirectory {
            guard workingDirectory.hasPrefix("/") else { throw .invalidArgument("--workdir must be an absolute path") }
            process.cwd = workingDirectory
        }
        if terminal, !process.env.contains(where: { $0.hasPrefix("TERM=") }) { process.env.append("TERM=xterm") }
        for variable in environment {
            let key = variable.split(separator: "=", maxSplits: 1).first.map(String.init) ?? variable
            process.env.removeAll { $0.hasPrefix(key + "=") }
            process.env.append(variable)
        }
        return process
    }
}
