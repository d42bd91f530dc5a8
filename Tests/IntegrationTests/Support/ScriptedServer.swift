import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import TestSupport

/// A Hummingbird server on a free loopback port answering with `handler`, stopped when `body` ends.
func withScriptedServer(
    _ handler: @escaping @Sendable (Request, Int) async throws -> Response, _ body: (Int) async throws -> Void
) async throws {
    var logger = Logger(label: "scripted")
    logger.logLevel = .critical
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let portBox = Mutex(0)
    let responder = CallbackResponder<BasicRequestContext> { request, _ in try await handler(request, portBox.withLock { $0 }) }
    let app = Application(
        responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
    // Stopped with a graceful shutdown, not by cancelling its task: a connection accepted while
    // the serving task is cancelled is dropped unserved, and NIO traps on it ("Deinited
    // NIOAsyncWriter without calling finish()", swift-nio#2637) — a server retrying a webhook
    // into a receiver that was just stopped crashed a whole test run that way. Cancelling after
    // a short grace period does the same to connections still buffered (seen with one second
    // under the full suite's load), so handlers must end by themselves (`FaultShim` lets its
    // delays and holds go when it stops); 30 s only bounds a handler that hangs.
    var configuration = ServiceGroupConfiguration(services: [app], logger: logger)
    configuration.maximumGracefulShutdownDuration = .seconds(30)
    let group = ServiceGroup(configuration: configuration)
    let task = Task {
        // A server that fails to start ends the stream, so the wait below ends with its error.
        defer { continuation.finish() }
        try await group.run()
    }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else {
        try await task.value
        throw TestFailure("scripted server did not start")
    }
    portBox.withLock { $0 = port }
    try await withCleanup {
        try await body(port)
    } cleanup: {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// A registry that requires Bearer tokens, as Docker Hub does: it answers 401 with a
/// `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge, issues tokens at `/token` to
/// alice:secret (per scope, counted), and passes authorised requests on to `backend`.
final class TokenGate: Sendable {
    let backend: String
    let requireToken: Bool
    let tokenRequests = Atomic<Int>(0)
    /// `METHOD path` of every request passed on, for tests that count what reached the backend.
    let forwarded = Mutex<[String]>([])
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow, decompression: .disabled))

    init(backend: String, requireToken: Bool = true) {
        self.backend = backend
        self.requireToken = requireToken
    }

    func run(_ body: (Int) async throws -> Void) async throws {
        try await withScriptedServer({ [self] request, port in try await handle(request, port: port) }, body)
    }

    private func handle(_ request: Request, port: Int) async throws -> Response {
        let path = request.uri.path
        if path == "/token" {
            tokenRequests.add(1, ordering: .relaxed)
            guard request.headers[.authorization] == "Basic " + Data("alice:secret".utf8).base64EncodedString() else {
                return Response(status: .unauthorized)
            }
            let scopes = request.uri.queryParameters.getAll("scope").joined(separator: " ")
            let token = "token-" + Data(scopes.utf8).base64EncodedString()
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"token":"\#(token)","expires_in":300}"#)))
        }
        guard !requireToken || request.headers[.authorization]?.hasPrefix("Bearer token-") == true else {
            var scope = "registry:catalog:*"
            let parts = path.split(separator: "/")
            if let marker = parts.firstIndex(where: { ["blobs", "manifests", "tags"].contains($0) }), marker > 1 {
                scope = "repository:\(parts[1..<marker].joined(separator: "/")):pull"
            }
            return Response(
                status: .unauthorized,
                headers: [
                    .wwwAuthenticate: #"Bearer realm="http://127.0.0.1:\#(port)/token",service="gate",scope="\#(scope)""#,
                    .contentType: "application/json",
                ],
                body: .init(byteBuffer: ByteBuffer(string: #"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#)))
        }
        self.forwarded.withLock { $0.append("\(request.method.rawValue) \(path)") }
        var forwarded = HTTPClientRequest(url: backend + (request.uri.string))
        forwarded.method = NIOHTTP1.HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where field.name != .authorization && field.name.canonicalName != "host" {
            forwarded.headers.add(name: field.name.rawName, value: field.value)
        }
        if let length = request.headers[.contentLength].flatMap(Int64.init) {
            forwarded.body = .stream(request.body, length: .known(length))
        } else if request.headers[.transferEncoding] != nil {
            forwarded.body = .stream(request.body, length: .unknown)
        }
        let response = try await Self.client.execute(forwarded, timeout: .seconds(120))
        var headers = HTTPFields()
        for (name, value) in response.headers {
            if let field = HTTPFields.Element.Name(name) { headers.append(HTTPFields.Element(name: field, value: value)) }
        }
        return Response(status: .init(code: Int(response.status.code)), headers: headers, body: ResponseBody(asyncSequence: response.body))
    }
}
