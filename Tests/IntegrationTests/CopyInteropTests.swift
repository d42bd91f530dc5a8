import Foundation
import OCI
import Testing

/// What berth writes, skopeo reads, and the other way round; and `berth inspect` says what
/// `skopeo inspect` says.
@Suite(.enabled(if: Interop.enabled("skopeo"), "skopeo is not installed (apt-get install skopeo)"))
struct CopyInteropTests {
    @Test func skopeoReadsWhatBerthWritesAndBerthReadsWhatSkopeoWrites() async throws {
        let skopeo = try Interop.tool("skopeo")
        try await withServer { server, _ in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let layout = berth.home.appendingPathComponent("layout")
            let (_, v1, _) = try await OCILayoutFixture.standard(at: layout)
            let registry = "docker://127.0.0.1:\(server.port)"
            _ = try await berth.copy(["--dest-tls-verify=false", "oci:\(layout.path):v1", "\(registry)/team/app:v1"])
            let original = try await berth.succeed(["inspect", "--tls-verify=false", "--config", "--raw", "\(registry)/team/app:v1"]).stdout
            for (index, target) in ["dir:\(berth.path("bd"))", "oci:\(berth.path("bo")):v1", "oci-archive:\(berth.path("ba.tar")):v1", "docker-archive:\(berth.path("bda.tar")):team/app:v1"].enumerated() {
                _ = try await berth.copy(["--src-tls-verify=false", "\(registry)/team/app:v1", target])
                let pushed = "\(registry)/skopeo-read/\(index):v1"
                let copied = try await Interop.run(skopeo, ["copy", "-q", "--dest-tls-verify=false", target, pushed])
                #expect(copied.status == 0, "skopeo copy \(target): \(copied.stderr)")
                let config = try await berth.succeed(["inspect", "--tls-verify=false", "--config", "--raw", pushed]).stdout
                #expect(config == original, "\(target)")
                if !target.hasPrefix("docker-archive") {
                    let raw = try await Interop.run(skopeo, ["inspect", "--raw", target])
                    #expect(Digest.of(Array(raw.stdout.utf8)) == Digest.of(v1), "\(target)")
                }
            }
            for (index, target) in ["dir:\(berth.path("sd"))", "oci:\(berth.path("so")):v1", "oci-archive:\(berth.path("sa.tar")):v1", "docker-archive:\(berth.path("sda.tar")):team/app:v1"].enumerated() {
                let written = try await Interop.run(skopeo, ["copy", "-q", "--src-tls-verify=false", "\(registry)/team/app:v1", target])
                #expect(written.status == 0, "skopeo copy to \(target): \(written.stderr)")
                let pushed = "\(registry)/berth-read/\(index):v1"
                let digest = try await berth.copy(["--dest-tls-verify=false", target, pushed])
                if !target.hasPrefix("docker-archive") { #expect(digest == Digest.of(v1).description, "\(target)") }
                let config = try await berth.succeed(["inspect", "--tls-verify=false", "--config", "--raw", pushed]).stdout
                #expect(config == original, "\(target)")
            }
        }
    }

    @Test func inspectPrintsWhatSkopeoPrints() async throws {
        let skopeo = try Interop.tool("skopeo")
        try await withServer { server, _ in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let layout = berth.home.appendingPathComponent("layout")
            _ = try await OCILayoutFixture.standard(at: layout)
            let registry = "docker://127.0.0.1:\(server.port)"
            _ = try await berth.copy(["--all", "--dest-tls-verify=false", "oci:\(layout.path):multi", "\(registry)/team/app:multi"])
            _ = try await berth.copy(["--dest-tls-verify=false", "oci:\(layout.path):v1", "\(registry)/team/app:v1"])
            for arguments in [
                ["inspect", "--tls-verify=false", "\(registry)/team/app:multi"],
                ["inspect", "--tls-verify=false", "--override-arch", "arm64", "\(registry)/team/app:multi"],
                ["inspect", "--tls-verify=false", "--no-tags", "\(registry)/team/app:v1"],
                ["inspect", "--tls-verify=false", "--config", "\(registry)/team/app:v1"],
                ["inspect", "--tls-verify=false", "--raw", "\(registry)/team/app:multi"],
                ["inspect", "oci:\(layout.path):v1"],
                ["list-tags", "--tls-verify=false", "\(registry)/team/app"],
            ] {
                let ours = try await berth.succeed(arguments).stdout
                let theirs = try await Interop.run(skopeo, arguments.first == "inspect" && arguments.contains("--override-arch") ? ["--override-arch", "arm64"] + arguments.filter { $0 != "--override-arch" && $0 != "arm64" } : arguments)
                #expect(theirs.status == 0, "skopeo \(arguments): \(theirs.stderr)")
                // skopeo 1.9.3 predates LayersData (added in 1.10); everything else is byte for byte.
                #expect(Self.withoutLayersData(ours) == Self.withoutLayersData(theirs.stdout), "\(arguments)")
            }
        }
    }

    static func withoutLayersData(_ text: String) -> String {
        guard let start = text.range(of: "    \"LayersData\": ["), let end = text.range(of: "\n    ],\n", range: start.upperBound..<text.endIndex) else {
            return text
        }
        return text.replacingCharacters(in: start.lowerBound..<end.upperBound, with: "")
    }
}
