import Foundation
import Testing
import TestSupport

/// The real `berth serve` process: SIGHUP re-reads the config file (read-only mode switches
/// without a restart) and SIGTERM shuts it down cleanly.
@Suite struct ServeReloadTests {
    /// A config file: quiet log, storage under `data`, listening on `port`; `storage` and `http`
    /// add one line to their sections, `rest` more sections.
    static func write(_ file: String, data: String, port: Int, storage: String = "", http: String = "", rest: String = "") throws {
        let text = """
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: \(data)
              \(storage)
            http:
              addr: 127.0.0.1:\(port)
              \(http)
            \(rest)
            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
    }

    /// `berth serve --config FILE`, once it answers on `port`.
    static func serve(_ configFile: String, port: Int, _ berth: BerthCommand) async throws -> Spawned {
        let process = try Spawn.start(Interop.berthBinary, ["serve", "--config", configFile], environment: berth.environment)
        let http = HTTP(base: "http://127.0.0.1:\(port)")
        // Up means answering: 200, or 401 behind authentication — and from this process: one that
        // exited (its port taken meanwhile) must not leave the test talking to another server.
        for _ in 0..<600 where ![200, 401].contains((try? await http.get("/v2/"))?.status ?? 0) {
            guard process.isRunning else { throw TestFailure("berth serve exited (status \(process.poll().map(String.init) ?? "?")) before answering on port \(port)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard process.isRunning else { throw TestFailure("berth serve exited before the test began; port \(port) answered for another server") }
        return process
    }

    @Test func sighupSwitchesReadOnlyAndSigtermStopsCleanly() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let port = try freePort()
        let configFile = berth.path("config.yml")
        func writeConfig(readOnly: Bool) throws {
            try Self.write(configFile, data: berth.path("data"), port: port, storage: "maintenance: {readonly: {enabled: \(readOnly)}}")
        }
        try writeConfig(readOnly: false)
        let process = try await Self.serve(configFile, port: port, berth)
        defer {
            process.signal(SIGKILL)
            _ = process.wait(timeout: .seconds(10))
        }
        let http = HTTP(base: "http://127.0.0.1:\(port)")

        func push(_ text: String) async throws -> Int {
            let blob = Array(text.utf8)
            return try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest=\(Fixtures.digest(blob))", body: blob).status
        }
        /// Polls until a push answers `status` (the reload is asynchronous), bounded.
        func pushUntil(_ status: Int, _ text: String) async throws -> Int {
            var last = 0
            for attempt in 0..<50 {
                last = try await push("\(text) \(attempt)")
                if last == status { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            return last
        }
        #expect(try await push("before") == 201)
        try writeConfig(readOnly: true)
        process.signal(SIGHUP)
        #expect(try await pushUntil(405, "during") == 405)
        let refused = try await http.send(.POST, "/v2/team/app/blobs/uploads/")
        #expect((refused.json["errors"] as? [[String: Any]])?.first?["code"] as? String == "UNSUPPORTED")
        #expect(try await http.get("/v2/team/app/blobs/\(Fixtures.digest(Array("before".utf8)))").status == 200, "pulls go on")
        try writeConfig(readOnly: false)
        process.signal(SIGHUP)
        #expect(try await pushUntil(201, "after") == 201)

        // A broken file on reload keeps the running configuration.
        try Data("version: [".utf8).write(to: URL(fileURLWithPath: configFile))
        process.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(300))
        let still = try await push("still")
        #expect(process.isRunning && still == 201)

        process.signal(SIGTERM)
        for _ in 0..<600 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning && process.poll() == 0)
        // The database was closed: its write-ahead log was folded into the file.
        let wal = (try? FileManager.default.attributesOfItem(atPath: berth.path("data/metadata.sqlite-wal")))?[.size] as? Int ?? 0
        #expect(wal == 0, "\(wal) bytes left in the write-ahead log")
    }

    /// SIGTERM: the listener closes at once, a request in flight still completes, and one that
    /// never completes is cut off after `http.draintimeout`.
    @Test func sigtermDrainsRequestsInFlightWithinTheDrainTimeout() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        for finishes in [true, false] {
            let port = try freePort()
            let configFile = berth.path("drain.yml")
            try Self.write(configFile, data: berth.path("drain-data"), port: port, http: "draintimeout: 2s")
            let process = try await Self.serve(configFile, port: port, berth)
            defer {
            process.signal(SIGKILL)
            _ = process.wait(timeout: .seconds(10))
        }

            let blob = Array(repeating: UInt8(ascii: "b"), count: 2000)
            let socket = try RawSocket(port: port)
            defer { socket.close() }
            let head = "POST /v2/team/app/blobs/uploads/?digest=\(Fixtures.digest(blob)) HTTP/1.1\r\nHost: x\r\nContent-Length: \(blob.count)\r\n\r\n"
            socket.send(Array(head.utf8) + blob.prefix(1000))
            try await Task.sleep(for: .milliseconds(300))
            let stopping = ContinuousClock.now
            process.signal(SIGTERM)
            var refused = false
            for _ in 0..<600 where !refused {
                if let probe = try? RawSocket(port: port) { probe.close() } else { refused = true }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(refused, "no new connections while draining")
            #expect(process.isRunning, "a request is in flight")
            if finishes {
                socket.send(Array(blob.suffix(1000)))
                let reply = try await offThread { socket.readSome() }
                #expect(reply.hasPrefix("HTTP/1.1 201"), "\(reply)")
            }
            for _ in 0..<200 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!process.isRunning && process.poll() == 0, "exit \(String(describing: process.poll()))")
            if !finishes { #expect(ContinuousClock.now - stopping >= .seconds(2), "the stalled request had its drain time") }
        }
    }

    /// SIGHUP applies changed access rules of the built-in token server to the next token.
    @Test(.enabled(if: Interop.enabled("htpasswd"), "htpasswd (apache2-utils) is not installed"))
    func sighupReloadsTheTokenServersRules() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let htpasswd = try await TokenServerTests.users(in: berth)
        let port = try freePort()
        let configFile = berth.path("rules.yml")
        func writeConfig(_ actions: String) throws {
            try Self.write(configFile, data: berth.path("rules-data"), port: port, rest: """
                berth:
                  tokenserver:
                    htpasswd: \(htpasswd)
                    service: berth-test
                    access:
                      - users: [bob]
                        repositories: ["team/*"]
                        actions: \(actions)
                """)
        }
        try writeConfig("[pull]")
        let process = try await Self.serve(configFile, port: port, berth)
        defer {
            process.signal(SIGKILL)
            _ = process.wait(timeout: .seconds(10))
        }
        let http = HTTP(base: "http://127.0.0.1:\(port)")
        func granted() async throws -> [String] {
            try await TokenServerTests.token(http, user: "bob", scopes: ["repository:team/app:pull,push"]).access["repository:team/app"] ?? []
        }
        #expect(try await granted() == ["pull"])
        try writeConfig("[pull, push]")
        process.signal(SIGHUP)
        var after: [String] = []
        // Bounded at 30 s: a reload is quick, a machine running the whole suite is not.
        for _ in 0..<300 {
            after = try await granted()
            if after == ["pull", "push"] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(after == ["pull", "push"])
        // A rule that does not load keeps the running ones.
        try writeConfig("[pull, fly]")
        process.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await granted() == ["pull", "push"])
        process.signal(SIGTERM)
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning && process.poll() == 0)
    }
}
