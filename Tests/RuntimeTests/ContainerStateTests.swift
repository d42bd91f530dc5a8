import Foundation
import Testing

@testable import Runtime

/// The pure parts of detached containers: the k8s-file log, times, restart policies, signals.
@Suite struct ContainerStateTests {
    @Test func recordsSplitLinesAndMarkTheUnfinishedOne() {
        let records = KubeLog.records(Array("out1\nout2\npart".utf8)[...], stream: .stdout, timestamp: "T")
        #expect(String(decoding: records, as: UTF8.self) == "T stdout F out1\nT stdout F out2\nT stdout P part\n")
        let empty = KubeLog.records(Array("\n".utf8)[...], stream: .stderr, timestamp: "T")
        #expect(String(decoding: empty, as: UTF8.self) == "T stderr F \n")
    }

    @Test func theReaderGluesPartsPerStreamAndSkipsJunk() {
        var reader = KubeLog.Reader()
        func lines(_ record: String) -> [String] {
            reader.lines(in: Array(record.utf8)[...]).map { "\($0.stream.rawValue):\(String(decoding: $0.text, as: UTF8.self))" }
        }
        #expect(lines("t1 stdout P par").isEmpty)
        #expect(lines("t2 stderr F err") == ["stderr:err"])
        #expect(lines("t3 stdout P tial").isEmpty)
        #expect(lines("t4 stdout F  end") == ["stdout:partial end"])
        #expect(lines("garbage without fields").isEmpty)
        #expect(lines("t5 stdin F x").isEmpty)
        #expect(lines("t6 stdout X x").isEmpty)
        #expect(lines("t7 stdout F") == ["stdout:"])
        #expect(lines("t8 stdout P left").isEmpty)
        #expect(reader.flush().map { String(decoding: $0.text, as: UTF8.self) } == ["left"])
    }

    /// /dev/full answers every write with ENOSPC, as a full disk does.
    @Test func outputAFullDiskCannotTakeIsCountedNotHalfWritten() throws {
        var writer = try KubeLogWriter(path: "/dev/full", maxSize: nil)
        defer { writer.close() }
        let began = writer.write(Array("one\n".utf8)[...], stream: .stdout)
        let changed = writer.write(Array("two\n".utf8)[...], stream: .stderr)
        #expect(began, "the first loss is news")
        #expect(!changed, "the same loss goes on")
        let loss = try #require(writer.loss)
        #expect(loss.bytes == 8 && loss.ongoing && loss.reason == "No space left on device", "\(loss)")
        #expect(loss.describe("web").hasPrefix("web's output is not being logged since "))
        writer.endLoss()
        #expect(writer.loss?.ongoing == false)
        #expect(writer.loss?.describe("web").hasPrefix("8 bytes of web's output were not logged (No space left on device, from ") == true)
    }

