import CLinuxIO
import Foundation
import Transports

/// Berth without root, podman's way: one long-lived user + mount namespace per user, held by a
/// pause process (catatonit -P) and built from outside with the setuid `newuidmap`/`newgidmap`
/// (container root = the user, 1…N = the user's range in /etc/subuid and /etc/subgid). Every
/// local command re-executes itself inside it, where it is uid 0 with full capabilities over
/// what the user owns: it unpacks layers (image owners land in the subordinate range), runs the
/// runtime with no user namespace of its own in config.json, and on this host's hybrid cgroups
/// crun sees no cgroup2 mount (the holder covers it), so crun and runc both work.
public enum Rootless {
    /// The variable the C start-up code (Rootless.c) joins the holder's namespaces by.
    static let joinVariable = "_BERTH_USERNS_PID"

    public struct Mapping: Equatable, Sendable {
        public var start: UInt32
        public var count: UInt32
    }

    /// Whether `command` works on the local store and its containers, and so runs inside the
    /// namespace when an ordinary user gives it (the list lives in C: the start-up code that
    /// joins the namespace before main needs it too).
    public static func isLocalCommand(_ command: String) -> Bool { clinuxio_is_local_command(command) != 0 }

    /// Re-executes this program inside the user's namespace (made first if needed); returns
    /// only when that fails. `warn` gets one line when there is no subordinate range.
    public static func reexecute(arguments: [String], environment: [String: String], warn: (String) -> Void) throws -> Never {
        let holder = try ensureHolder(environment: environment, warn: warn)
        var variables = environment
        variables[joinVariable] = String(holder)
        let argv = (["berth"] + arguments).map { strdup($0) } + [nil]
        let env = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        execve("/proc/self/exe", argv, env)
        throw RuntimeError.runtime("cannot re-execute berth in its user namespace: \(String(cString: strerror(errno)))")
    }

    /// `$XDG_RUNTIME_DIR/berth`, else `/tmp/berth-run-UID`; 0700 and the user's own (a directory
    /// someone else made in /tmp is refused).
    public static func runDirectory(environment: [String: String]) throws -> String {
        let base = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : "\($0)/berth" } ?? "/tmp/berth-run-\(getuid())"
        if mkdir(base, 0o700) != 0, errno != EEXIST { throw RuntimeError.io(base, String(cString: strerror(errno))) }
        var info = stat()
        guard lstat(base, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == getuid(), info.st_mode & 0o077 == 0 else {
            throw RuntimeError.invalidArgument("\(base) is not a directory of this user's with mode 0700; remove it or set XDG_RUNTIME_DIR")
        }
        return base
    }

    /// The running holder's pid, or a new holder's.
    static func ensureHolder(environment: [String: String], warn: (String) -> Void) throws -> Int32 {
        let directory = try runDirectory(environment: environment)
        let lock = open("\(directory)/pause.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0 else { throw RuntimeError.io("\(directory)/pause.lock", String(cString: strerror(errno))) }
        defer { close(lock) }
        // Two commands starting at once make one namespace.
        flock(lock, LOCK_EX)
        let pidFile = "\(directory)/pause.pid"
        if let pid = PidFile.read(pidFile), isHolder(pid) {
            return pid
        }
        let pid = try makeHolder(warn: warn)
        let temporary = "\(pidFile).\(getpid())"
        try Data("\(pid)\n".utf8).write(to: URL(fileURLWithPath: temporary))
        rename(temporary, pidFile)
        return pid
    }

    /// A live process of this user's in a user namespace other than ours: the holder (a reused
    /// pid that is anything else is not trusted).
    static func isHolder(_ pid: Int32) -> Bool {
        var info = stat()
        guard pid > 0, stat("/proc/\(pid)", &info) == 0, info.st_uid == getuid() else { return false }
        let theirs = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/user")
        let ours = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/user")
        return theirs != nil && theirs != ours
    }

    static func makeHolder(warn: (String) -> Void) throws -> Int32 {
        let (path, arguments) = pauseProgram()
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: Int32 = 0
        var release: Int32 = -1
        let hidden = OCIRuntime.hybridCgroups ? "/sys/fs/cgroup/unified" : nil
        let failure = argv.withUnsafeBufferPointer { clinuxio_spawn_namespace_holder(path, $0.baseAddress, hidden, &pid, &release) }
        guard failure == 0 else {
            throw RuntimeError.runtime("cannot create a user namespace: \(String(cString: strerror(failure))) (is user.max_user_namespaces 0?)")
        }
        defer { close(release) }
        do {
            try writeMaps(pid, warn: warn)
        } catch {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw error
        }
        var go: UInt8 = 1
        _ = write(release, &go, 1)
        return pid
    }

    /// catatonit's pause mode (what podman runs), else `sleep infinity`.
    static func pauseProgram() -> (String, [String]) {
        for candidate in ["/usr/libexec/podman/catatonit", "/usr/bin/catatonit"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return (candidate, ["-P"])
        }
        return ("/bin/sleep", ["infinity"])
    }

    /// newuidmap/newgidmap with the user's subordinate ranges; without a range (or the
    /// helpers), root alone is mapped, with a warning.
    static func writeMaps(_ pid: Int32, warn: (String) -> Void) throws {
        let uid = getuid()
        let gid = getgid()
        let name = getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? String(uid)
        let subuid = subordinateRange(user: name, id: uid, file: "/etc/subuid")
        let subgid = subordinateRange(user: name, id: uid, file: "/etc/subgid")
        let helpers = ["/usr/bin/newuidmap", "/usr/bin/newgidmap"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
        if let subuid, let subgid, helpers {
            if (subuid.start...subuid.start &+ subuid.count &- 1).contains(uid) {
                throw RuntimeError.invalidArgument("the subordinate uid range of \(name) in /etc/subuid contains its own uid \(uid)")
            }
            for (helper, id, range) in [("/usr/bin/newuidmap", uid, subuid), ("/usr/bin/newgidmap", gid, subgid)] {
                let arguments = ["\(pid)", "0", "\(id)", "1", "1", "\(range.start)", "\(range.count)"]
                let status = try ChildProcess.spawn(helper, arguments).waitBlocking()
                guard status == 0 else {
                    throw RuntimeError.runtime("\(helper) \(arguments.joined(separator: " ")) failed (status \(status)); check /etc/subuid and /etc/subgid for \(name)")
                }
            }
            return
        }
        warn(helpers
            ? "no subordinate ids for \(name) in /etc/subuid and /etc/subgid: only root is mapped in containers (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(name))"
            : "newuidmap/newgidmap are missing: only root is mapped in containers (apt-get install uidmap)")
        for (file, text) in [("setgroups", "deny"), ("uid_map", "0 \(uid) 1\n"), ("gid_map", "0 \(gid) 1\n")] {
            let path = "/proc/\(pid)/\(file)"
            guard let handle = FileHandle(forWritingAtPath: path) else { throw RuntimeError.io(path, String(cString: strerror(errno))) }
            defer { try? handle.close() }
            do { try handle.write(contentsOf: Data(text.utf8)) } catch { throw RuntimeError.io(path, "\(error)") }
        }
    }

    /// The first `name:start:count` line for the user (by name or uid), as shadow's tools read it.
    static func subordinateRange(user: String, id: UInt32, file: String) -> Mapping? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 3, fields[0] == user || fields[0] == String(id), let start = UInt32(fields[1]), let count = UInt32(fields[2]), count > 0 else { continue }
            return Mapping(start: start, count: count)
        }
        return nil
    }
}
