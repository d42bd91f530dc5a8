import Foundation
import Testing

@testable import RegistryServer

/// `http.debug.addr`: health, readiness and Prometheus metrics beside the registry.
@Suite struct OperationsEndpointTests {
    @Test func healthReadinessAndMetricsReflectTheRegistry() async throws {
        try await withServer({ $0.debugAddress = ("127.0.0.1", 0) }) { server, http in
            let debug = HTTP(base: "http://127.0.0.1:\(try #require(server.debugPort))")
            let health = try await debug.get("/healthz")
            #expect(health.status == 200 && String(decoding: health.body, as: UTF8.self) == "ok\n")
            // Bounded: readiness answers within 3 s, and on S3 + PostgreSQL under the whole suite's
            // load one check can miss that and answer 503.
            var initial = try await debug.get("/readyz")
            for _ in 0..<10 where initial.status != 200 {
                try await Task.sleep(for: .milliseconds(200))
                initial = try await debug.get("/readyz")
            }
            #expect(initial.status == 200, "\(initial.text)")
            #expect(try await http.get("/v2/").status == 200, "the registry's /v2/ stays the spec's")
            #expect(try await http.get("/healthz").status == 404, "operations endpoints are not on the registry's address")

            let blob = Array("some bytes".utf8)
            let digest = Fixtures.digest(blob)
            #expect(try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest=\(digest)", body: blob).status == 201)
            _ = try await http.send(.POST, "/v2/team/app/blobs/uploads/")
            #expect(try await http.get("/v2/team/app/blobs/\(digest)").status == 200)
            _ = try await http.get("/v2/team/app/manifests/missing")

            let metrics = String(decoding: try await debug.get("/metrics").body, as: UTF8.self)
            for line in [
                #"berth_http_requests_total{route="upload",method="POST",status="201"} 1"#,
                #"berth_http_requests_total{route="blob",method="GET",status="200"} 1"#,
                #"berth_http_requests_total{route="manifest",method="GET",status="404"} 1"#,
                #"berth_http_received_bytes{route="upload"} 10"#,
                #"berth_http_sent_bytes{route="blob"} 10"#,
                "berth_storage_blobs_count 1", "berth_storage_bytes 10", "berth_uploads_in_progress_count 1",
            ] {
                #expect(metrics.contains(line), "missing: \(line)\n\(metrics)")
            }
            #expect(metrics.contains("berth_http_request_duration_seconds_bucket{route=\"blob\",method=\"GET\""))
            #expect(!metrics.contains("team/app"), "repository names stay out of the labels")

            // Readiness fails, naming why, when the storage cannot be written (even for root:
            // the upload area is briefly a file). On S3 the fault tests stop the bucket instead.
            guard !TestBackend.s3 else { return }
            let uploads = server.root.appendingPathComponent("uploads").path
            try FileManager.default.moveItem(atPath: uploads, toPath: uploads + ".away")
            try Data().write(to: URL(fileURLWithPath: uploads))
            let notReady = try await debug.get("/readyz")
            try FileManager.default.removeItem(atPath: uploads)
            try FileManager.default.moveItem(atPath: uploads + ".away", toPath: uploads)
            #expect(notReady.status == 503 && String(decoding: notReady.body, as: UTF8.self).contains("storage not writable"))
            // Ready again (bounded: on a loaded machine a check can miss its few seconds).
            var ready = try await debug.get("/readyz")
            for _ in 0..<10 where ready.status != 200 {
                try await Task.sleep(for: .milliseconds(200))
                ready = try await debug.get("/readyz")
            }
            #expect(ready.status == 200, "\(ready.text)")
        }
    }

    @Test func failedLoginsAreCounted() async throws {
        guard Interop.enabled("htpasswd") else { return }
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let file = berth.path("htpasswd")
        try await Interop.shell("'\(try Interop.tool("htpasswd"))' -cBb '\(file)' alice secret")
        try await withServer({
            $0.htpasswd = ("x", file)
            $0.authFailureDelay = .zero
            $0.debugAddress = ("127.0.0.1", 0)
        }) { server, http in
            let wrong = [("Authorization", "Basic " + Data("alice:nope".utf8).base64EncodedString())]
            for _ in 0..<3 { _ = try await http.get("/v2/", headers: wrong) }
            _ = try await http.get("/v2/")
            let metrics = String(decoding: try await HTTP(base: "http://127.0.0.1:\(try #require(server.debugPort))").get("/metrics").body, as: UTF8.self)
            #expect(metrics.contains("berth_auth_failures_total 3"), "\(metrics)")
        }
    }
}
