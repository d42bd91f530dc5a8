import Foundation
import Testing

/// Absolute URLs in `Location`: `http.host` when set, a proxy's `X-Forwarded-*` only when
/// `berth.http.forwardedheaders` trusts them, else relative.
@Suite struct ForwardedHeadersTests {
    let forwarded = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "registry.example.com")]

    func location(_ http: HTTP, _ headers: [(String, String)]) async throws -> String {
        try #require(try await http.send(.POST, "/v2/team/app/blobs/uploads/", headers: headers).header("Location"))
    }

    @Test func forwardedHeadersAreHonouredOnlyWhenTrusted() async throws {
        try await withServer { _, http in
            let plain = try await location(http, forwarded)
            #expect(plain.hasPrefix("/v2/team/app/blobs/uploads/"))
        }
        try await withServer({ $0.trustForwardedHeaders = true }) { _, http in
            let proxied = try await location(http, forwarded)
            #expect(proxied.hasPrefix("https://registry.example.com/v2/team/app/blobs/uploads/"))
            let direct = try await location(http, [])
            #expect(direct.hasPrefix("/v2/"), "without the headers, relative")
            let hostile = try await location(http, [("X-Forwarded-Host", "evil.example.com/path?x")])
            #expect(hostile.hasPrefix("/v2/"), "a host with a path is ignored")
        }
        try await withServer({
            $0.trustForwardedHeaders = true
            $0.externalURL = "https://configured.example.com"
        }) { _, http in
            let configured = try await location(http, forwarded)
            #expect(configured.hasPrefix("https://configured.example.com/v2/"), "http.host wins")
        }
    }
}
