import OCI
import Testing

@testable import Signing

@Suite struct PayloadTests {
    let digest = Digest.of(Array("manifest".utf8))

    @Test func encodesSortedAndParsesBack() throws {
        let payload = SignaturePayload(dockerReference: "127.0.0.1:5000/team/app:v1", manifestDigest: digest, creator: "berth", timestamp: 1_795_916_340)
        let text = String(decoding: payload.encoded(), as: UTF8.self)
        #expect(
            text
                == #"{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/team/app:v1"},"image":{"docker-manifest-digest":"\#(digest)"},"type":"atomic container signature"},"optional":{"creator":"berth","timestamp":1795916340}}"#
        )
        #expect(try SignaturePayload(parsing: payload.encoded()) == payload)
    }

    @Test(arguments: [
        #"{"critical":{"identity":{"docker-reference":"a/b:c"},"image":{"docker-manifest-digest":"DIGEST"},"type":"atomic container signature","extra":1},"optional":{}}"#,
        #"{"critical":{"identity":{"docker-reference":"a/b:c"},"image":{"docker-manifest-digest":"DIGEST"},"type":"something else"},"optional":{}}"#,
        #"{"critical":{"identity":{"docker-reference":"a/b:c"},"image":{"docker-manifest-digest":"DIGEST"},"type":"atomic container signature"}}"#,
        #"{"critical":{"identity":{},"image":{"docker-manifest-digest":"DIGEST"},"type":"atomic container signature"},"optional":{}}"#,
        #"{"critical":{"identity":{"docker-reference":"a/b:c"},"image":{"docker-manifest-digest":"not-a-digest"},"type":"atomic container signature"},"optional":{}}"#,
        #"[1]"#,
    ])
    func rejectsAnythingUnknownOrMissingUnderCritical(_ text: String) {
        let bytes = Array(text.replacingOccurrences(of: "DIGEST", with: digest.description).utf8)
        #expect(throws: SignatureError.self) { try SignaturePayload(parsing: bytes) }
    }

    @Test func acceptsUnknownOptionalMembers() throws {
        let text = #"{"critical":{"identity":{"docker-reference":"a/b:c"},"image":{"docker-manifest-digest":"\#(digest)"},"type":"atomic container signature"},"optional":{"whatever":true}}"#
        #expect(try SignaturePayload(parsing: Array(text.utf8)).dockerReference == "a/b:c")
    }
}
