import OCI
import TestSupport
import Testing

@testable import RegistryStorage

@Suite struct ResumableHasherTests {
    /// A hash saved after any number of bytes and restored elsewhere ends where one pass does.
    @Test(arguments: [Digest.Algorithm.sha256, .sha512])
    func savedAndRestoredStatesContinueTheHash(_ algorithm: Digest.Algorithm) throws {
        let data = randomBytes(100_000)
        for cut in [0, 1, 63, 64, 65, 127, 128, 12_345, 99_999, 100_000] {
            var first = ResumableHasher(algorithm)
            data[..<cut].withUnsafeBytes { first.update($0) }
            var resumed = try #require(ResumableHasher(algorithm, state: first.state))
            data[cut...].withUnsafeBytes { resumed.update($0) }
            #expect(resumed.finalize() == Digest.of(data, algorithm: algorithm), "cut at \(cut)")
        }
    }

    /// Go's marshalled layout (what distribution stores): magic, chaining values big-endian,
    /// the pending bytes zero-padded, the byte count big-endian.
    @Test func statesUseGosLayout() throws {
        var hasher = ResumableHasher(.sha256)
        Array("abc".utf8).withUnsafeBytes { hasher.update($0) }
        let state = hasher.state
        #expect(state.count == 108)
        #expect(Array(state[0..<8]) == Array("sha\u{03}".utf8) + [0x6a, 0x09, 0xe6, 0x67])  // "sha\x03", then SHA-256's h0
        #expect(Array(state[36..<40]) == Array("abc".utf8) + [0])
        #expect(Array(state[100..<108]) == [0, 0, 0, 0, 0, 0, 0, 3])
        #expect(ResumableHasher(.sha512).state.count == 204)
        #expect(ResumableHasher(.sha512, state: state) == nil)
        #expect(ResumableHasher(.sha256, state: Array(state.dropLast())) == nil)
    }
}
