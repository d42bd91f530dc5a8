import Foundation
import OCI
import Testing

/// `berth copy` and `berth sync` killed with SIGKILL at random moments into an `oci:` layout and
/// `dir:` directories: what is on disk stays valid (index.json parses and names only whole manifests and
/// blobs; no file under a digest's name holds other bytes), and a re-run completes.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: Interop.berthBinary) && FileManager.default.isExecutableFile(atPath: "/usr/bin/timeout")))
struct CopyCrashTests {
    /// Every file named by a digest holds exactly those bytes; returns the names.
    static func wholeBlobs(in directory: String) throws -> Set<String> {
        var names: Set<String> = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.count == 64 && name.allSatisfy(\.isHexDigit) {
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)")))
            #expect(Fixtures.digest(bytes) == "sha256:\(name)", "\(directory)/\(name) is not whole")
            names.insert(name)
        }
        return names
    }

    /// A manifest's config and layers, all present among `blobs`.
    static func checkReferences(_ manifest: [UInt8], present blobs: Set<String>, _ context: String) {
        let json = (try? JSONSerialization.jsonObject(with: Data(manifest))) as? [String: Any] ?? [:]
        let descriptors = [json["config"] as? [String: Any]].compactMap { $0 } + (json["layers"] as? [[String: Any]] ?? [])
        #expect(!descriptors.isEmpty, "\(context): not a manifest")
        for descriptor in descriptors {
            let digest = String((descriptor["digest"] as? String ?? "").dropFirst("sha256:".count))
            #expect(blobs.contains(digest), "\(context) names \(digest), which is missing")
        }
    }

    static func checkLayout(_ path: String) throws {
        let blobs = try wholeBlobs(in: "\(path)/blobs/sha256")
        guard let index = FileManager.default.contents(atPath: "\(path)/index.json") else { return }
        let json = try #require(try JSONSerialization.jsonObject(with: index) as? [String: Any], "index.json does not parse")
        for entry in json["manifests"] as? [[String: Any]] ?? [] {
            let digest = String((entry["digest"] as? String ?? "").dropFirst("sha256:".count))
            #expect(blobs.contains(digest), "index.json names \(digest), which is missing")
            if let manifest = FileManager.default.contents(atPath: "\(path)/blobs/sha256/\(digest)") {
                checkReferences(Array(manifest), present: blobs, "index.json's \(digest)")
            }
        }
    }

    static func checkDirectory(_ path: String) throws {
        let blobs = try wholeBlobs(in: path)
        guard let manifest = FileManager.default.contents(atPath: "\(path)/manifest.json") else { return }
        checkReferences(Array(manifest), present: blobs, "manifest.json")
    }

    @Test func aKilledCopyLeavesValidDestinationsAndARerunCompletes() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        try await withServer { server, http in
            let images = (0..<2).map { _ in Fixtures.image(layers: 3, layerSize: 3 << 20) }
            for (n, image) in images.enumerated() { try await http.push(image, to: "team/app", as: "v\(n)") }
            let layout = berth.path("layout")
            for round in 0..<6 {
                let tag = "v\(round % 2)"
                let directory = berth.path("dir-\(round)")
                for destination in ["oci:\(layout):\(tag)", "dir:\(directory)"] {
                    let arguments = ["copy", "-q", "--src-tls-verify=false", "docker://127.0.0.1:\(server.port)/team/app:\(tag)", destination]
                    let delay = String(format: "%.2f", Double.random(in: 0.05...0.6))
                    _ = try await Interop.run("/usr/bin/timeout", ["-s", "KILL", delay, Interop.berthBinary] + arguments, environment: berth.environment)
                    if destination.hasPrefix("oci:") { try Self.checkLayout(layout) } else { try Self.checkDirectory(directory) }
                    try await berth.succeed(arguments)
                    if destination.hasPrefix("oci:") { try Self.checkLayout(layout) } else { try Self.checkDirectory(directory) }
                }
                #expect(try await berth.succeed(["inspect", "--raw", "oci:\(layout):\(tag)"]).stdout.utf8.elementsEqual(images[round % 2].manifest))
                #expect(FileManager.default.contents(atPath: "\(directory)/manifest.json").map(Array.init) == images[round % 2].manifest)
            }
        }
    }

    @Test func aKilledSyncLeavesValidImagesAndARerunCompletes() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        try await withServer { server, http in
            let images = (0..<4).map { _ in Fixtures.image(layers: 2, layerSize: 2 << 20) }
            for (n, image) in images.enumerated() { try await http.push(image, to: "team/app", as: "v\(n)") }
            let tree = berth.path("tree")
            let arguments = ["sync", "-q", "--src", "docker", "--dest", "dir", "--src-tls-verify=false", "127.0.0.1:\(server.port)/team/app", tree]
            for _ in 0..<3 {
                let delay = String(format: "%.2f", Double.random(in: 0.05...0.5))
                _ = try await Interop.run("/usr/bin/timeout", ["-s", "KILL", delay, Interop.berthBinary] + arguments, environment: berth.environment)
                for n in 0..<images.count { try Self.checkDirectory("\(tree)/app:v\(n)") }
            }
            try await berth.succeed(arguments)
            for (n, image) in images.enumerated() {
                try Self.checkDirectory("\(tree)/app:v\(n)")
                #expect(FileManager.default.contents(atPath: "\(tree)/app:v\(n)/manifest.json").map(Array.init) == image.manifest)
            }
        }
    }
}
