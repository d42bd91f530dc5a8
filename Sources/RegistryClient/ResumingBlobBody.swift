import AsyncHTTPClient
import NIOCore

/// A blob download that survives a broken connection: when the body fails part-way, the rest is
/// asked for with `Range: bytes=<received>-` and the stream carries on where it stopped, as
/// containers/image does; a registry that cannot resume gets the original error reported.
public struct ResumingBlobBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let first: HTTPClientResponse.Body
    /// The first answer's `Content-Length`, when it sent one.
    public let declaredLength: Int64?
    let client: RegistryClient
    let path: String
    let scope: String

    public struct AsyncIterator: AsyncIteratorProtocol {
        var body: HTTPClientResponse.Body.AsyncIterator
        let owner: ResumingBlobBody
        var received: Int64 = 0
        var resumes = 0

        public mutating func next() async throws -> ByteBuffer? {
            while true {
                do {
                    let chunk = try await body.next()
                    if let chunk { received += Int64(chunk.readableBytes) }
                    return chunk
                } catch {
                    guard !Task.isCancelled, resumes < Swift.max(owner.client.options.retryTimes, 1),
                        let rest = try? await owner.client.blobRemainder(owner.path, from: received, scope: owner.scope)
                    else { throw ClientError.transport(url: owner.client.url(owner.path), "download broke off after \(received) bytes: \(TransportFailure.describe(error, url: owner.client.url(owner.path)))") }
                    resumes += 1
                    body = rest.makeAsyncIterator()
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: first.makeAsyncIterator(), owner: self) }
}
