import Foundation
import Logging
import Synchronization
import Testing

/// Collects log lines in memory.
final class CapturedLog: Sendable {
    let lines = Mutex<[(Logger.Level, String)]>([])

    var logger: Logger {
        var logger = Logger(label: "berth.capture") { _ in Handler(log: self) }
        logger.logLevel = .info
        return logger
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            log.lines.withLock { $0.append((event.level, "\(event.message)")) }
        }
    }
}

@Suite struct AccessLogTests {
    @Test func oneInfoLinePerRequestWithMethodPathStatusBytesAndDuration() async throws {
        let log = CapturedLog()
        let server = try await TestServer.start(logger: log.logger)
        let http = HTTP(server)
        _ = try await http.get("/v2/")
        _ = try await http.get("/v2/no/such/tags/list")
        await server.cleanup()
        let lines = log.lines.withLock { $0 }.filter { $0.0 == .info }.map(\.1)
        #expect(lines.count == 2)
        #expect(lines.first?.range(of: #"^GET /v2/ 200 2 [0-9.]+ms$"#, options: .regularExpression) != nil)
        #expect(lines.last?.hasPrefix("GET /v2/no/such/tags/list 404 ") == true)
    }

    @Test func aRequestStillUnansweredIsNamedWhileItHangs() async throws {
        let log = CapturedLog()
        let server = try await TestServer.start(logger: log.logger) { $0.slowRequestWarning = .milliseconds(300) }
        let http = HTTP(server)
        _ = try await http.get("/v2/")
        // A monolithic upload whose body stops halfway: the server waits for the rest.
        let socket = try RawSocket(port: server.port)
        socket.send("POST /v2/slow/app/blobs/uploads/?digest=sha256:\(String(repeating: "0", count: 64)) HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        func warnings() -> [String] { log.lines.withLock { $0 }.filter { $0.0 == .warning }.map(\.1) }
        for _ in 0..<100 where warnings().isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        #expect(warnings() == ["POST /v2/slow/app/blobs/uploads/: still unanswered after 0.3 seconds"])
        socket.close()
        await server.cleanup()
    }
}
