import Foundation
import Testing
import TestSupport

/// podman's security defaults and options in `berth run` and `exec`: the containers-common
/// seccomp profile by default, `--security-opt seccomp=unconfined|PROFILE`, `no-new-privileges`,
/// `--privileged`; through crun and runc, as root.
@Suite(.enabled(if: geteuid() == 0 && !TestBackend.scaled && Interop.enabled("busybox") && Interop.enabled("crun") && Interop.enabled("runc") && Interop.enabled("gcc"),
    "needs root, busybox, crun, runc and gcc (a static probe program is built)"))
struct SecurityOptionsTests {
    /// A static program calling vmsplice(2), which podman's profile denies with EPERM and which
    /// otherwise works for any process: the filter, not a capability, is what stops it.
    static func probeLayer(in directory: String) async throws -> [UInt8] {
        let source = "\(directory)/vms.c"
        try Data("""
            #define _GNU_SOURCE
            #include <errno.h>
            #include <fcntl.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/uio.h>
            #include <unistd.h>
            int main(void) {
                int p[2];
                if (pipe(p) != 0) return 2;
                struct iovec v = {"x", 1};
                if (vmsplice(p[1], &v, 1, 0) < 0) { printf("vmsplice: %s\\n", strerror(errno)); return 1; }
                printf("vmsplice: allowed\\n");
                return 0;
            }
            """.utf8).write(to: URL(fileURLWithPath: source))
        try await Interop.shell("mkdir -p \(directory)/probe/bin && gcc -static -O2 -o \(directory)/probe/bin/vms \(source) && tar -C \(directory)/probe --numeric-owner -cf \(directory)/probe.tar .")
        return Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/probe.tar")))
    }

    @Test(arguments: ["crun", "runc"])
    func seccompNoNewPrivilegesAndPrivilegedAsPodmanHasThem(runtime: String) async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let layout = berth.path("layout")
        try await RunCommandTests.busyboxLayout(at: layout, extraLayers: [try await Self.probeLayer(in: berth.path(""))])
        let root = ["--root", berth.path("store")]
        func run(_ arguments: [String]) async throws -> Interop.Output {
            try await berth.run(["run", "-q", "--rm", "--runtime", runtime] + root + arguments)
        }
        // Seccomp, then NoNewPrivs, then CapEff, one per line.
        let status = "for f in Seccomp NoNewPrivs CapEff; do grep \"^$f:\" /proc/self/status | tr -d '\\t'; done"

        // The default: podman's profile (Seccomp 2), setuid programs left working (NoNewPrivs 0),
        // podman's eleven capabilities (what podman 4.3's containers here show) and its ping sysctl.
        let standard = try await run(["oci:\(layout):v1", "sh", "-c", "\(status); cat /proc/sys/net/ipv4/ping_group_range; vms"])
        #expect(standard.stdout.hasPrefix("Seccomp:2\nNoNewPrivs:0\nCapEff:00000000800405fb\n0\t0\n"), "\(standard.stdout) \(standard.stderr)")
        #expect(standard.status == 1 && standard.stdout.hasSuffix("vmsplice: Operation not permitted\n"), "\(standard.stdout)")

        let unconfined = try await run(["--security-opt", "seccomp=unconfined", "oci:\(layout):v1", "sh", "-c", "\(status); vms"])
        #expect(unconfined.stdout.hasPrefix("Seccomp:0\n") && unconfined.stdout.hasSuffix("vmsplice: allowed\n"), "\(unconfined.stdout) \(unconfined.stderr)")

        let strict = try await run(["--security-opt", "no-new-privileges", "oci:\(layout):v1", "sh", "-c", status])
        #expect(strict.stdout.contains("NoNewPrivs:1"), "\(strict.stdout)")

        // A profile of one's own, in the same format: filtered (mode 2) but allowing the call.
        let profile = berth.path("allow-all.json")
        try Data(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#.utf8)
            .write(to: URL(fileURLWithPath: profile))
        let custom = try await run(["--security-opt", "seccomp=\(profile)", "oci:\(layout):v1", "sh", "-c", "\(status); vms; touch /made && echo touched"])
        #expect(custom.stdout.hasPrefix("Seccomp:2\n") && custom.stdout.contains("vmsplice: allowed\ntouched\n"), "\(custom.stdout) \(custom.stderr)")

        // --privileged: this process's whole bounding set, no filter, nothing masked, host devices.
        let bounding = try String(contentsOfFile: "/proc/self/status", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("CapBnd:") }.map { $0.dropFirst("CapBnd:".count).trimmingCharacters(in: .whitespaces) } ?? "?"
        let privileged = try await run(["--privileged", "oci:\(layout):v1", "sh", "-c", "\(status); vms; test -e /dev/kmsg && echo host-devices; cat /proc/kcore >/dev/null 2>&1 && echo unmasked"])
        #expect(privileged.stdout.hasPrefix("Seccomp:0\nNoNewPrivs:0\nCapEff:\(bounding)\n"), "\(privileged.stdout) \(privileged.stderr)")
        #expect(privileged.stdout.contains("vmsplice: allowed\nhost-devices\n"), "\(privileged.stdout)")

        // exec runs under the container's filter; --privileged widens only its capabilities.
        try await berth.succeed(["run", "-d", "-q", "--name", "sec", "--runtime", runtime] + root + ["oci:\(layout):v1", "sleep", "300"])
        let exec = try await berth.run(["exec"] + root + ["sec", "sh", "-c", "\(status); vms"])
        let wide = try await berth.run(["exec", "--privileged"] + root + ["sec", "sh", "-c", status])
        try await berth.succeed(["rm", "-f"] + root + ["sec"])
        #expect(exec.stdout.hasPrefix("Seccomp:2\n") && exec.stdout.hasSuffix("vmsplice: Operation not permitted\n"), "\(exec.stdout) \(exec.stderr)")
        #expect(wide.stdout.contains("CapEff:\(bounding)"), "\(wide.stdout) \(wide.stderr)")

        let bad = try await berth.run(["run", "-q", "--rm", "--security-opt", "apparmor=x"] + root + ["oci:\(layout):v1", "true"])
        #expect(bad.status == 125 && bad.stderr.contains("unsupported --security-opt 'apparmor=x'"), "\(bad.stderr)")
    }
}
