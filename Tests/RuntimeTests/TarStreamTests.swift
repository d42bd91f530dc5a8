import Foundation
import NIOCore
import Testing
import Transports

@testable import Runtime

/// The layer tar reader on headers an attacker controls; cases the fuzzer found are named.
@Suite struct TarStreamTests {
    private func entries(_ tar: TarBuilder) async throws -> [(TarEntry, [UInt8])] {
        let stream = TarStream(tar.stream(chunk: 300))
        var found: [(TarEntry, [UInt8])] = []
        while let entry = try await stream.next() {
            var content: [UInt8] = []
            if entry.kind == .file { try await stream.readContent { content += Array(buffer: $0) } }
            found.append((entry, content))
        }
        return found
    }

    /// PAX `size` is the member's real length (writers put 0 in the ustar field for files over
    /// 8 GiB): the reader used to read the ustar size and lose its place in the archive.
    @Test func aPAXSizeIsTheMembersLength() async throws {
        var tar = TarBuilder()
        tar.pax([("size", "5")])
        tar.file("big", declaring: 0, Array("hello".utf8))
        tar.file("after", "next")
        let found = try await entries(tar)
        #expect(found.map(\.0.name) == ["big", "after"])
        #expect(found.map { String(decoding: $0.1, as: UTF8.self) } == ["hello", "next"])
    }

    @Test func emptyOrNegativePAXNumbersAreHandled() async throws {
        var tar = TarBuilder()
        tar.pax([("uid", ""), ("mtime", "."), ("gid", "-")])
        tar.file("a", "x")
        #expect(try await entries(tar).map(\.0.name) == ["a"])
        var negative = TarBuilder()
        negative.pax([("size", "-1")])
        negative.file("a", "x")
        await #expect(throws: TarError.self) { _ = try await entries(negative) }
    }

    /// GNU base-256 sizes: found by fuzzing — a negative one (sign bit set) wrapped to a negative
    /// offset and a too-wide one overflowed; both trapped in the docker-archive reader.
    @Test func baseTwoFiftySixNumbersAreBoundedAndNonNegative() async throws {
        func number(_ field: [UInt8]) -> Int64? { TarFields.number(field[...]) }
        #expect(number([0x80] + [UInt8](repeating: 0, count: 10) + [5]) == 5)
        #expect(number([0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) == Int64.max)
        #expect(number([UInt8](repeating: 0xff, count: 12)) == nil)
        #expect(number([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]) == nil)
        var huge = TarBuilder()
        huge.file("a", sizeField: [0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        await #expect(throws: TarError.self) { _ = try await entries(huge) }
    }

    /// Found by fuzzing the unpacker: a PAX path of NUL bytes reached the system calls as the root
    /// itself, and replacing "it" with a file removed the whole rootfs.
    @Test func aNameWithANulByteIsRefused() async throws {
        var tar = TarBuilder()
        tar.pax([("path", "\u{0}\u{0}bbb/../outside/pwned")])
        tar.file("ignored", "x")
        await #expect(throws: TarError.self) { _ = try await entries(tar) }
        var link = TarBuilder()
        link.pax([("linkpath", "a\u{0}b")])
        link.symlink("l", to: "ignored")
        await #expect(throws: TarError.self) { _ = try await entries(link) }
    }
}
