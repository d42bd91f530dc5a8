import Foundation
import RegistryStorage
import TestSupport

/// A proxy in front of moto that answers S3 requests with `500 InternalError` when told to: the
/// next N requests (`fail(next:)`), or every request until `heal()` (`failAll()`). Everything else
/// passes through unchanged (moto does not check signatures, so the Host the client signed for
/// does not matter).
final class FaultyS3Proxy: Sendable {
    private let server: Supervised
    let endpoint: URL

    init(upstream: URL) async throws {
        server = try await Supervised.launch(python: Self.script, arguments: [upstream.host ?? "127.0.0.1", String(upstream.port ?? 80)])
        guard let port = Int(server.firstLine) else { throw TestFailure("the S3 fault proxy did not start: \(server.firstLine)") }
        endpoint = URL(string: "http://127.0.0.1:\(port)")!
    }

    func fail(next count: Int) async throws { _ = try await server.command("fail \(count)") }
    func failAll() async throws { _ = try await server.command("failall") }
    func heal() async throws { _ = try await server.command("heal") }
    /// How many requests were answered with 500 so far.
    func failures() async throws -> Int { Int(try await server.command("failures")) ?? -1 }

    static let script = #"""
        import http.client, http.server, sys, threading
        host, port = sys.argv[1], int(sys.argv[2])
        lock = threading.Lock()
        state = {"count": 0, "all": False, "failed": 0}
        def failing():
            with lock:
                if state["all"] or state["count"] > 0:
                    state["count"] = max(0, state["count"] - 1)
                    state["failed"] += 1
                    return True
                return False
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args):
                pass
            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if failing():
                    payload = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>'
                    self.send_response(500)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(host, port, timeout=120)
                upstream.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() in ("transfer-encoding", "connection") or (name.lower() == "content-length" and self.command != "HEAD"):
                        continue
                    self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()
            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(server.server_address[1], flush=True)
        while True:
            line = sys.stdin.readline()
            if not line:
                break
            words = line.split()
            with lock:
                if words[:1] == ["fail"]:
                    state["count"] = int(words[1])
                elif words[:1] == ["failall"]:
                    state["all"] = True
                elif words[:1] == ["heal"]:
                    state["count"], state["all"] = 0, False
                answer = str(state["failed"])
            print(answer, flush=True)
        server.shutdown()
        """#
}
