import Foundation
import Runtime
import TestSupport
import Testing

/// `berth run -d` and the verbs for containers that outlive one command (logs, ps, inspect, stop,
/// kill, start, restart, wait, exec, rm -f, container prune, --init, --restart, --log-opt), with
/// the busybox image of `RunCommandTests`, through the real crun and runc as root.
@Suite(.enabled(if: geteuid() == 0 && !TestBackend.scaled && Interop.enabled("busybox") && Interop.enabled("crun") && Interop.enabled("runc") && Interop.enabled("catatonit"),
    "detached containers need root, busybox, crun, runc and catatonit (apt-get install busybox-static crun runc catatonit); not rerun on the scaled backends"))
struct DetachedContainerTests {
    /// A store with the busybox image, and a way to run berth against it; every container is
    /// removed (forcibly) afterwards, so no monitor or container outlives the test.
    struct Bench {
        let berth: BerthCommand
        let image: String
        var root: [String] { ["--root", berth.path("store")] }

        /// Runs `body` with a new bench, cleaned up however it ends; the store on a tmpfs of
        /// `storeMegabytes` when given (a disk that can be filled).
        static func with(storeMegabytes: Int? = nil, _ body: (Bench) async throws -> Void) async throws {
            let berth = try BerthCommand()
            var bench: Bench?
            try await withCleanup {
                if let storeMegabytes {
                    try FileManager.default.createDirectory(atPath: berth.path("store"), withIntermediateDirectories: true)
                    try await Interop.shell("mount -t tmpfs -o size=\(storeMegabytes)m tmpfs '\(berth.path("store"))'")
                }
                bench = try await make(berth)
                try await body(bench!)
            } cleanup: {
                await bench?.cleanup()
                if storeMegabytes != nil { try? await Interop.shell("umount '\(berth.path("store"))'") }
                berth.cleanup()
            }
        }

        static func make(_ berth: BerthCommand) async throws -> Bench {
            let layout = berth.path("layout")
            try await RunCommandTests.busyboxLayout(at: layout)
            try await berth.succeed(["pull", "-q"] + ["--root", berth.path("store")] + ["oci:\(layout):v1"])
            return Bench(berth: berth, image: "localhost/layout:v1")
        }

        /// `--root` after the (sub)command: `ps …`, `container inspect …`.
        private func rooted(_ arguments: [String]) -> [String] {
            let command = arguments.first == "container" ? 2 : 1
            return Array(arguments.prefix(command)) + root + arguments.dropFirst(command)
        }
        func run(_ arguments: [String]) async throws -> Interop.Output { try await berth.run(rooted(arguments)) }
        @discardableResult
        func succeed(_ arguments: [String]) async throws -> Interop.Output { try await berth.succeed(rooted(arguments)) }

        /// Detached: returns the id printed.
        @discardableResult
        func start(_ arguments: [String]) async throws -> String {
            let result = try await succeed(["run", "-d"] + arguments)
            return result.stdout.trimmingCharacters(in: .newlines)
        }

        func inspect(_ name: String) async throws -> [String: Any] {
            let text = try await succeed(["container", "inspect", name]).stdout
            return (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])?.first ?? [:]
        }

        func state(_ name: String) async throws -> [String: Any] { try await inspect(name)["State"] as? [String: Any] ?? [:] }

        /// Polls until `condition` holds on `berth logs NAME` (bounded).
        func logs(_ name: String, until condition: (String) -> Bool) async throws -> String {
            var text = ""
            for _ in 0..<300 {
                text = try await succeed(["logs", name]).stdout
                if condition(text) { return text }
                try await Task.sleep(for: .milliseconds(100))
            }
            return text
        }

        /// True once no monitor of this store runs, within two seconds.
        func noMonitorLeft() async throws -> Bool {
            for _ in 0..<100 {
                let found = try await Interop.run("/usr/bin/pgrep", ["-f", "container monitor --root \(berth.path("store"))"]).stdout
                if found.isEmpty { return true }
                try await Task.sleep(for: .milliseconds(20))
            }
            return false
        }

