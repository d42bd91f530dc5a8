import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import Synchronization
import TestSupport

/// An HTTP shim in front of an upstream registry that counts what reaches it and injects faults
/// on request: a status (503, 429 + Retry-After), latency before the answer, a body cut after K
/// bytes, a corrupted body, or a body held at byte K until `release()`. Requests pass unchanged
/// otherwise (Authorization included, so an upstream's own auth still applies).
final class FaultShim: Sendable {
    struct Fault: Sendable {
        /// Only requests whose path contains this (all when nil).
        var paths: String?
        var status: Int?
        var retryAfter: String?
        var delay: Duration?
        var cutAfter: Int?
        var corrupt = false
        var holdAfter: Int?
    }

    let backend: String
    private let state = Mutex(State())

    private struct State {
        var fault: Fault?
        var requests: [String] = []
        var released = false
        var stopping = false
        var holders: [CheckedContinuation<Void, Never>] = []
    }

    init(backend: String) { self.backend = backend }

    func inject(_ fault: Fault) { state.withLock { $0.fault = fault; $0.released = false } }
    func heal() { state.withLock { $0.fault = nil } }

    /// Lets held bodies continue.
    func release() {
        let holders = state.withLock { state in
            state.released = true
            defer { state.holders = [] }
            return state.holders
        }
        for holder in holders { holder.resume() }
    }

    /// How many `method` requests whose path contains `path` reached the shim.
    func count(_ method: String, _ path: String) -> Int {
        state.withLock { $0.requests.filter { $0.hasPrefix(method + " ") && $0.contains(path) }.count }
    }

    /// Serves until `body` ends; then delayed and held requests are let go at once, so the
    /// server's graceful stop does not wait out a fault.
    func run(_ body: (Int) async throws -> Void) async throws {
        try await withScriptedServer({ [self] request, _ in try await handle(request) }) { port in
            try await withCleanup {
                try await body(port)
            } cleanup: {
                state.withLock { $0.stopping = true }
                release()
            }
        }
    }

    /// Waits `delay`, or less once the shim stops.
    private func wait(_ delay: Duration) async throws {
        let end = ContinuousClock.now + delay
        while ContinuousClock.now < end, !state.withLock({ $0.stopping }) {
            try await Task.sleep(for: min(.milliseconds(50), end - ContinuousClock.now))
        }
    }

    private func waitForRelease() async {
        await withCheckedContinuation { continuation in
            let go = state.withLock { state -> Bool in
                if state.released { return true }
                state.holders.append(continuation)
                return false
            }
            if go { continuation.resume() }
        }
    }

    private func handle(_ request: Request) async throws -> Response {
        let path = request.uri.path
        let fault = state.withLock { state -> Fault? in
            state.requests.append("\(request.method.rawValue) \(path)")
            guard let fault = state.fault, fault.paths.map({ path.contains($0) }) ?? true else { return nil }
            return fault
        }
        if let delay = fault?.delay { try await wait(delay) }
        if let status = fault?.status {
            var headers: HTTPFields = [.contentType: "application/json"]
            if let retryAfter = fault?.retryAfter { headers[.retryAfter] = retryAfter }
            let code = status == 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE"
            return Response(
                status: .init(code: status), headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: #"{"errors":[{"code":"\#(code)","message":"injected"}]}"#)))
        }
        var forwarded = HTTPClientRequest(url: backend + request.uri.string)
        forwarded.method = NIOHTTP1.HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where field.name.canonicalName != "host" {
            forwarded.headers.add(name: field.name.rawName, value: field.value)
        }
        if let length = request.headers[.contentLength].flatMap(Int64.init) {
            forwarded.body = .stream(request.body, length: .known(length))
        }
        let response = try await TokenGate.client.execute(forwarded, timeout: .seconds(120))
        var headers = HTTPFields()
        for (name, value) in response.headers {
            if let field = HTTPFields.Element.Name(name) { headers.append(HTTPFields.Element(name: field, value: value)) }
        }
        let status = HTTPResponse.Status(code: Int(response.status.code))
        guard let fault, fault.cutAfter != nil || fault.corrupt || fault.holdAfter != nil, request.method == .get else {
            return Response(status: status, headers: headers, body: ResponseBody(asyncSequence: response.body))
        }
        let upstream = response.body
        return Response(status: status, headers: headers, body: ResponseBody { [self] writer in
            var sent = 0
            var held = false
            for try await var piece in upstream {
                if let holdAfter = fault.holdAfter, !held, sent + piece.readableBytes > holdAfter {
                    let first = piece.readSlice(length: holdAfter - sent)!
                    sent += first.readableBytes
                    try await writer.write(first)
                    held = true
                    await waitForRelease()
                }
                if let cutAfter = fault.cutAfter, sent + piece.readableBytes > cutAfter {
                    try await writer.write(piece.readSlice(length: cutAfter - sent)!)
                    throw TestFailure("cut after \(cutAfter) bytes")
                }
                if fault.corrupt, sent == 0, piece.readableBytes > 0 {
                    piece.setInteger(piece.getInteger(at: piece.readerIndex, as: UInt8.self)! ^ 0xff, at: piece.readerIndex)
                }
                sent += piece.readableBytes
                try await writer.write(piece)
            }
            try await writer.finish(nil)
        })
    }
}
