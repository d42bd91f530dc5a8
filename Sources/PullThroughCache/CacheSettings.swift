import Foundation
import RegistryClient

/// What `proxy:` (distribution's one upstream) and `berth.cache:` (several, by prefix) configure.
public struct CacheSettings: Sendable {
    public var upstreams: [UpstreamSettings]
    /// How long an upstream 404 for a manifest or tag is remembered, so retry storms cost one lookup.
    public var notFoundTTL: Duration = .seconds(10)
    /// How long a request to an upstream may wait for its answer's headers before the cache
    /// serves what it has (or answers 503).
    public var upstreamTimeout: Duration = .seconds(5)
    /// How long an upstream body may stall before its transfer fails.
    public var idleReadTimeout: Duration = .seconds(30)
    /// Where blobs being fetched are spooled for the clients that wait for them.
    public var spoolDirectory: String
    /// The most bytes of blobs the cached repositories may hold; least recently pulled images
    /// are evicted whole above it. Nil keeps everything.
    public var maxSize: Int64?
    /// How often pull times are saved and the size is checked.
    public var maintenanceInterval: Duration = .seconds(10)

    /// `spoolDirectory` is local disk even when blobs live in object storage: clients read the
    /// spool while the download fills it.
    public init(upstreams: [UpstreamSettings], spoolDirectory: String) {
        self.upstreams = upstreams
        self.spoolDirectory = spoolDirectory
    }
}

/// One upstream registry and the repositories it serves through the cache.
public struct UpstreamSettings: Sendable, Equatable {
    /// The leading repository components that select this upstream (`docker.io` serves
    /// `docker.io/library/alpine` as `library/alpine`); empty for every repository, as
    /// distribution's `proxy.remoteurl` does.
    public var prefix: String
    /// `https://host[:port]` or `http://host[:port]`, no path.
    public var url: URL
    public var credentials: Credentials?
    /// A cached tag is served without asking the upstream for this long after its last check;
    /// zero checks (with one HEAD) on every pull.
    public var tagRecheck: Duration = .seconds(60)

    public init(prefix: String, url: URL, credentials: Credentials? = nil) {
        self.prefix = prefix
        self.url = url
        self.credentials = credentials
    }

    /// `host[:port]` of the URL, as the registry client and `?ns=` name it.
    public var host: String {
        let host = url.host ?? ""
        return url.port.map { "\(host):\($0)" } ?? host
    }
}
