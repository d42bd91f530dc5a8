import Foundation
import OCI
import Testing

@testable import Signing

@Suite struct PolicyTests {
    @Test func dockerScopesGoFromTheTagToWildcardDomains() {
        #expect(Policy.scopes(transport: "docker", "registry.example.com:5000/team/app:v1") == [
            "registry.example.com:5000/team/app:v1", "registry.example.com:5000/team/app", "registry.example.com:5000/team",
            "registry.example.com:5000", "*.example.com", "*.com",
        ])
        #expect(Policy.scopes(transport: "dir", "/a/b/c") == ["/a/b/c", "/a/b", "/a", "/"])
    }

    @Test func identityRulesMatchAsContainersImageDoes() throws {
        let tagged = try ImageReference(parsing: "example.com/team/app:v1")
        let byDigest = try ImageReference(parsing: "example.com/team/app@sha256:" + String(repeating: "a", count: 64))
        #expect(Policy.matches(.matchRepoDigestOrExact, image: tagged, signed: "example.com/team/app:v1"))
        #expect(!Policy.matches(.matchRepoDigestOrExact, image: tagged, signed: "example.com/team/app:v2"))
        #expect(Policy.matches(.matchRepoDigestOrExact, image: byDigest, signed: "example.com/team/app:anything"))
        #expect(!Policy.matches(.matchExact, image: byDigest, signed: "example.com/team/app:v1"))
        #expect(Policy.matches(.matchRepository, image: tagged, signed: "example.com/team/app:v9"))
        #expect(!Policy.matches(.matchRepository, image: tagged, signed: "example.com/other/app:v1"))
        #expect(Policy.matches(.exactReference("example.com/x/y:z"), image: tagged, signed: "example.com/x/y:z"))
        #expect(Policy.matches(.exactRepository("example.com/x/y"), image: tagged, signed: "example.com/x/y:q"))
        let mirrored = try ImageReference(parsing: "mirror.local/copies/app:v1")
        #expect(Policy.matches(.remapIdentity(prefix: "mirror.local/copies", signedPrefix: "example.com/team"), image: mirrored, signed: "example.com/team/app:v1"))
        #expect(!Policy.matches(.remapIdentity(prefix: "mirror.local/cop", signedPrefix: "example.com/team"), image: mirrored, signed: "example.com/team/app:v1"))
    }

    @Test(arguments: [
        #"{"default": [{"type": "insecureAcceptAnything", "extra": 1}]}"#,
        #"{"default": []}"#,
        #"{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}"#,
        #"{"default": [{"type": "insecureAcceptAnything"}], "unexpected": {}}"#,
        #"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "AAAA", "signedIdentity": {"type": "matchEverything"}}]}"#,
    ])
    func invalidPoliciesAreRefused(_ text: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("berth-policy-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(text.utf8).write(to: file)
        #expect(throws: PolicyError.self) { try Policy(file: file.path) }
    }

    @Test func rejectAndScopesDecide() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("berth-policy-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(#"{"default": [{"type": "reject"}], "transports": {"docker": {"example.com/open": [{"type": "insecureAcceptAnything"}]}}}"#.utf8).write(to: file)
        let policy = try Policy(file: file.path)
        let open = try ImageReference(parsing: "example.com/open/app:v1")
        try policy.check(transport: "docker", scope: open.description, reference: open, manifest: [], signatures: [], describedAs: "open")
        #expect(throws: PolicyError.self) {
            try policy.check(transport: "docker", scope: "example.com/closed/app:v1", reference: nil, manifest: [], signatures: [], describedAs: "closed")
        }
        #expect(throws: PolicyError.self) { try policy.check(transport: "dir", scope: "/tmp/x", reference: nil, manifest: [], signatures: [], describedAs: "dir") }
    }
}
