import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Sends part of a file as an HTTP/1 response body with sendfile.
///
/// Hummingbird's body writer carries only byte buffers, so the region is written into the pipeline
/// just below its HTTP-types codec, where NIO's HTTP/1 encoder accepts file regions. Ordering holds
/// because Hummingbird has already handed the response head to the channel, and both writes run on
/// the channel's event loop in submission order. Not for TLS connections (NIOSSL cannot send files).
enum FileRegionSender {
    static func send(descriptor: Int32, range: Range<Int64>, on channel: any Channel) async throws {
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        defer { try? handle.close() }
        let region = FileRegion(fileHandle: handle, readerIndex: Int(range.lowerBound), endIndex: Int(range.upperBound))
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.eventLoop.execute {
            do {
                let context = try channel.pipeline.syncOperations.context(handlerType: HTTP1ToHTTPServerCodec.self)
                context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.fileRegion(region))), promise: promise)
            } catch {
                promise.fail(error)
            }
        }
        try await promise.futureResult.get()
    }
}
