import Prometheus
import RegistryStorage

/// The numbers `/metrics` shows, in Prometheus's text format (swift-prometheus): requests by
/// route, method and status, their latency, bytes in and out, failed logins, purged uploads, and
/// at scrape time the storage's blobs, bytes and open uploads.
final class RegistryMetrics: Sendable {
    let collectors = PrometheusCollectorRegistry()
    static let latencyBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30)]

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "berth", metricName: metric, unitName: unit, helpText: help)
    }

    func request(route: String, method: String, status: Int, elapsed: Duration, bytesIn: Int64, bytesOut: Int64) {
        collectors.makeCounter(descriptor: Self.name("http_requests", "total", "HTTP requests by route, method and status"),
            labels: [("route", route), ("method", method), ("status", String(status))]).increment()
        collectors.makeDurationHistogram(descriptor: Self.name("http_request_duration", "seconds", "Time to answer a request"),
            labels: [("route", route), ("method", method)], buckets: Self.latencyBuckets).record(elapsed)
        if bytesIn > 0 {
            collectors.makeCounter(descriptor: Self.name("http_received", "bytes", "Request body bytes"), labels: [("route", route)]).increment(by: bytesIn)
        }
        if bytesOut > 0 {
            collectors.makeCounter(descriptor: Self.name("http_sent", "bytes", "Response body bytes"), labels: [("route", route)]).increment(by: bytesOut)
        }
    }

    func authenticationFailed() {
        collectors.makeCounter(descriptor: Self.name("auth_failures", "total", "Failed logins")).increment()
    }

    func uploadsPurged(_ count: Int) {
        collectors.makeCounter(descriptor: Self.name("uploads_purged", "total", "Abandoned upload sessions deleted")).increment(by: Int64(count))
    }

    func garbageCollected(_ report: GarbageReport) {
        collectors.makeCounter(descriptor: Self.name("gc_runs", "total", "Online garbage collections run")).increment()
        collectors.makeCounter(descriptor: Self.name("gc_freed", "bytes", "Bytes of blobs deleted by garbage collection")).increment(by: report.bytesFreed)
        collectors.makeCounter(descriptor: Self.name("gc_manifests_deleted", "total", "Manifests deleted by garbage collection")).increment(by: Int64(report.manifests))
        collectors.makeCounter(descriptor: Self.name("gc_blobs_deleted", "total", "Blobs deleted by garbage collection")).increment(by: Int64(report.blobs.count))
    }

    /// The exposition, with the storage gauges read now.
    func render(_ statistics: StorageStatistics?) -> [UInt8] {
        if let statistics {
            collectors.makeGauge(descriptor: Self.name("storage_blobs", "count", "Blobs stored")).set(Int64(statistics.blobs))
            collectors.makeGauge(descriptor: Self.name("storage", "bytes", "Bytes of the blobs stored")).set(statistics.bytes)
            collectors.makeGauge(descriptor: Self.name("uploads_in_progress", "count", "Upload sessions open")).set(Int64(statistics.uploads))
        }
        return collectors.emitToBuffer()
    }
}
