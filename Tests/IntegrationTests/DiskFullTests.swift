import Foundation
import Testing

/// A registry whose disk fills up (a small tmpfs the test mounts, as root): an upload that hits
/// ENOSPC answers a spec error body — not a crash, not a hang — leaves no partial blob, and once
/// space is freed the registry serves and takes pushes again.
@Suite(.serialized, .enabled(if: geteuid() == 0 && !TestBackend.scaled, "mounting a tmpfs needs root; blobs must be on local disk"))
struct DiskFullTests {
    /// A fresh tmpfs of `megabytes` at a temporary directory, unmounted and removed afterwards.
    func withSmallDisk(megabytes: Int, _ body: (URL) async throws -> Void) async throws {
        let mountpoint = FileManager.default.temporaryDirectory.appendingPathComponent("berth-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mountpoint, withIntermediateDirectories: true)
        try await Interop.shell("mount -t tmpfs -o size=\(megabytes)m tmpfs '\(mountpoint.path)'")
        do { try await body(mountpoint) } catch {
            try? await Interop.shell("umount -l '\(mountpoint.path)'")
            try? FileManager.default.removeItem(at: mountpoint)
            throw error
        }
        try await Interop.shell("umount -l '\(mountpoint.path)'")
        try FileManager.default.removeItem(at: mountpoint)
    }

    @Test func anUploadThatFillsTheDiskFailsCleanlyAndServiceResumes() async throws {
        try await withSmallDisk(megabytes: 24) { disk in
            let root = disk.appendingPathComponent("registry")
            let server = try await TestServer.start(root: root)
            let http = HTTP(server)
            let small = Fixtures.image(layers: 1)
            #expect(try await http.push(small, to: "team/app", as: "v1").status == 201)
            // Most of what is left taken by a file, as another tenant of the disk would.
            let filler = disk.appendingPathComponent("filler")
            try await Interop.shell("dd if=/dev/zero of='\(filler.path)' bs=1M count=18 2>/dev/null || true")

            // Monolithic and chunked uploads larger than the space left.
            let big = Fixtures.random(8 << 20)
            let monolithic = try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest=\(Fixtures.digest(big))", body: big)
            #expect(monolithic.status == 507 && monolithic.errorCode == "UNAVAILABLE", "\(monolithic.status) \(monolithic.text)")
            #expect(monolithic.text.contains("no space left"), "\(monolithic.text)")
            let location = try #require(try await http.send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            let patch = try await http.send(.PATCH, location, headers: [("Content-Type", "application/octet-stream")], body: big)
            #expect(patch.status == 507 && patch.errorCode == "UNAVAILABLE", "\(patch.status) \(patch.text)")
            // Nothing half-written is visible, and what was stored is still served.
            #expect(try await http.head("/v2/team/app/blobs/\(Fixtures.digest(big))").status == 404)
            #expect(try await http.get("/v2/team/app/manifests/v1").body == small.manifest)
            #expect(try await http.get("/v2/team/app/blobs/\(Fixtures.digest(small.layers[0]))").body == small.layers[0])

            // Space freed: the same pushes go through.
            try FileManager.default.removeItem(at: filler)
            #expect(try await http.send(.POST, "/v2/team/app/blobs/uploads/?digest=\(Fixtures.digest(big))", body: big).status == 201)
            #expect(try await http.get("/v2/team/app/blobs/\(Fixtures.digest(big))").body == big)
            let again = Fixtures.image(layers: 1)
            #expect(try await http.push(again, to: "team/app", as: "v2").status == 201)
            await server.stop()
        }
    }

    @Test func aCopyIntoAFullLayoutFailsInOneLineAndLeavesItValid() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        try await withServer { server, http in
            let small = Fixtures.image(layers: 1)
            try await http.push(small, to: "team/app", as: "small")
            let big = Fixtures.image(layers: 2, layerSize: 6 << 20)
            try await http.push(big, to: "team/app", as: "big")
            try await withSmallDisk(megabytes: 8) { disk in
                let layout = disk.appendingPathComponent("layout").path
                let source = "docker://127.0.0.1:\(server.port)/team/app"
                try await berth.succeed(["copy", "-q", "--src-tls-verify=false", "\(source):small", "oci:\(layout):small"])
                let full = try await berth.run(["copy", "-q", "--src-tls-verify=false", "\(source):big", "oci:\(layout):big"])
                #expect(full.status == 1 && full.stderr.hasPrefix("berth: ") && full.stderr.split(separator: "\n").count == 1, "\(full.stderr)")
                #expect(full.stderr.lowercased().contains("no space left"), "\(full.stderr)")
                // The layout is still valid: index.json parses, names only `small`, every blob it needs is whole.
                let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(layout)/index.json"))) as? [String: Any]
                let entries = index?["manifests"] as? [[String: Any]] ?? []
                #expect(entries.count == 1 && (entries.first?["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"] == "small")
                for blob in [small.manifest, small.config] + small.layers {
                    let path = "\(layout)/blobs/sha256/\(Fixtures.digest(blob).dropFirst(7))"
                    #expect(FileManager.default.contents(atPath: path).map(Array.init) == blob, "\(path)")
                }
                try await berth.succeed(["inspect", "oci:\(layout):small"])
            }
        }
    }
}
