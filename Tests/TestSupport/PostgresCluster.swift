// TestSupport: servers the tests start for themselves. A throwaway PostgreSQL 15 cluster on a
// loopback port, one per test process, and a fresh database for each test that asks.

import Foundation

/// PostgreSQL from Debian's `postgresql-15` (`/usr/lib/postgresql/15/bin`), initialised into a
/// temporary directory (owned by `postgres` when the tests run as root: initdb refuses root) and
/// run by a Python parent that stops it and removes the directory when its stdin closes, so the
/// cluster goes away with the test process however that ends.
public actor PostgresCluster {
    public static let shared = PostgresCluster()

    /// A cluster of its own, for a test that stops and starts it (`shared` serves everyone else).
    public init() {}
    public static let binaries = "/usr/lib/postgresql/15/bin"
    public static var installed: Bool { FileManager.default.isExecutableFile(atPath: "\(binaries)/initdb") }

    public struct Database: Sendable {
        public let host: String
        public let port: Int
        public let user: String
        public let name: String

        /// The `database:` section of a berth config.yml for this database (ends with a newline).
        public var yaml: String {
            "database:\n  enabled: true\n  host: \(host)\n  port: \(port)\n  user: \(user)\n  dbname: \(name)\n  sslmode: disable\n"
        }
    }

    private var port: Int?
    private var server: Supervised?
    private var starting: Task<Int, any Error>?

    /// Starts the cluster on first use; returns its port. Callers arriving while it starts wait
    /// for the same start (the actor is re-entrant across the launch's suspension).
    func start() async throws -> Int {
        if let port { return port }
        if let starting { return try await starting.value }
        let launch = Task { () async throws -> (Int, Supervised) in
            let server = try await Supervised.launch(python: Self.supervisor, arguments: [Self.binaries])
            guard let started = Int(server.firstLine) else {
                throw ClusterError("PostgreSQL did not start: \(server.firstLine) (apt-get install postgresql-15)")
            }
            return (started, server)
        }
        starting = Task { try await launch.value.0 }
        let (started, server) = try await launch.value
        self.server = server
        port = started
        return started
    }

    /// Stops the server (a fast shutdown: sessions are cut, committed data stays) or starts it
    /// again on the same port and data.
    public func stop() async throws { try await control("stop", expecting: "stopped") }
    public func restart() async throws { try await control("start", expecting: "ready") }

    private func control(_ command: String, expecting answer: String) async throws {
        _ = try await start()
        let reply = try await server?.command(command) ?? ""
        guard reply == answer else { throw ClusterError("PostgreSQL \(command): \(reply)") }
    }

    /// An existing database of this cluster, by name.
    public func database(named name: String) async throws -> Database {
        Database(host: "127.0.0.1", port: try await start(), user: "berth", name: name)
    }

    /// A new, empty database.
    public func database() async throws -> Database {
        let port = try await start()
        let name = "berth_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))"
        let psql = try Spawn.start("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "berth", "-d", "postgres", "-qc", "CREATE DATABASE \(name)"])
        // Waited for without holding one of the cooperative threads.
        guard await psql.exited(timeout: .seconds(60)) == 0 else { throw ClusterError("CREATE DATABASE \(name) failed") }
        return Database(host: "127.0.0.1", port: port, user: "berth", name: name)
    }

    /// initdb + postgres in the foreground, the port on stdout once it accepts connections; then
    /// `stop` and `start` commands on stdin, and a fast shutdown and removal when stdin closes.
    static let supervisor = #"""
        import os, pwd, shutil, signal, socket, subprocess, sys, tempfile, time
        bin = sys.argv[1]
        root = os.getuid() == 0
        base = tempfile.mkdtemp(prefix="berth-pg-")
        def as_owner(argv):
            return (["runuser", "-u", "postgres", "--"] + argv) if root else argv
        try:
            if root:
                pw = pwd.getpwnam("postgres")
                os.chown(base, pw.pw_uid, pw.pw_gid)
            os.chmod(base, 0o700)
            data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
            subprocess.run(as_owner([f"{bin}/initdb", "-D", data, "-U", "berth", "-A", "trust", "--no-sync", "-E", "UTF8",
                                     "--locale=C.UTF-8"]), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(as_owner(["mkdir", sock]), check=True)
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            def start():
                server = subprocess.Popen(as_owner([f"{bin}/postgres", "-D", data, "-k", sock, "-p", str(port),
                                                    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                                                    "-c", "full_page_writes=off", "-c", "max_connections=1000"]),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(300):
                    if subprocess.run([f"{bin}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0:
                        return server
                    time.sleep(0.1)
                return None
            def stop(server):
                with open(os.path.join(data, "postmaster.pid")) as f:
                    os.kill(int(f.readline()), signal.SIGINT)
                server.wait(timeout=30)
            server = start()
            if server is None:
                print("not ready", flush=True)
                sys.exit(1)
            print(port, flush=True)
            while True:
                line = sys.stdin.readline()
                if not line:
                    break
                if line.strip() == "stop" and server:
                    stop(server)
                    server = None
                    print("stopped", flush=True)
                elif line.strip() == "start" and not server:
                    server = start()
                    print("ready" if server else "not ready", flush=True)
                else:
                    print("unknown command", flush=True)
            if server:
                stop(server)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        """#
}

public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
