import Hummingbird
import NIOCore
import OCI

/// A request body whose read failures are the client's fault (it disconnected or sent less than it
/// declared), reported as `BLOB_UPLOAD_INVALID` rather than as a server error.
struct ClientBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let body: RequestBody

    init(_ body: RequestBody) { self.body = body }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator

        mutating func next() async throws -> ByteBuffer? {
            do {
                return try await base.next()
            } catch {
                throw SpecError(.blobUploadInvalid, "the request body ended before it was complete")
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: body.makeAsyncIterator()) }
}
