/// What the cache reports for metrics; the server implements it over its Prometheus registry,
/// so this module never names a metrics library.
public protocol CacheObserver: Sendable {
    /// A manifest or blob served from the cache (`hit`) or fetched from the upstream.
    func lookup(kind: CacheKind, hit: Bool)
    /// One request sent to `upstream`, by outcome: `2xx`, `3xx`, `404`, `4xx`, `429`, `5xx`, `timeout`, `error`.
    func upstreamRequest(upstream: String, outcome: String)
    /// Bytes of blobs fetched from `upstream`.
    func upstreamBytes(upstream: String, _ count: Int64)
    /// A request that joined a fetch already under way instead of starting its own.
    func coalesced(kind: CacheKind)
    /// Cached content served because the upstream could not be asked (down, failing, rate limiting).
    func staleServed(kind: CacheKind)
    /// A lookup answered from the remembered upstream 404.
    func negativeHit()
    /// `upstream`'s rate-limit circuit opened (true) or closed.
    func circuit(upstream: String, open: Bool)
    /// An image evicted for `berth.cache.maxsize`, and the blob bytes that freed.
    func evicted(bytes: Int64)
    /// Bytes of blobs the cached repositories hold, as last measured.
    func bytesCached(_ bytes: Int64)
}

public enum CacheKind: String, Sendable {
    case manifest, blob, tags, referrers, signatures
}

/// For callers without metrics (tests, offline tools).
public struct SilentCacheObserver: CacheObserver {
    public init() {}
    public func lookup(kind: CacheKind, hit: Bool) {}
    public func upstreamRequest(upstream: String, outcome: String) {}
    public func upstreamBytes(upstream: String, _ count: Int64) {}
    public func coalesced(kind: CacheKind) {}
    public func staleServed(kind: CacheKind) {}
    public func negativeHit() {}
    public func circuit(upstream: String, open: Bool) {}
    public func evicted(bytes: Int64) {}
    public func bytesCached(_ bytes: Int64) {}
}
