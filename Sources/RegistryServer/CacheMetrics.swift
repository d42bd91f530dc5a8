import Prometheus
import PullThroughCache

/// The pull-through cache's numbers on `/metrics`: hits and misses by kind, upstream requests by
/// outcome, bytes fetched, coalesced requests, stale serves, remembered 404s, the circuit's
/// state, evictions and the bytes held.
extension RegistryMetrics: CacheObserver {
    private static func cache(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "berth", subsystem: "cache", metricName: metric, unitName: unit, helpText: help)
    }

    func lookup(kind: CacheKind, hit: Bool) {
        collectors.makeCounter(descriptor: Self.cache(hit ? "hits" : "misses", "total", hit ? "Served from the cache" : "Fetched from the upstream"),
            labels: [("kind", kind.rawValue)]).increment()
    }

    func upstreamRequest(upstream: String, outcome: String) {
        collectors.makeCounter(descriptor: Self.cache("upstream_requests", "total", "Requests to upstreams by outcome"),
            labels: [("upstream", upstream), ("outcome", outcome)]).increment()
    }

    func upstreamBytes(upstream: String, _ count: Int64) {
        collectors.makeCounter(descriptor: Self.cache("upstream_received", "bytes", "Blob bytes fetched from upstreams"),
            labels: [("upstream", upstream)]).increment(by: count)
    }

    func coalesced(kind: CacheKind) {
        collectors.makeCounter(descriptor: Self.cache("coalesced", "total", "Requests that joined a fetch under way"),
            labels: [("kind", kind.rawValue)]).increment()
    }

    func staleServed(kind: CacheKind) {
        collectors.makeCounter(descriptor: Self.cache("stale_served", "total", "Cached content served while the upstream failed"),
            labels: [("kind", kind.rawValue)]).increment()
    }

    func negativeHit() {
        collectors.makeCounter(descriptor: Self.cache("negative_hits", "total", "Lookups answered from a remembered upstream 404")).increment()
    }

    func circuit(upstream: String, open: Bool) {
        collectors.makeGauge(descriptor: Self.cache("circuit_open", "", "1 while an upstream's 429 keeps requests from it"),
            labels: [("upstream", upstream)]).set(Int64(open ? 1 : 0))
    }

    func evicted(bytes: Int64) {
        collectors.makeCounter(descriptor: Self.cache("evictions", "total", "Images evicted for berth.cache.maxsize")).increment()
        collectors.makeCounter(descriptor: Self.cache("evicted", "bytes", "Blob bytes freed by eviction")).increment(by: bytes)
    }

    func bytesCached(_ bytes: Int64) {
        collectors.makeGauge(descriptor: Self.cache("stored", "bytes", "Bytes of blobs the cached repositories hold")).set(bytes)
    }
}
