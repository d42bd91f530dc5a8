import Foundation

/// The seccomp filter a container runs under, in runtime-spec form (`linux.seccomp`).
struct SeccompFilter: Codable, Equatable {
    struct Argument: Codable, Equatable {
        var index: UInt
        var value: UInt64
        var valueTwo: UInt64?
        var op: String
    }
    struct Rule: Codable, Equatable {
        var names: [String]
        var action: String
        var errnoRet: UInt?
        var args: [Argument]?
    }
    var defaultAction: String
    var defaultErrnoRet: UInt?
    var architectures: [String]
    var syscalls: [Rule]
}

/// A seccomp profile in the containers-common / docker format (`seccomp.json`): rules that apply
/// only on some architectures, with or without some capabilities, from some kernel on; made
/// into the filter for one container as podman does (containers/common `pkg/seccomp`).
struct SeccompProfile: Decodable {
    struct ArchitectureMap: Decodable {
        var architecture: String
        var subArchitectures: [String]?
    }
    struct Filter: Decodable {
        var arches: [String]?
        var caps: [String]?
        var minKernel: String?
    }
    struct Group: Decodable {
        var names: [String]?
        var name: String?
        var action: String
        var errnoRet: UInt?
        var args: [SeccompFilter.Argument]?
        var includes: Filter?
        var excludes: Filter?
    }
    var defaultAction: String
    var defaultErrnoRet: UInt?
    var archMap: [ArchitectureMap]?
    var architectures: [String]?
    var syscalls: [Group]?

    /// Where podman's default profile lives on Debian (package golang-github-containers-common).
    static let systemDefault = "/usr/share/containers/seccomp.json"

    /// The profile at `path`, or a clear error naming the file.
    static func load(_ path: String) throws(RuntimeError) -> SeccompProfile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { throw .io(path, "cannot read the seccomp profile: \(error.localizedDescription)") }
        do { return try JSONDecoder().decode(SeccompProfile.self, from: data) } catch {
            throw .invalidArgument("\(path) is not a seccomp profile: \(error)")
        }
    }

    /// The filter for a container with `capabilities` on this machine's architecture and kernel.
    func filter(capabilities: [String], machine: String = Self.machine, kernel: String = Self.kernel) -> SeccompFilter {
        let arch = Self.goArchitecture(machine)
        let native = Self.nativeArchitecture(machine)
        var architectures = architectures ?? []
        if let entry = archMap?.first(where: { $0.architecture == native }) { architectures = [entry.architecture] + (entry.subArchitectures ?? []) }
        let held = Set(capabilities)
        let rules: [SeccompFilter.Rule] = (syscalls ?? []).compactMap { group in
            if let arches = group.includes?.arches, !arches.isEmpty, !arches.contains(arch) { return nil }
            if let arches = group.excludes?.arches, arches.contains(arch) { return nil }
            if let caps = group.includes?.caps, !caps.isEmpty, !caps.allSatisfy(held.contains) { return nil }
            if let caps = group.excludes?.caps, caps.contains(where: held.contains) { return nil }
            if let minimum = group.includes?.minKernel, Self.compare(kernel, minimum) < 0 { return nil }
            let names = group.names ?? group.name.map { [$0] } ?? []
            guard !names.isEmpty else { return nil }
            return SeccompFilter.Rule(names: names, action: group.action, errnoRet: group.errnoRet, args: group.args?.isEmpty == false ? group.args : nil)
        }
        return SeccompFilter(defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet, architectures: architectures, syscalls: rules)
    }

    /// This machine's `uname -m` and `uname -r`.
    static let (machine, kernel): (String, String) = {
        var name = utsname()
        uname(&name)
        func text<T>(_ field: inout T) -> String { withUnsafeBytes(of: &field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
        return (text(&name.machine), text(&name.release))
    }()

    /// Go's names, which the profile's `arches` use.
    static func goArchitecture(_ machine: String) -> String {
        ["x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"][machine] ?? machine
    }

    /// libseccomp's name for this machine, as `archMap` keys it.
    static func nativeArchitecture(_ machine: String) -> String {
        ["x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "i686": "SCMP_ARCH_X86", "armv7l": "SCMP_ARCH_ARM", "ppc64le": "SCMP_ARCH_PPC64LE",
         "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64"][machine] ?? "SCMP_ARCH_NATIVE"
    }

    /// Compares dotted kernel versions numerically (`6.18.0-foo` against `4.8`).
    static func compare(_ a: String, _ b: String) -> Int {
        func parts(_ text: String) -> [Int] { text.split(whereSeparator: { !$0.isNumber }).prefix(3).map { Int($0) ?? 0 } }
        let (x, y) = (parts(a), parts(b))
        for index in 0..<max(x.count, y.count) {
            let (left, right) = (index < x.count ? x[index] : 0, index < y.count ? y[index] : 0)
            if left != right { return left < right ? -1 : 1 }
        }
        return 0
    }

    /// Without containers-common's file: default allow, and what docker's and podman's profiles
    /// deny: kernel modules and kexec, the old BPF and perf interfaces, userfaultfd, vmsplice,
    /// keyrings, swap and the obsolete calls always; mounts and new namespaces unless the
    /// container has CAP_SYS_ADMIN. Smaller than theirs (an allow list of ~370 calls).
    static let builtIn = SeccompProfile(
        defaultAction: "SCMP_ACT_ALLOW", defaultErrnoRet: nil, archMap: nil, architectures: nil,
        syscalls: [
            Group(
                names: [
                    "acct", "add_key", "bpf", "delete_module", "finit_module", "init_module", "kexec_file_load", "kexec_load", "keyctl",
                    "lookup_dcookie", "migrate_pages", "move_pages", "nfsservctl", "open_by_handle_at", "perf_event_open", "quotactl",
                    "reboot", "request_key", "swapoff", "swapon", "sysfs", "uselib", "userfaultfd", "ustat", "vm86", "vm86old", "vmsplice",
                ], name: nil, action: "SCMP_ACT_ERRNO", errnoRet: 1, args: nil, includes: nil, excludes: nil),
            Group(
                names: ["fsconfig", "fsmount", "fsopen", "fspick", "mount", "mount_setattr", "move_mount", "open_tree", "pivot_root", "setns", "umount", "umount2", "unshare"],
                name: nil, action: "SCMP_ACT_ERRNO", errnoRet: 1, args: nil, includes: nil, excludes: Filter(arches: nil, caps: ["CAP_SYS_ADMIN"], minKernel: nil)),
        ])
}
