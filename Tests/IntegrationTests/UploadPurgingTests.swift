import Foundation
import Testing

@testable import RegistryServer

/// `storage.maintenance.uploadpurging`: abandoned upload sessions (and upload bytes no session
/// owns) are deleted once older than `age`; fresh ones and dry runs keep theirs.
@Suite struct UploadPurgingTests {
    @Test(arguments: [false, true])
    func abandonedUploadsAreDeletedAfterTheirAge(dryRun: Bool) async throws {
        // An age of 5 s: on a loaded two-core machine (the PostgreSQL + S3 pass) a POST and the
        // PATCH after it took over two seconds.
        try await withServer({ $0.uploadPurging = (.seconds(5), .milliseconds(200), dryRun) }) { server, http in
            let started = try await http.send(.POST, "/v2/team/app/blobs/uploads/")
            #expect(started.status == 202)
            let location = try #require(started.header("Location"))
            let patch = try await http.send(.PATCH, location, headers: [("Content-Type", "application/octet-stream")], body: Array("partial".utf8))
            #expect(patch.status == 202, "\(patch.status) \(patch.text)")
            let leftoverExists = try await StoredBlobs.orphanUpload(server)
            if dryRun {
                // Past the age and several purge rounds: a dry run only reports.
                try await Task.sleep(for: .milliseconds(5800))
                #expect(try await http.get(location).status == 204)
                #expect(try await leftoverExists())
                return
            }
            // Bounded wait: the purge runs every 200 ms, and the session is past its age after five seconds.
            var status = 204
            for _ in 0..<100 where status != 404 {
                try await Task.sleep(for: .milliseconds(100))
                status = try await http.get(location).status
            }
            #expect(status == 404)
            let body = try await http.get(location).json
            #expect((body["errors"] as? [[String: Any]])?.first?["code"] as? String == "BLOB_UPLOAD_UNKNOWN")
            // Bounded wait: on S3 the orphan is a multipart upload started now, gone five seconds later.
            var left = try await leftoverExists()
            for _ in 0..<80 where left {
                try await Task.sleep(for: .milliseconds(100))
                left = try await leftoverExists()
            }
            #expect(!left)
            let before = ContinuousClock.now
            let fresh = try await http.send(.POST, "/v2/team/app/blobs/uploads/")
            let freshStatus = try await http.get(try #require(fresh.header("Location"))).status
            // Only a session younger than the age must survive (a loaded machine can take longer).
            let elapsed = ContinuousClock.now - before
            #expect(freshStatus == 204 || elapsed >= .seconds(5), "a new session is not purged (\(freshStatus) after \(elapsed))")
        }
    }

    @Test func durationsAreGoSyntax() throws {
        #expect(ServerConfig.goDuration("168h") == .seconds(168 * 3600))
        #expect(ServerConfig.goDuration("1h30m") == .seconds(5400))
        #expect(ServerConfig.goDuration("500ms") == .milliseconds(500))
        #expect(ServerConfig.goDuration("0") == .zero, "Go's zero needs no unit")
        #expect(ServerConfig.goDuration("") == nil && ServerConfig.goDuration("10") == nil && ServerConfig.goDuration("1d") == nil)
        let config = try ServerConfig.load(yaml: "version: 0.1\nstorage:\n  maintenance:\n    uploadpurging:\n      age: 2h\n      interval: 10m\n      dryrun: true\n")
        #expect(config.uploadPurging?.age == .seconds(7200) && config.uploadPurging?.interval == .seconds(600) && config.uploadPurging?.dryRun == true)
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        let disabled = try ServerConfig.load(yaml: "version: 0.1\nstorage:\n  maintenance:\n    uploadpurging:\n      enabled: false\n")
        #expect(disabled.uploadPurging == nil)
        #expect(throws: ConfigError.self) { try ServerConfig.load(yaml: "version: 0.1\nstorage:\n  maintenance:\n    uploadpurging:\n      age: soon\n") }
    }
}
