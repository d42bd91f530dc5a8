import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the connection's channel, which the blob
/// GET path needs to hand a file region to NIO (sendfile) instead of copying bytes through memory.
struct RegistryRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