    @Test func theWriterKeepsTheLogUnderItsCap() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-log-\(UUID().uuidString)").path
        defer { unlink(path) }
        var writer = try KubeLogWriter(path: path, maxSize: 200)
        for index in 0..<20 { writer.write(Array("line \(index)\n".utf8)[...], stream: .stdout) }
        // One read bigger than the cap keeps its last records.
        writer.write(Array((0..<30).map { "burst \($0)\n" }.joined().utf8)[...], stream: .stderr)
        writer.close()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.utf8.count <= 200 && text.hasSuffix(" stderr F burst 29\n"), "\(text)")
        #expect(!text.contains("line "))
        var info = stat()
        stat(path, &info)
        #expect(info.st_mode & 0o777 == 0o600)
    }

    @Test func timesRoundTripWithNanoseconds() throws {
        let now = Timestamps.now()
        #expect(now.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+00:00$"#, options: .regularExpression) != nil, "\(now)")
        let date = try #require(Timestamps.parse("2026-12-04T19:24:39.145383867+00:00"))
        #expect(abs(date.timeIntervalSince1970 - 1_796_412_279.145383867) < 1e-6)
        #expect(Timestamps.parse("2026-12-04T20:24:39.5+01:00")?.timeIntervalSince1970 == 1_796_412_279.5)
        #expect(Timestamps.parse("2026-12-04T19:24:39Z")?.timeIntervalSince1970 == 1_796_412_279)
        #expect(Timestamps.rfc3339(Date(timeIntervalSince1970: 1_796_412_279.25)) == "2026-12-04T19:24:39.250000000Z")
        #expect(Timestamps.rfc3339(Date(timeIntervalSince1970: 3_661.0625)) == "1970-01-01T01:01:01.062500000Z")
        for bad in ["", "yesterday", "2026-12-04", "2026-13-04T19:24:39Z", "2026-12-04T19:24:39", "2026-12-04T19:24:39.Z", "2026-12-04T19:24:39+0100"] {
            #expect(Timestamps.parse(bad) == nil, "\(bad)")
        }
        #expect(Durations.parse("1h30m") == 5400)
        #expect(Durations.parse("1.5s") == 1.5)
        for bad in ["", "5", "m", "5x", "5m3"] { #expect(Durations.parse(bad) == nil, "\(bad)") }
    }

    @Test func containersAreFoundByIDNameAndPrefix() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-resolve-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = LocalStore(root: root)
        let containers = Containers(store: store)
        let runtime = OCIRuntime(path: "/bin/true", name: "true")
        let web = try containers.create(name: "web", image: "i", runtime: runtime, id: "aa" + String(repeating: "0", count: 30))
        let other = try containers.create(name: nil, image: "i", runtime: runtime, id: "ab" + String(repeating: "0", count: 30))
        #expect(try containers.resolve(web.id).name == "web")
        #expect(try containers.resolve("web").id == web.id)
        #expect(try containers.resolve("AB").id == other.id)
        #expect(try containers.resolve(other.name).id == other.id)
        // A claim that names another container does not hand that one out under this name, and
        // a container without a claim (made before names were claimed) is still found by name.
        try Data(other.id.utf8).write(to: URL(fileURLWithPath: "\(store.containerNamesPath)/web"))
        #expect(try containers.resolve("web").id == web.id)
        unlink("\(store.containerNamesPath)/web")
        #expect(try containers.resolve("web").id == web.id)
        // Such a container keeps its name: the first create in a store claims every name once.
        let marker = "\(store.containerNamesPath)/.all-claimed"
        #expect(FileManager.default.fileExists(atPath: marker))
        unlink(marker)
        #expect(throws: RuntimeError.self) { try containers.create(name: "web", image: "i", runtime: runtime) }
        #expect(try String(contentsOfFile: "\(store.containerNamesPath)/web", encoding: .utf8) == web.id)
        #expect(FileManager.default.fileExists(atPath: marker))
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.containersPath).sorted() == [web.id, other.id], "a refused create left its directory")
        #expect(throws: RuntimeError.self) { try containers.resolve("a") }
        for missing in ["nosuch", "../web", "", "ac" + String(repeating: "0", count: 30)] {
            #expect(throws: RuntimeError.self, "\(missing)") { try containers.resolve(missing) }
        }
    }

    @Test func pidFilesHoldOnePositiveNumber() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-pid-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func read(_ text: String) throws -> Int32? {
            try Data(text.utf8).write(to: URL(fileURLWithPath: "\(directory)/pid"))
            return PidFile.read("\(directory)/pid")
        }
        #expect(try read("4242") == 4242)
        #expect(try read("4242\n") == 4242)
        for bad in ["", "\n", "0", "-12", "12a", "4242 17", String(repeating: "9", count: 40)] { #expect(try read(bad) == nil, "\(bad)") }
        #expect(PidFile.read("\(directory)/missing") == nil)
        symlink("\(directory)/pid", "\(directory)/link")
        #expect(PidFile.read("\(directory)/link") == nil)
    }

    @Test func restartPoliciesAsDockerAndPodmanMeanThem() throws {
        #expect(try RestartPolicy(parsing: "on-failure:3") == .onFailure(maximum: 3))
        #expect(try RestartPolicy(parsing: "on-failure") == .onFailure(maximum: nil))
        #expect(try RestartPolicy(parsing: "unless-stopped").description == "unless-stopped")
        for bad in ["sometimes", "on-failure:", "on-failure:-1", "always:2"] { #expect(throws: RuntimeError.self) { try RestartPolicy(parsing: bad) } }
        #expect(RestartPolicy.onFailure(maximum: 2).restarts(after: 3, restarts: 1))
        #expect(!RestartPolicy.onFailure(maximum: 2).restarts(after: 3, restarts: 2))
        #expect(!RestartPolicy.onFailure(maximum: nil).restarts(after: 0, restarts: 0))
        #expect(RestartPolicy.always.restarts(after: 0, restarts: 100))
        #expect(!RestartPolicy.no.restarts(after: 1, restarts: 0))
        #expect(RestartPolicy.backoff(streak: 0) == .milliseconds(100))
        #expect(RestartPolicy.backoff(streak: 3) == .milliseconds(800))
        #expect(RestartPolicy.backoff(streak: 40) == .seconds(60))
    }

    @Test func publishedPortsAsPodmanWritesThem() throws {
        #expect(try PortMapping.parse("80") == [PortMapping(hostIP: "0.0.0.0", hostPort: 0, containerPort: 80)])
        #expect(try PortMapping.parse("8080:80") == [PortMapping(hostIP: "0.0.0.0", hostPort: 8080, containerPort: 80)])
        #expect(try PortMapping.parse("127.0.0.1:8080:80/tcp") == [PortMapping(hostIP: "127.0.0.1", hostPort: 8080, containerPort: 80)])
        #expect(try PortMapping.parse("127.0.0.1::80") == [PortMapping(hostIP: "127.0.0.1", hostPort: 0, containerPort: 80)])
        #expect(try PortMapping.parse("[::1]:8080:80") == [PortMapping(hostIP: "::1", hostPort: 8080, containerPort: 80)])
        #expect(try PortMapping.parse("127.0.0.1:5353:53/udp") == [PortMapping(hostIP: "127.0.0.1", hostPort: 5353, containerPort: 53, proto: "udp")])
        #expect(try PortMapping.parse("8080-8081:80-81").map(\.description) == ["0.0.0.0:8080->80/tcp", "0.0.0.0:8081->81/tcp"])
        for bad in ["", "http", "0", "65536", "8080:80:80:80", "1.2.3:8080:80", "8080-8082:80-81", "80/sctp", "[::1:8080:80", "1-2000"] {
            #expect(throws: RuntimeError.self, "\(bad)") { try PortMapping.parse(bad) }
        }
    }

    @Test func signalsByNameAndNumber() {
        #expect(Signals.number("TERM") == 15)
        #expect(Signals.number("sigkill") == 9)
        #expect(Signals.number("SIGHUP") == 1)
        #expect(Signals.number("10") == 10)
        #expect(Signals.number("RTMIN+3") == 37)
        for bad in ["", "NOPE", "0", "65", "RTMIN+31", "SIG"] { #expect(Signals.number(bad) == nil, "\(bad)") }
    }
}

/// `stop` and `kill` signal PID 1 through a pidfd without starting the runtime, and never a
/// process that took over the pid after the container's PID 1 was reaped.
struct DirectSignalTests {
    static func record(pid: Int32, status: String = "running") throws -> ContainerRecord {
        let json = #"{"id":"c","name":"c","image":"i","command":[],"created":0,"status":"\#(status)","runtime":"crun","containerPid":\#(pid)}"#
        return try JSONDecoder().decode(ContainerRecord.self, from: Data(json.utf8))
    }

    static func sleeper() throws -> pid_t {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
        defer { for pointer in argv { free(pointer) } }
        // The test process blocks some signals; the child starts with none blocked and defaults.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let failure = posix_spawn(&pid, "/bin/sleep", nil, &attributes, argv, environ)
        guard failure == 0 else { throw RuntimeError.runtime("posix_spawn: \(failure)") }
        return pid
    }

    /// The child's exit: the signal that ended it, or nil while it runs (after `seconds`).
    static func endedBy(_ pid: pid_t, within seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return status & 0x7f }
            usleep(10_000)
        } while Date() < deadline
        return nil
    }

    @Test func theSignalReachesPIDOneOnlyWhileTheRecordStillNamesIt() throws {
        let running = try Self.sleeper()
        let record = try Self.record(pid: running)
        #expect(ContainerLifecycle.signalDirectly(SIGTERM, record: record, reload: { record }))
        #expect(Self.endedBy(running, within: 5) == SIGTERM)

        // Reaped and its pid taken by someone else: the record read again names another pid
        // (or none), so nothing is sent.
        let bystander = try Self.sleeper()
        let stale = try Self.record(pid: bystander)
        let moved = try Self.record(pid: bystander, status: "exited")
        #expect(ContainerLifecycle.signalDirectly(SIGKILL, record: stale, reload: { moved }))
        #expect(Self.endedBy(bystander, within: 0.3) == nil, "a process the record no longer names was signalled")
        kill(bystander, SIGKILL)
        #expect(Self.endedBy(bystander, within: 5) == SIGKILL)

        // Gone already: nothing to do, and not the runtime's job either.
        #expect(ContainerLifecycle.signalDirectly(SIGTERM, record: try Self.record(pid: bystander), reload: { nil }))
        #expect(!ContainerLifecycle.signalDirectly(SIGTERM, record: try JSONDecoder().decode(ContainerRecord.self, from: Data(#"{"id":"c","name":"c","image":"i","command":[],"created":0,"status":"running","runtime":"crun"}"#.utf8)), reload: { nil }), "no pid: the runtime sends it")
    }
}
