import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// HTTP/1 parts that Hummingbird's response writer cannot express: a file region (sendfile) and an
/// interim `100 Continue`. They are written into the pipeline just below Hummingbird's HTTP-types
/// codec, where NIO's HTTP/1 encoder accepts them. Ordering holds because both writes run on the
/// channel's event loop after everything Hummingbird has already handed to the channel.
enum BelowCodecWriter {
    /// Sends part of a file as the response body. Not for TLS connections (NIOSSL cannot send files).
    static func sendFile(descriptor: Int32, range: Range<Int64>, on channel: any Channel) async throws {
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        defer { try? handle.close() }
        let region = FileRegion(fileHandle: handle, readerIndex: Int(range.lowerBound), endIndex: Int(range.upperBound))
        try await write(.body(.fileRegion(region)), on: channel)
    }

    /// Answers `Expect: 100-continue`, so a client such as curl sends its body at once instead of
    /// waiting a second for permission.
    static func sendContinue(on channel: any Channel) async throws {
        try await write(.head(HTTPResponseHead(version: .http1_1, status: .continue)), on: channel)
    }

    private static func write(_ part: HTTPServerResponsePart, on channel: any Channel) async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.eventLoop.execute {
            do {
                let context = try channel.pipeline.syncOperations.context(handlerType: HTTP1ToHTTPServerCodec.self)
                context.writeAndFlush(NIOAny(part), promise: promise)
            } catch {
                promise.fail(error)
            }
        }
        try await promise.futureResult.get()
    }
}
