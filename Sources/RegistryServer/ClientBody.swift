import Hummingbird
import NIOCore
import OCI

/// A request body as the registry reads it: the first read answers `Expect: 100-continue` (only a
/// request that gets as far as reading its body is told to send it), and read failures are the
/// client's fault (it disconnected or sent less than it declared), reported as
/// `BLOB_UPLOAD_INVALID` rather than as a server error.
struct ClientBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let body: RequestBody
    /// The connection to send `100 Continue` on, when the client asked for it.
    let continueChannel: (any Channel)?

    init(_ request: Request, _ context: RegistryRequestContext) {
        body = request.body
        let expect = request.headers[.expect]?.lowercased()
        continueChannel = expect == "100-continue" ? context.channel : nil
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        var continueChannel: (any Channel)?

        mutating func next() async throws -> ByteBuffer? {
            if let channel = continueChannel {
                continueChannel = nil
                try await BelowCodecWriter.sendContinue(on: channel)
            }
            do {
                return try await base.next()
            } catch {
                throw SpecError(.blobUploadInvalid, "the request body ended before it was complete")
            }
        }
    }

    /// The whole body of a small request, refusing (declared or sent) more than `limit` bytes.
    static func collect(_ request: Request, _ context: RegistryRequestContext, limit: Int, tooLarge: () -> any Error) async throws -> [UInt8] {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit { throw tooLarge() }
        var body: [UInt8] = []
        for try await buffer in ClientBody(request, context) {
            guard body.count + buffer.readableBytes <= limit else { throw tooLarge() }
            body.append(contentsOf: buffer.readableBytesView)
        }
        return body
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: body.makeAsyncIterator(), continueChannel: continueChannel)
    }
}