        /// Removes every container, then checks nothing of them is left: no mount under the
        /// store, no monitor or container process, no runtime state (a leak fails the test).
        func cleanup() async {
            if let ids = try? await run(["ps", "-a", "-q", "--no-trunc"]).stdout.split(separator: "\n") {
                for id in ids { _ = try? await run(["rm", "-f", String(id)]) }
            }
            let store = berth.path("store")
            let mounts = ((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains(store + "/") }
            #expect(mounts.isEmpty, "mounts left: \(mounts)")
            let monitors = (try? await Interop.run("/usr/bin/pgrep", ["-f", "container monitor --root \(store)"]))?.stdout ?? ""
            #expect(monitors.isEmpty, "monitors left: \(monitors)")
            let state = (try? FileManager.default.contentsOfDirectory(atPath: "\(store)/runtime")) ?? []
            #expect(state.isEmpty, "runtime state left: \(state)")
            let containers = (try? FileManager.default.contentsOfDirectory(atPath: "\(store)/containers")) ?? []
            #expect(containers.isEmpty, "container directories left: \(containers)")
            // The dot-file marks the store's names as all claimed (`Containers`), not a name.
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: "\(store)/container-names")) ?? []).filter { !$0.hasPrefix(".") }
            #expect(names.isEmpty, "container names still taken: \(names)")
        }
    }

    @Test(arguments: ["crun", "runc"])
    func detachedLogsPsStopAndWait(runtime: String) async throws {
        try await Bench.with { bench in
            let id = try await bench.start(["--runtime", runtime, "--name", "ticker", bench.image, "sh", "-c", "i=0; while true; do echo tick $i; echo err $i >&2; i=$((i+1)); sleep 0.2; done"])
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit), "\(id)")
            let ps = try await bench.succeed(["ps"]).stdout
            #expect(ps.contains("ticker") && ps.contains("Up "), "\(ps)")
            let logs = try await bench.logs("ticker") { $0.contains("tick 2") }
            #expect(logs.hasPrefix("tick 0\ntick 1\ntick 2\n"), "\(logs)")
            // On disk: conmon's k8s-file records.
            let raw = try String(contentsOfFile: bench.berth.path("store/containers/\(id)/ctr.log"), encoding: .utf8)
            let first = raw.split(separator: "\n").first { $0.hasSuffix("stdout F tick 0") }.map(String.init) ?? ""
            #expect(first.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+00:00 stdout F tick 0$"#, options: .regularExpression) != nil, "\(raw.prefix(300))")
            #expect(raw.contains(" stderr F err 0"), "\(raw.prefix(300))")
            // The last line is stderr's (`err N`), on berth's stderr.
            let tail = try await bench.succeed(["logs", "--tail", "1", "ticker"])
            #expect(tail.stdout.isEmpty && tail.stderr.hasPrefix("err ") && tail.stderr.split(separator: "\n").count == 1, "\(tail.stdout) \(tail.stderr)")
            let stamped = try await bench.succeed(["logs", "-t", "--tail", "2", "ticker"]).stdout
            #expect(stamped.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+\n$"#, options: .regularExpression) != nil, "\(stamped)")

            // sh as PID 1 has no TERM handler: the stop escalates to SIGKILL after -t.
            let began = ContinuousClock.now
            let stopped = try await bench.succeed(["stop", "-t", "1", "ticker"])
            let took = ContinuousClock.now - began
            // Bounds that tell -t 1 from the default 10 s, with room for a loaded machine.
            #expect(took >= .seconds(1) && took < .seconds(9), "\(took)")
            #expect(stopped.stderr.contains("resorting to SIGKILL"), "\(stopped.stderr)")
            #expect(try await bench.succeed(["wait", "ticker"]).stdout == "137\n")
            #expect(!(try await bench.succeed(["ps"]).stdout.contains("ticker")))
            #expect(try await bench.succeed(["ps", "-a"]).stdout.contains("Exited (137)"))
            // Not restarted after a user's stop, even with a policy that would.
            let state = try await bench.state("ticker")
            #expect(state["Status"] as? String == "exited" && state["ExitCode"] as? Int == 137, "\(state)")

            // A handler for TERM: the stop takes no longer than the handler.
            try await bench.start(["--runtime", runtime, "--name", "polite", bench.image, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"])
            let politeBegan = ContinuousClock.now
            try await bench.succeed(["stop", "polite"])
            #expect(ContinuousClock.now - politeBegan < .seconds(9))
            #expect(try await bench.succeed(["wait", "polite"]).stdout == "0\n")
            #expect(((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").contains(bench.berth.path("store/containers/\(id)")) == false)
        }
    }

    @Test func startKeepsTheWritableLayerAndTheLog() async throws {
        try await Bench.with { bench in
            try await bench.start(["--name", "counter", bench.image, "sh", "-c", "echo run >> /data/runs; grep -c run /data/runs"])
            #expect(try await bench.succeed(["wait", "counter"]).stdout == "0\n")
            try await bench.succeed(["start", "counter"])
            #expect(try await bench.succeed(["wait", "counter"]).stdout == "0\n")
            #expect(try await bench.succeed(["logs", "counter"]).stdout == "1\n2\n")
            // restart = stop + start, on a running container too.
            try await bench.start(["--name", "sleeper", bench.image, "sh", "-c", "echo up; exec sleep 300"])
            try await bench.succeed(["restart", "-t", "0", "sleeper"])
            let logs = try await bench.logs("sleeper") { $0 == "up\nup\n" }
            #expect(logs == "up\nup\n")
            #expect(try await bench.state("sleeper")["Status"] as? String == "running")
            // kill: the signal, no wait; the container stays down.
            try await bench.succeed(["kill", "-s", "TERM", "sleeper"])
            try await bench.succeed(["kill", "sleeper"])
            #expect(try await bench.succeed(["wait", "sleeper"]).stdout == "137\n")
            let notRunning = try await bench.run(["kill", "sleeper"])
            #expect(notRunning.status == 125 && notRunning.stderr == "berth: container sleeper is not running\n", "\(notRunning.stderr)")
        }
    }

    @Test func restartPoliciesBackOffAndStopForGood() async throws {
        try await Bench.with { bench in
            try await bench.start(["--name", "flaky", "--restart", "on-failure:2", bench.image, "sh", "-c", "echo try; exit 3"])
            #expect(try await bench.succeed(["wait", "flaky"]).stdout == "3\n")
            let inspected = try await bench.inspect("flaky")
            #expect(inspected["RestartCount"] as? Int == 2, "\(inspected)")
            let raw = try String(contentsOfFile: bench.berth.path("store/containers/\(inspected["Id"] as? String ?? "")/ctr.log"), encoding: .utf8)
            let times = raw.split(separator: "\n").filter { $0.hasSuffix("stdout F try") }.compactMap { line in
                line.split(separator: " ").first.flatMap { Timestamps.parse(String($0)) }
            }
            #expect(times.count == 3, "\(raw)")
            // docker's backoff: 100 ms before the first restart, 200 before the second.
            if times.count == 3 {
                #expect(times[1].timeIntervalSince(times[0]) >= 0.1 && times[2].timeIntervalSince(times[1]) >= 0.2, "\(times)")
            }
            #expect(try await bench.succeed(["ps", "-a"]).stdout.contains("Exited (3)"))

            // always: restarted after a clean exit, but not after stop.
            try await bench.start(["--name", "again", "--restart", "always", bench.image, "sh", "-c", "echo run; sleep 0.3"])
            _ = try await bench.logs("again") { $0.components(separatedBy: "run").count >= 3 }
            try await bench.succeed(["stop", "again"])
            let count = try await bench.succeed(["logs", "again"]).stdout.components(separatedBy: "run").count
            try await Task.sleep(for: .seconds(1))
            #expect(try await bench.state("again")["Status"] as? String == "exited")
            #expect(try await bench.succeed(["logs", "again"]).stdout.components(separatedBy: "run").count == count)
        }
    }

    @Test(arguments: ["crun", "runc"])
    func execJoinsTheContainer(runtime: String) async throws {
        try await Bench.with { bench in
            try await bench.start(["--runtime", runtime, "--name", "box", bench.image, "sleep", "300"])
            let id = try await bench.succeed(["exec", "box", "id"])
            #expect(id.stdout == "uid=0(root) gid=0(root)\n", "\(id.stdout) \(id.stderr)")
            let flags = try await bench.succeed(["exec", "-u", "app", "-w", "/tmp", "-e", "A=1", "box", "sh", "-c", "id; pwd; echo $A $GREETING; grep CapEff /proc/self/status"])
            #expect(flags.stdout == "uid=1000(app) gid=1000(app) groups=2000(extra)\n/tmp\n1 hi\nCapEff:\t0000000000000000\n", "\(flags.stdout) \(flags.stderr)")
            #expect(try await bench.run(["exec", "box", "sh", "-c", "exit 5"]).status == 5)
            let missing = try await bench.run(["exec", "box", "nosuchcmd"])
            #expect(missing.status == 127 && missing.stderr == "berth: nosuchcmd: executable file not found in the image's $PATH\n", "\(missing.stderr)")
            // Every namespace is PID 1's; no_new_privs comes from the container's process (off, as podman).
            let namespaces = try await bench.succeed(["exec", "box", "sh", "-c", "for n in pid mnt net ipc uts; do test $(readlink /proc/1/ns/$n) = $(readlink /proc/self/ns/$n) && echo same; done; grep NoNewPrivs /proc/self/status"])
            #expect(namespaces.stdout == "same\nsame\nsame\nsame\nsame\nNoNewPrivs:\t0\n", "\(namespaces.stdout)")
            // A terminal when stdin is one (script(1) gives it one).
            let berth = "\(Interop.berthBinary) exec -it --root \(bench.berth.path("store")) box tty"
            let terminal = try await Interop.run("/usr/bin/script", ["-qec", berth, "/dev/null"], environment: bench.berth.environment)
            #expect(terminal.stdout.contains("/dev/pts/"), "\(terminal.stdout) \(terminal.stderr)")
            // Detached: returns at once, the process runs on.
            try await bench.succeed(["exec", "-d", "box", "sh", "-c", "sleep 0.2; touch /tmp/detached"])
            try await Task.sleep(for: .seconds(1))
            #expect(try await bench.run(["exec", "box", "test", "-e", "/tmp/detached"]).status == 0)

            try await bench.succeed(["stop", "-t", "0", "box"])
            let stopped = try await bench.run(["exec", "box", "true"])
            #expect(stopped.status == 125 && stopped.stderr.hasPrefix("berth: can only create exec sessions on running containers"), "\(stopped.stderr)")
        }
    }

    @Test func initReapsZombiesAndForwardsSignals() async throws {
        try await Bench.with { bench in
            // Two orphans whose parent exits: PID 1 inherits them when they end.
            let orphans = ["sh", "-c", "(sleep 0.2 &); (sleep 0.2 &); exec sleep 300"]
            let zombies = ["exec", "NAME", "sh", "-c", "cat /proc/[0-9]*/stat | grep -c ') Z ' || true"]
            try await bench.start(["--name", "plain", bench.image] + orphans)
            try await bench.start(["--name", "inited", "--init", bench.image] + orphans)
            try await Task.sleep(for: .seconds(1))
            #expect(try await bench.succeed(zombies.map { $0 == "NAME" ? "plain" : $0 }).stdout == "2\n")
            #expect(try await bench.succeed(zombies.map { $0 == "NAME" ? "inited" : $0 }).stdout == "0\n")
            // The init passes SIGTERM on to sleep, which dies of it: no wait for the timeout.
            let began = ContinuousClock.now
            try await bench.succeed(["stop", "inited"])
            #expect(ContinuousClock.now - began < .seconds(9))
            #expect(try await bench.succeed(["wait", "inited"]).stdout == "143\n")
            let inspected = try await bench.inspect("inited")
            #expect((inspected["Config"] as? [String: Any])?["Init"] as? Bool == true)
            #expect(inspected["Path"] as? String == "sh", "the command is the user's, not the init's: \(inspected)")
            // In the foreground too.
            let foreground = try await bench.run(["run", "--rm", "--init", bench.image, "sh", "-c", "cat /proc/1/cmdline | grep -c berth-init"])
            #expect(foreground.stdout == "1\n", "\(foreground.stdout) \(foreground.stderr)")
        }
    }

    @Test func theLogStaysUnderItsCap() async throws {
        try await Bench.with { bench in
            try await bench.start(["--name", "chatty", "--log-opt", "max-size=4k", bench.image, "sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); done"])
            #expect(try await bench.succeed(["wait", "chatty"]).stdout == "0\n")
            let records = bench.berth.path("store/containers/\((try await bench.inspect("chatty"))["Id"] as? String ?? "")/ctr.log")
            let size = (try FileManager.default.attributesOfItem(atPath: records)[.size] as? Int) ?? 0
            #expect(size > 0 && size <= 4096, "\(size)")
            #expect(try await bench.succeed(["logs", "--tail", "1", "chatty"]).stdout == "line 399\n")
        }
    }

    /// The log's disk fills up: the container goes on, the output that could not be kept is
    /// counted and said (one warning line from `logs`, `LogLoss` in `inspect`), the log holds only
    /// whole lines, the exit status is still recorded, and with space again output is kept again.
    @Test func aFullDiskLosesOutputVisiblyAndKeepsTheExitStatus() async throws {
        try await Bench.with(storeMegabytes: 24) { bench in
            try await bench.start(["--name", "chatty", bench.image, "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); usleep 2000; done"])
            _ = try await bench.logs("chatty") { $0.contains("line 5\n") }
            let filler = bench.berth.path("store/filler")
            try await Interop.shell("dd if=/dev/zero of='\(filler)' bs=64k 2>/dev/null || true")
            func loss() async throws -> [String: Any]? { try await bench.inspect("chatty")["LogLoss"] as? [String: Any] }
            let ongoing = try await eventually { try await loss()?["Ongoing"] as? Bool == true }
            let inspected = try await bench.inspect("chatty")
            #expect(ongoing, "\(inspected)")
            #expect(try await bench.state("chatty")["Status"] as? String == "running")

            let logs = try await bench.succeed(["logs", "chatty"])
            let lines = logs.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            // Whole lines, in order and without a gap up to where the disk filled.
            #expect(!lines.isEmpty && lines.enumerated().allSatisfy { $0.element == "line \($0.offset)" }, "\(logs.stdout.suffix(300))")
            #expect(logs.stderr.split(separator: "\n").count == 1 && logs.stderr.contains("chatty's output is not being logged since")
                && logs.stderr.contains("No space left on device"), "\(logs.stderr)")

            // Stopped on the full disk: its exit status is recorded all the same.
            try await bench.succeed(["stop", "-t", "1", "chatty"])
            #expect(try await bench.succeed(["wait", "chatty"]).stdout == "137\n")
            let lost = try #require(try await loss())
            #expect(lost["Ongoing"] as? Bool == false && (lost["Bytes"] as? Int ?? 0) > 0, "\(lost)")
            #expect(try await bench.succeed(["logs", "chatty"]).stderr.contains("bytes of chatty's output were not logged (No space left on device"))

            // Space again: the next run's output is kept after the first run's.
            try FileManager.default.removeItem(atPath: filler)
            try await bench.succeed(["start", "chatty"])
            let again = try await bench.logs("chatty") { $0.components(separatedBy: "line 3\n").count == 3 }
            #expect(again.components(separatedBy: "line 3\n").count == 3, "\(again.suffix(300))")
        }
    }

    @Test func publishedPortsReachTheContainer() async throws {
        try await Bench.with { bench in
            let www = bench.berth.path("www")
            try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
            try Data("served from the container\n".utf8).write(to: URL(fileURLWithPath: "\(www)/index.html"))
            let port = try freePort()
            let curl = try Interop.tool("curl")
            func get(_ port: Int) async throws -> Interop.Output { try await Interop.run(curl, ["-s", "-m", "5", "http://127.0.0.1:\(port)/index.html"]) }
            // httpd listens on the container's own loopback only: the proxy reaches it there.
            try await bench.start(["--name", "web", "-p", "127.0.0.1:\(port):80", "-v", "\(www):/www:ro", bench.image, "httpd", "-f", "-p", "127.0.0.1:80", "-h", "/www"])
            var page = try await get(port)
            for _ in 0..<300 where page.stdout.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                page = try await get(port)
            }
            #expect(page.stdout == "served from the container\n", "\(page.stdout) \(page.stderr)")
            #expect(try await get(port).stdout == "served from the container\n", "a second connection")
            #expect(try await bench.succeed(["ps"]).stdout.contains("127.0.0.1:\(port)->80/tcp"))
            let bindings = (try await bench.inspect("web")["NetworkSettings"] as? [String: Any])?["Ports"] as? [String: Any]
            #expect(((bindings?["80/tcp"] as? [[String: Any]])?.first?["HostPort"] as? String) == String(port), "\(String(describing: bindings))")
            // The port is taken: a second container fails at once and leaves nothing.
            let taken = try await bench.run(["run", "-d", "--name", "web2", "-p", "127.0.0.1:\(port):80", bench.image, "sleep", "300"])
            #expect(taken.status == 125 && taken.stderr.contains("cannot publish 127.0.0.1:\(port)") && taken.stderr.contains("in use"), "\(taken.stderr)")
            #expect(!(try await bench.succeed(["ps", "-a"]).stdout.contains("web2")))
            try await bench.succeed(["rm", "-f", "web"])
            #expect(try await get(port).status == 7, "nothing listens once the container is gone")

            // -P: the image's EXPOSE 80 on a free port; in the foreground too.
            try await bench.start(["--name", "all", "-P", "-v", "\(www):/www:ro", bench.image, "httpd", "-f", "-p", "80", "-h", "/www"])
            let published = try await bench.succeed(["ps", "--format", "json"]).stdout
            let chosen = ((try JSONSerialization.jsonObject(with: Data(published.utf8)) as? [[String: Any]])?.first?["Ports"] as? [[String: Any]])?.first?["host_port"] as? Int
            #expect(chosen != nil && chosen != 0, "\(published)")
            if let chosen {
                var answer = try await get(chosen)
                for _ in 0..<300 where answer.stdout.isEmpty {
                    try await Task.sleep(for: .milliseconds(100))
                    answer = try await get(chosen)
                }
                #expect(answer.stdout == "served from the container\n")
            }
            let foregroundPort = try freePort()
            async let foreground = bench.run(["run", "--rm", "-p", "127.0.0.1:\(foregroundPort):80", "-v", "\(www):/www:ro", bench.image, "sh", "-c", "httpd -p 80 -h /www; sleep 3"])
            var reply = try await get(foregroundPort)
            for _ in 0..<100 where reply.stdout.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                reply = try await get(foregroundPort)
            }
            #expect(reply.stdout == "served from the container\n", "foreground: \(reply.stderr)")
            #expect(try await foreground.status == 0)
            #expect(try await get(foregroundPort).status == 7)
        }
    }

    /// UDP through the proxy: a static echo server (built here) on the container's loopback.
    @Test(.enabled(if: Interop.enabled("gcc"), "needs gcc to build the UDP echo server"))
    func publishedUDPPortsReachTheContainer() async throws {
        try await Bench.with { bench in
            let directory = bench.berth.path("udp")
            try FileManager.default.createDirectory(atPath: "\(directory)/root/bin", withIntermediateDirectories: true)
            try Data("""
                #include <arpa/inet.h>
                #include <ctype.h>
                #include <stdlib.h>
                #include <sys/socket.h>
                int main(int argc, char **argv) {
                    int s = socket(AF_INET, SOCK_DGRAM, 0);
                    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
                    char b[2048];
                    for (;;) {
                        struct sockaddr_in p;
                        socklen_t l = sizeof p;
                        ssize_t n = recvfrom(s, b, sizeof b, 0, (struct sockaddr *)&p, &l);
                        for (ssize_t i = 0; i < n; i++) b[i] = toupper((unsigned char)b[i]);
                        if (n > 0) sendto(s, b, n, 0, (struct sockaddr *)&p, l);
                    }
                }
                """.utf8).write(to: URL(fileURLWithPath: "\(directory)/echo.c"))
            try await Interop.shell("gcc -static -O2 -o \(directory)/root/bin/udpecho \(directory)/echo.c && tar -C \(directory)/root --numeric-owner -cf \(directory)/layer.tar .")
            let layout = bench.berth.path("udp-layout")
            try await RunCommandTests.busyboxLayout(at: layout, extraLayers: [Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/layer.tar")))])
            let port = try freePort()
            try await bench.start(["--name", "echo", "-p", "127.0.0.1:\(port):5353/udp", "oci:\(layout):v1", "udpecho", "5353"])
            #expect(try await bench.succeed(["ps"]).stdout.contains("127.0.0.1:\(port)->5353/udp"))
            let answer = try await offThread { () -> String in
                let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                defer { close(fd) }
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = UInt16(port).bigEndian
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                var reply = [UInt8](repeating: 0, count: 64)
                // The server may still be starting: ask again, boundedly.
                for _ in 0..<50 {
                    _ = send(fd, "ping", 4, 0)
                    var waiting = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
                    if poll(&waiting, 1, 200) == 1 {
                        let n = recv(fd, &reply, reply.count, 0)
                        if n > 0 { return String(decoding: reply.prefix(n), as: UTF8.self) }
                    }
                }
                return ""
            }
            #expect(answer == "PING")
            try await bench.succeed(["rm", "-f", "echo"])
        }
    }

    @Test func slirp4netnsReachesTheHostOnlyWhenAllowed() async throws {
        try await Bench.with { bench in
            // A server on the host's loopback only.
            let served = bench.berth.path("served")
            try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
            try Data("from the host\n".utf8).write(to: URL(fileURLWithPath: "\(served)/hello.txt"))
            let server = try await StaticHTTPServer(directory: served)
            defer { server.stop() }
            let port = server.port
            let curl = try Interop.tool("curl")
            for _ in 0..<300 where try await Interop.run(curl, ["-s", "http://127.0.0.1:\(port)/hello.txt"]).status != 0 { try await Task.sleep(for: .milliseconds(100)) }
            let url = "http://10.0.2.2:\(port)/hello.txt"
            // In the foreground the network is up before the process starts: the first request works.
            let allowed = try await bench.run(["run", "--rm", "--network", "slirp4netns:allow_host_loopback=true", bench.image, "sh", "-c",
                "ip -o -4 addr show tap0 | grep -o '10.0.2.100/24'; wget -q -O - \(url); cat /etc/resolv.conf"])
            #expect(allowed.stdout == "10.0.2.100/24\nfrom the host\nnameserver 10.0.2.3\n", "\(allowed.stdout) \(allowed.stderr)")
            // podman's default: the host's loopback is not reachable.
            let denied = try await bench.run(["run", "--rm", "--network", "slirp4netns", bench.image, "wget", "-q", "-T", "3", "-O", "-", url])
            #expect(denied.status != 0 && denied.stdout.isEmpty, "\(denied.stdout)")
            // Detached: the monitor brings the network up before starting it, too.
            try await bench.start(["--name", "net", "--network", "slirp4netns:allow_host_loopback=true", bench.image, "sh", "-c", "wget -q -O - \(url); exec sleep 300"])
            #expect(try await bench.logs("net") { !$0.isEmpty } == "from the host\n")
            #expect((try await bench.inspect("net")["NetworkSettings"] as? [String: Any])?["Mode"] as? String == "slirp4netns:allow_host_loopback=true")
            try await bench.succeed(["rm", "-f", "net"])
            #expect(try await Interop.run("/usr/bin/pgrep", ["-f", "slirp4netns.*tap0"]).stdout.isEmpty, "slirp4netns outlived its container")
        }
    }

    @Test func aKilledMonitorLeavesNoSilentOrphan() async throws {
        try await Bench.with { bench in
            try await bench.start(["--name", "lonely", bench.image, "sleep", "300"])
            let state = try await bench.state("lonely")
            let monitor = Int32(state["ConmonPid"] as? Int ?? 0)
            let container = Int32(state["Pid"] as? Int ?? 0)
            #expect(monitor > 0 && container > 0, "\(state)")
            kill(monitor, SIGKILL)
            for _ in 0..<50 where kill(monitor, 0) == 0 { try await Task.sleep(for: .milliseconds(20)) }
            let ps = try await bench.succeed(["ps"]).stdout
            #expect(ps.contains("(monitor died: berth rm -f lonely)"), "\(ps)")
            let refused = try await bench.run(["rm", "lonely"])
            #expect(refused.status == 2 && refused.stderr.contains("is running"), "\(refused.stderr)")
            try await bench.succeed(["rm", "-f", "lonely"])
            for _ in 0..<50 where kill(container, 0) == 0 && !(((try? String(contentsOfFile: "/proc/\(container)/stat", encoding: .utf8)) ?? "").contains(") Z ")) {
                try await Task.sleep(for: .milliseconds(20))
            }
            let stat = (try? String(contentsOfFile: "/proc/\(container)/stat", encoding: .utf8)) ?? ""
            #expect(stat.isEmpty || stat.contains(") Z "), "the container outlived rm -f: \(stat)")
            #expect(!((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").contains(bench.berth.path("store")))
        }
    }

    /// Several `run --name` of one name at once, as CI scripts do: exactly one container gets it.
    @Test func aNameGoesToOneOfManyRunsAtOnce() async throws {
        try await Bench.with { bench in
            let results = try await withThrowingTaskGroup(of: Interop.Output.self) { group in
                for _ in 0..<6 { group.addTask { try await bench.run(["run", "-d", "--name", "only", bench.image, "sleep", "300"]) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let won = results.filter { $0.status == 0 }
            #expect(won.count == 1, "\(results.map { "\($0.status) \($0.stderr)" })")
            #expect(results.filter { $0.status == 125 && $0.stderr.contains("the container name only is already in use") }.count == 5,
                    "\(results.map { "\($0.status) \($0.stderr)" })")
            #expect(try await bench.succeed(["ps", "-a", "-q"]).stdout.split(separator: "\n").count == 1)
            // Removed, the name is free again.
            try await bench.succeed(["rm", "-f", "only"])
            try await bench.start(["--name", "only", bench.image, "true"])
        }
    }

    /// `--format` templates as podman users write them (the outputs below are what podman 4.3
    /// printed for the same templates on this machine, where it has the field).
    @Test func formatTemplatesReadTheContainersFields() async throws {
        try await Bench.with { bench in
            try await bench.start(["--name", "tpl", "-p", "127.0.0.1::80", bench.image, "sleep", "300"])
            try await bench.start(["--name", "tpl2", bench.image, "sleep", "300"])
            func output(_ arguments: [String]) async throws -> String { try await bench.succeed(arguments).stdout }
            #expect(try await output(["container", "inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.Config.Cmd}} {{json .Config.Cmd}}", "tpl", "tpl2"])
                == String(repeating: "running true [sleep 300] [\"sleep\",\"300\"]\n", count: 2))
            let port = try await output(["container", "inspect", "--format", "{{range $p, $b := .NetworkSettings.Ports}}{{$p}}={{(index $b 0).HostIp}}{{end}}", "tpl"])
            #expect(port == "80/tcp=127.0.0.1\n")
            #expect(try await output(["inspect", "-f", "{{.Name}}", "tpl"]) == "tpl\n")
            let names = try await output(["ps", "--format", "{{.Names}} {{.State}}"])
            #expect(names.split(separator: "\n").sorted() == ["tpl running", "tpl2 running"], "\(names)")
            let table = try await output(["ps", "--format", "table {{.Names}}\\t{{.Ports}}"]).split(separator: "\n")
            #expect(table.first == "NAMES  PORTS" && table.count == 3, "\(table)")
            #expect(table.contains { $0.hasPrefix("tpl    127.0.0.1:") && $0.hasSuffix("->80/tcp") }, "\(table)")
            #expect(try await output(["images", "--format", "{{.Repository}}:{{.Tag}} {{len .Digest}}"]) == "localhost/layout:v1 71\n")
            #expect(try await output(["images", "--format", "table {{.Repository}}\\t{{.Tag}}"]) == "REPOSITORY        TAG\nlocalhost/layout  v1\n")
            #expect(try await output(["images", "--format", "json"]).contains("\"localhost/layout:v1\""))
            // A mistake in a template is podman's 125, in one line, before anything is printed.
            for arguments in [["images", "--format", "{{.Repository"], ["ps", "--format", "{{.Names"], ["container", "inspect", "-f", "{{nosuch .Name}}", "tpl"], ["ps", "--format", "{{.Names.First}}"]] {
                let result = try await bench.run(arguments)
                #expect(result.status == 125 && result.stdout.isEmpty && result.stderr.hasPrefix("berth: template: ") && result.stderr.split(separator: "\n").count == 1,
                        "\(arguments): \(result.status) \(result.stderr)")
            }
        }
    }

    /// `ps --filter` as podman's: alternatives within a key, all keys at once, a status filter
    /// reaching past the running-only default.
    @Test func psFiltersAsPodmanDoes() async throws {
        try await Bench.with { bench in
            let web1 = try await bench.start(["--name", "web1", bench.image, "sleep", "300"])
            try await bench.start(["--name", "web2", bench.image, "sh", "-c", "exit 3"])
            #expect(try await bench.succeed(["wait", "web2"]).stdout == "3\n")
            try await bench.start(["--name", "db", bench.image, "sleep", "300"])
            func names(_ filters: [String], all: Bool = false) async throws -> [String] {
                let arguments = ["ps", "--format", "{{.Names}}"] + (all ? ["-a"] : []) + filters.flatMap { ["--filter", $0] }
                return try await bench.succeed(arguments).stdout.split(separator: "\n").map(String.init).sorted()
            }
            #expect(try await names(["name=web"]) == ["web1"])
            #expect(try await names(["name=web"], all: true) == ["web1", "web2"])
            #expect(try await names(["status=exited"]) == ["web2"])
            #expect(try await names(["exited=3"]) == ["web2"])
            #expect(try await names(["exited=0"]).isEmpty)
            #expect(try await names(["name=^db$", "name=web1"], all: true) == ["db", "web1"])
            #expect(try await names(["name=web", "status=running"], all: true) == ["web1"])
            #expect(try await names(["id=\(web1.prefix(6))"]) == ["web1"])
            #expect(try await names(["ancestor=localhost/layout"], all: true) == ["db", "web1", "web2"])
            for (filter, message) in [
                ("bogus=1", "invalid filter 'bogus'"), ("status=sleeping", "invalid --filter status 'sleeping'"),
                ("name=[", "not a regular expression"), ("nokey", "invalid filter 'nokey' (KEY=VALUE)"), ("exited=x", "not an exit code"),
            ] {
                let result = try await bench.run(["ps", "--filter", filter])
                #expect(result.status == 125 && result.stderr.contains(message) && result.stdout.isEmpty, "\(filter): \(result.status) \(result.stderr)")
            }
        }
    }

    /// `rm` as podman 4.3 does it (checked against it on this machine): a name that does not exist
    /// removes nothing and exits 1, a running container without -f is kept with exit 2 while the
    /// others go, -i ignores the missing, -a takes every container.
    @Test func rmExitsAndRemovesAsPodmanDoes() async throws {
        try await Bench.with { bench in
            try await bench.succeed(["run", "--name", "done1", bench.image, "true"])
            try await bench.succeed(["run", "--name", "done2", bench.image, "true"])
            try await bench.start(["--name", "up", bench.image, "sleep", "300"])
            func names() async throws -> [String] {
                try await bench.succeed(["ps", "-a", "--format", "json"]).stdout.components(separatedBy: "\"Names\" : [").dropFirst()
                    .compactMap { $0.split(separator: "\"").dropFirst().first.map(String.init) }.sorted()
            }

            var result = try await bench.run(["rm", "nosuch", "done1", "nosuch2"])
            #expect(result.status == 1 && result.stdout.isEmpty, "\(result.status) \(result.stdout)")
            #expect(result.stderr.split(separator: "\n").map { $0.hasPrefix("berth: no container with name or ID \"nosuch") } == [true, true], "\(result.stderr)")
            #expect(try await names() == ["done1", "done2", "up"])

            result = try await bench.run(["rm", "up", "done1"])
            #expect(result.status == 2 && result.stdout == "done1\n" && result.stderr.contains("container up is running"), "\(result.status) \(result.stderr)")
            #expect(try await names() == ["done2", "up"])

            result = try await bench.run(["rm", "-i", "nosuch", "done2"])
            #expect(result.status == 0 && result.stdout == "done2\n", "\(result.status) \(result.stderr)")
            for (arguments, message) in [
                (["rm"], "rm needs a CONTAINER"), (["rm", "-a", "up"], "when using the --all switch"),
                (["rm", "-t", "3", "up"], "--force must be specified"), (["rm", "-f", "--time=-1", "up"], "--time must not be negative"),
            ] {
                result = try await bench.run(arguments)
                #expect(result.status == 125 && result.stderr.contains(message), "\(arguments): \(result.status) \(result.stderr)")
            }
            #expect(try await names() == ["up"])
            // -f -t: the stop signal first (sleep as PID 1 ignores TERM), SIGKILL after the wait.
            let began = ContinuousClock.now
            result = try await bench.run(["rm", "-a", "-f", "-t", "1"])
            #expect(result.status == 0 && result.stdout.count == 33, "\(result.status) \(result.stdout) \(result.stderr)")
            #expect(ContinuousClock.now - began >= .seconds(1))
            #expect(try await names().isEmpty)
        }
    }

    @Test func mistakesAreOneLineWithPodmansStatus() async throws {
        try await Bench.with { bench in
            func fails(_ arguments: [String], _ status: Int32, _ message: String) async throws {
                let result = try await bench.run(arguments)
                #expect(result.status == status && result.stderr.contains(message) && result.stderr.split(separator: "\n").count == 1,
                        "\(arguments): \(result.status) \(result.stderr)")
            }
            try await fails(["run", "-d", "--restart", "sometimes", bench.image, "true"], 125, "invalid --restart 'sometimes'")
            try await fails(["run", "--restart", "always", bench.image, "true"], 125, "--restart needs -d")
            try await fails(["run", "-d", "--log-opt", "max-size=lots", bench.image, "true"], 125, "invalid --log-opt")
            try await fails(["run", "-d", "--stop-signal", "SIGNOPE", bench.image, "true"], 125, "invalid --stop-signal")
            try await fails(["run", "-d", "--init-path", "/nonexistent", bench.image, "true"], 125, "not an executable file")
            try await fails(["run", "-d", bench.image, "nosuchcmd"], 127, "executable file not found")
            // Its monitor, started before the command was found missing, was let go and is gone.
            #expect(try await bench.noMonitorLeft(), "the monitor of a run -d that failed is still running")
            try await fails(["run", "-d", "-p", "80:80:80:80", bench.image, "true"], 125, "invalid -p '80:80:80:80'")
            try await fails(["run", "-d", "-p", "127.0.0.1:8080:80/sctp", bench.image, "true"], 125, "protocol sctp (tcp, udp)")
            try await fails(["run", "-d", "--network", "host", "-p", "8080:80", bench.image, "true"], 125, "with --network host")
            try await fails(["run", "-d", "--network", "slirp4netns:mtu=9000", bench.image, "true"], 125, "unsupported slirp4netns option 'mtu=9000'")
            try await fails(["run", "-d", "--network", "bridge", bench.image, "true"], 125, "unsupported --network 'bridge'")
            try await fails(["stop", "nosuch"], 125, "no container with name or ID \"nosuch\" found")
            try await fails(["kill", "-s", "BOGUS", "nosuch"], 125, "invalid signal 'BOGUS'")
            try await fails(["logs", "--since", "yesterday", "nosuch"], 125, "no container with name or ID")
            #expect(try FileManager.default.contentsOfDirectory(atPath: bench.berth.path("store/containers")).isEmpty, "a failed run left a container")

            try await bench.succeed(["run", "--name", "fg", bench.image, "true"])
            try await fails(["logs", "fg"], 125, "it ran in the foreground")
            try await bench.start(["--name", "busy", bench.image, "sleep", "300"])
            try await fails(["rm", "busy"], 2, "container busy is running")
            // A typo among the names leaves every container as it was, as in podman.
            try await fails(["stop", "busy", "nosuch"], 125, "no container with name or ID \"nosuch\" found")
            #expect(try await bench.state("busy")["Status"] as? String == "running")
            try await fails(["logs", "--since", "yesterday", "busy"], 125, "invalid --since 'yesterday'")
            // Prune removes what does not run and keeps what does.
            let pruned = try await bench.succeed(["container", "prune", "-f"]).stdout
            #expect(pruned.split(separator: "\n").count == 1)
            #expect(try await bench.succeed(["ps", "-a", "--format", "json"]).stdout.contains("\"busy\""))
            try await bench.succeed(["rm", "-f", "busy"])
            #expect(try await bench.succeed(["ps", "-a", "-q"]).stdout.isEmpty)
            #expect(!((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").contains(bench.berth.path("store")))
        }
    }
}
