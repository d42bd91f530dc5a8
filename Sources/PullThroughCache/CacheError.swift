import OCI

/// Why the cache could not serve something it does not hold; the server turns each into the
/// spec's error (404, 429 with `Retry-After`, 503).
public enum CacheError: Error, Equatable, CustomStringConvertible {
    /// The upstream says the manifest or blob does not exist (or said so moments ago).
    case manifestNotFound(upstream: String, reference: String)
    case blobNotFound(upstream: String, digest: Digest)
    /// The upstream is rate limiting; no request goes to it for `retryAfter` more seconds.
    case rateLimited(upstream: String, retryAfter: Int)
    /// The upstream could not be reached or failed (timeout, refused, 5xx, credentials refused).
    case upstreamUnavailable(upstream: String, reason: String)
    /// The cache takes no pushes or deletes: its content is the upstream's.
    case readOnlyNamespace(prefix: String)

    public var description: String {
        switch self {
        case .manifestNotFound(let upstream, let reference): "\(upstream) has no manifest \(reference)"
        case .blobNotFound(let upstream, let digest): "\(upstream) has no blob \(digest)"
        case .rateLimited(let upstream, let seconds): "\(upstream) is rate limiting this cache; retry in \(seconds) s"
        case .upstreamUnavailable(let upstream, let reason): "upstream \(upstream) is unavailable: \(reason)"
        case .readOnlyNamespace(let prefix):
            prefix.isEmpty
                ? "this registry is a pull-through cache: pushes and deletes are not accepted"
                : "repositories under \(prefix)/ are a pull-through cache: pushes and deletes are not accepted"
        }
    }
}
