import Foundation
import Hummingbird
import Testing

/// `list-tags` over paged answers and retries as the CLI does them, against scripted registries.
@Suite struct ListAndRetryCommandTests {
    @Test func listTagsFollowsEveryPage() async throws {
        let all = (0..<250).map { String(format: "v%03d", $0) }
        try await withScriptedServer({ request, _ in
            guard request.uri.path == "/v2/team/app/tags/list" else {
                return Response(status: request.uri.path == "/v2/" ? .ok : .notFound)
            }
            let last = request.uri.queryParameters["last"].map(String.init)
            let start = last.flatMap { all.firstIndex(of: $0).map { $0 + 1 } } ?? 0
            let page = Array(all[start..<min(start + 100, all.count)])
            var headers: HTTPFields = [.contentType: "application/json"]
            if start + 100 < all.count { headers[HTTPFields.Element.Name("Link")!] = "</v2/team/app/tags/list?last=\(page.last!)&n=100>; rel=\"next\"" }
            let body = try JSONSerialization.data(withJSONObject: ["name": "team/app", "tags": page])
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: Array(body))))
        }) { port in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let result = try await berth.succeed(["list-tags", "--tls-verify=false", "docker://127.0.0.1:\(port)/team/app"])
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(json?["Repository"] as? String == "127.0.0.1:\(port)/team/app")
            #expect(json?["Tags"] as? [String] == all)
        }
    }

    @Test func serverErrorsAreRetriedAndThenReported() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        try await FlakyRegistry(failures: 2, status: .internalServerError, retryAfter: nil).run { port in
            let result = try await berth.succeed(["inspect", "--raw", "--retry-delay", "10ms", "--tls-verify=false", "docker://127.0.0.1:\(port)/team/app:v1"])
            #expect(result.stdout.contains("\"manifests\":[]"))
        }
        try await FlakyRegistry(failures: 2, status: .internalServerError, retryAfter: nil).run { port in
            let result = try await berth.run(["inspect", "--raw", "--retry-times", "1", "--retry-delay", "10ms", "--tls-verify=false", "docker://127.0.0.1:\(port)/team/app:v1"])
            #expect(result.status == 1 && result.stderr.contains("(500)") && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
    }

    @Test func registryGarbageIsOneClearLine() async throws {
        try await withScriptedServer({ request, _ in
            if request.uri.path == "/v2/" { return Response(status: .ok) }
            return Response(status: .ok, headers: [.contentType: "application/vnd.oci.image.manifest.v1+json"], body: .init(byteBuffer: ByteBuffer(string: "<html>not a manifest</html>")))
        }) { port in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let result = try await berth.run(["copy", "--src-tls-verify=false", "docker://127.0.0.1:\(port)/team/app:v1", "oci:\(berth.path("o")):v1"])
            #expect(result.status == 1 && result.stderr.hasPrefix("berth: ") && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: berth.path("o/index.json")))
        }
    }
}
