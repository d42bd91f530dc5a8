import OCI
import Testing

@Suite struct DigestTests {
    @Test func parsesSha256AndSha512() throws {
        let d = try Digest(parsing: "sha256:" + String(repeating: "a", count: 64))
        #expect(d.algorithm == .sha256)
        let e = try Digest(parsing: "sha512:" + String(repeating: "0", count: 128))
        #expect(e.algorithm == .sha512)
        #expect(e.description.hasPrefix("sha512:"))
    }

    @Test(arguments: [
        "", "sha256", "sha256:", ":abc", "sha256:" + String(repeating: "A", count: 64), "sha256:" + String(repeating: "a", count: 63),
        "sha512:" + String(repeating: "a", count: 64), "sha256:../../etc/passwd", "SHA256:" + String(repeating: "a", count: 64),
    ])
    func rejectsMalformed(_ input: String) {
        #expect(throws: DigestError.self) { try Digest(parsing: input) }
    }

    @Test func unknownAlgorithmIsUnsupportedNotMalformed() {
        #expect(throws: DigestError.unsupportedAlgorithm("md5")) { try Digest(parsing: "md5:d41d8cd98f00b204e9800998ecf8427e") }
    }

    @Test func hashesKnownVectors() {
        #expect(Digest.of(Array("hello".utf8)).encoded == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        #expect(
            Digest.of([], algorithm: .sha512).encoded
                == "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        )
    }

    @Test func hasherCopyIsACheckpoint() {
        var a = Digest.Algorithm.sha256.hasher()
        a.update(Array("hel".utf8))
        var b = a
        b.update(Array("lo".utf8))
        a.update(Array("p".utf8))
        #expect(b.finalize() == Digest.of(Array("hello".utf8)))
        #expect(a.finalize() == Digest.of(Array("help".utf8)))
    }
}

@Suite struct NameTests {
    @Test(arguments: ["a", "team/app", "a.b_c__d---e/f0", "library/alpine", String(repeating: "a", count: 255)])
    func acceptsValidRepositories(_ name: String) throws {
        #expect(try RepositoryName(parsing: name).value == name)
    }

    @Test(arguments: [
        "", "A", "team/", "/team", "a//b", "a..b", "a___b", "-a", "a-", "../etc", "a/../b", "a b", "a:b",
        String(repeating: "a", count: 256),
    ])
    func rejectsInvalidRepositories(_ name: String) {
        #expect(throws: NameError.self) { try RepositoryName(parsing: name) }
    }

    @Test(arguments: ["latest", "v1.2.3", "_x", "A-b.c_d", String(repeating: "t", count: 128)])
    func acceptsValidTags(_ tag: String) throws {
        #expect(try Tag(parsing: tag).value == tag)
    }

    @Test(arguments: ["", ".x", "-x", "a/b", "a:b", String(repeating: "t", count: 129), "../x"])
    func rejectsInvalidTags(_ tag: String) {
        #expect(throws: NameError.self) { try Tag(parsing: tag) }
    }
}
