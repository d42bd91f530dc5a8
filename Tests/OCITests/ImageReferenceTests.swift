import OCI
import Testing

@Suite struct ImageReferenceTests {
    @Test(arguments: [
        ("alpine", "docker.io/library/alpine", "latest"),
        ("alpine:3.20", "docker.io/library/alpine:3.20", "3.20"),
        ("library/alpine", "docker.io/library/alpine", "latest"),
        ("index.docker.io/alpine", "docker.io/library/alpine", "latest"),
        ("docker.io/team/app:v1", "docker.io/team/app:v1", "v1"),
        ("team/app", "docker.io/team/app", "latest"),
        ("localhost/app", "localhost/app", "latest"),
        ("localhost:5000/team/app:v1", "localhost:5000/team/app:v1", "v1"),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app", "latest"),
        ("[::1]:5000/team/app:v2", "[::1]:5000/team/app:v2", "v2"),
        ("Registry/team/app", "Registry/team/app", "latest"),
        ("quay.io/org/a/b/c:tag_1", "quay.io/org/a/b/c:tag_1", "tag_1"),
    ])
    func parsesAndNormalises(_ input: String, _ expected: String, _ reference: String) throws {
        let parsed = try ImageReference(parsing: input)
        #expect(parsed.description == expected)
        #expect(parsed.manifestReference.description == reference)
    }

    @Test func digestWinsOverTag() throws {
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        let parsed = try ImageReference(parsing: "127.0.0.1:5000/team/app:v1@\(digest)")
        #expect(parsed.tag?.value == "v1")
        #expect(parsed.manifestReference.description == digest)
        #expect(parsed.description == "127.0.0.1:5000/team/app:v1@\(digest)")
        #expect(try ImageReference(parsing: "app@\(digest)").tag == nil)
    }

    @Test(arguments: [
        "", "UPPER", "team/App", "app:", "app:-x", "app@sha256:1234", "host:99999/app", "bad_host.io:5000/app", "a//b",
        "[::1/app", "app:tag:more", "-host.io/app", "docker.io/" + String(repeating: "a", count: 250),
        // Found by FuzzReference: a port digit with a combining mark crashed the parser.
        ":27\u{33B}/", "host:27\u{33B}/app", "h\u{301}ost.io/app",
    ])
    func rejectsInvalid(_ input: String) {
        #expect(throws: ImageReferenceError.self) { try ImageReference(parsing: input) }
    }
}
