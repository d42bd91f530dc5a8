import Foundation
import NIOHTTP1
import OCI
import Testing

/// Answers the OCI conformance suite (v1.1.1) checks and the spec's error-code table demands:
/// every error body's code is one of the spec's, and a reference that cannot exist is not found.
@Suite struct SpecCodesTests {
    /// The codes of the spec's table, plus the few it has no entry for (see `ErrorCode`).
    static let allowed: Set<String> = [
        "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
        "TAG_INVALID", "UNKNOWN", "UNAVAILABLE",
    ]

    @Test func anInvalidTagIsNotFoundForReadsAndInvalidForAPush() async throws {
        try await withServer { _, http in
            let image = Fixtures.image()
            try await http.push(image, to: "team/app", as: "v1")
            for method in [HTTPMethod.GET, .HEAD] {
                let reply = try await http.send(method, "/v2/team/app/manifests/.INVALID_MANIFEST_NAME")
                #expect(reply.status == 404, "\(method)")
                if method == .GET { #expect(reply.errorCode == "MANIFEST_UNKNOWN") }
            }
            let delete = try await http.send(.DELETE, "/v2/team/app/manifests/.INVALID_MANIFEST_NAME")
            #expect(delete.status == 404 && delete.errorCode == "MANIFEST_UNKNOWN")
            let push = try await http.pushManifest("team/app", ".INVALID_MANIFEST_NAME", image.manifest)
            #expect(push.status == 400 && push.errorCode == "TAG_INVALID")
        }
    }

    @Test func anEmptyNameComponentIsAnInvalidName() async throws {
        try await withServer { _, http in
            for path in ["/v2/a//b/blobs/uploads/", "/v2/a/b//blobs/uploads/", "/v2/a//b/tags/list", "/v2/a//b/manifests/v1"] {
                let method: HTTPMethod = path.hasSuffix("uploads/") ? .POST : .GET
                let reply = try await http.send(method, path)
                #expect(reply.status == 400 && reply.errorCode == "NAME_INVALID", "\(path): \(reply.status) \(reply.text)")
            }
        }
    }

    @Test func everyErrorBodyCarriesACodeFromTheTable() async throws {
        try await withServer { _, http in
            let location = try #require(try await http.send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            let probes: [(HTTPMethod, String, [(String, String)], [UInt8]?)] = [
                (.PATCH, location, [("Content-Range", "bytes=abc")], [1]),
                (.PATCH, location, [("Content-Range", "5-5")], [1]),
                (.GET, "/v2/team/app/tags/list?n=-1", [], nil),
                (.GET, "/v2/no/such/manifests/v1", [], nil),
                (.GET, "/v2/team/app/blobs/sha256:nothex", [], nil),
                (.GET, "/v2/team/app/blobs/uploads/not-a-uuid", [], nil),
                (.PUT, "/v2/team/app/manifests/v1", [("Content-Type", MediaType.ociManifest)], Array("{".utf8)),
                (.GET, "/v2/UPPER/tags/list", [], nil),
                (.GET, "/v2/team/app/nonsense/x", [], nil),
            ]
            for (method, path, headers, body) in probes {
                let reply = try await http.send(method, path, headers: headers, body: body)
                #expect(reply.status >= 400, "\(method) \(path)")
                let code = try #require(reply.errorCode, "\(method) \(path): \(reply.text)")
                #expect(Self.allowed.contains(code), "\(method) \(path): \(code)")
            }
        }
    }

    /// A chunk ending at Int64.max has a length one past what Int64 holds: the server trapped on
    /// it (one PATCH took the registry down). Now a malformed range like any other.
    @Test func aChunkRangeEndingAtTheLargestOffsetIsRefused() async throws {
        try await withServer { _, http in
            let location = try #require(try await http.send(.POST, "/v2/team/app/blobs/uploads/").header("Location"))
            for range in ["0-9223372036854775807", "bytes 0-9223372036854775807", "0-99999999999999999999"] {
                let reply = try await http.send(.PATCH, location, headers: [("Content-Range", range)], body: [1])
                #expect(reply.status == 416 && reply.errorCode == "BLOB_UPLOAD_INVALID", "\(range): \(reply.status) \(reply.text)")
            }
            let base = try await http.send(.GET, "/v2/")
            #expect(base.status == 200)
        }
    }
}
