import Foundation
import NIOCore
import OCI
import Testing
import TestSupport

@testable import Transports

@Suite struct CodecTests {
    func chunks(_ bytes: [UInt8], size: Int) -> AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            var offset = 0
            while offset < bytes.count {
                continuation.yield(ByteBuffer(bytes: bytes[offset..<min(offset + size, bytes.count)]))
                offset += size
            }
            continuation.finish()
        }
    }

    func collect(_ sequence: some AsyncSequence<ByteBuffer, any Error>) async throws -> [UInt8] {
        var out: [UInt8] = []
        for try await chunk in sequence { out += chunk.readableBytesView }
        return out
    }

    /// The sha256 of what `tool -dc` makes of `compressed`.
    func systemDecompressed(_ compressed: [UInt8], with tool: String) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("berth-codec-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(compressed).write(to: file)
        let result = try Spawn.run("/bin/sh", ["-c", "\(tool) -dc '\(file.path)' | sha256sum"], environment: nil)
        return String(String(decoding: result.stdout, as: UTF8.self).prefix(64))
    }

    @Test func gzipRoundTripsAndMatchesTheSystemTool() async throws {
        var input = [UInt8](repeating: 0, count: 3_000_000)
        for i in input.indices where i % 7 == 0 { input[i] = UInt8(truncatingIfNeeded: i * 31) }
        let compressed = try await collect(CodecSequence(base: chunks(input, size: 70_000), codec: .compress(.gzip, level: 6)))
        #expect(compressed.count < input.count / 2)
        #expect(compressed.prefix(2) == [0x1f, 0x8b])
        #expect(try await collect(CodecSequence(base: chunks(compressed, size: 999), codec: .decompress(.gzip))) == input)
        #expect(try systemDecompressed(compressed, with: "gzip") == Digest.of(input).encoded)
    }

    @Test func gzipReadsConcatenatedMembersAndRejectsTruncation() async throws {
        let a = try await collect(CodecSequence(base: chunks(Array("hello ".utf8), size: 3), codec: .compress(.gzip, level: 1)))
        let b = try await collect(CodecSequence(base: chunks(Array("world".utf8), size: 3), codec: .compress(.gzip, level: 9)))
        #expect(try await collect(CodecSequence(base: chunks(a + b, size: 5), codec: .decompress(.gzip))) == Array("hello world".utf8))
        await #expect(throws: TransportError.self) {
            _ = try await collect(CodecSequence(base: chunks(Array(a.dropLast(6)), size: 5), codec: .decompress(.gzip)))
        }
        await #expect(throws: TransportError.self) {
            _ = try await collect(CodecSequence(base: chunks(Array("not gzip at all".utf8), size: 5), codec: .decompress(.gzip)))
        }
    }

    @Test func zstdRoundTripsAndMatchesTheSystemTool() async throws {
        let input = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 / 100) }
        let compressed = try await collect(CodecSequence(base: chunks(input, size: 50_000), codec: .compress(.zstd, level: 3)))
        #expect(compressed.count < input.count / 10)
        #expect(try await collect(CodecSequence(base: chunks(compressed, size: 777), codec: .decompress(.zstd))) == input)
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/zstd") {
            #expect(try systemDecompressed(compressed, with: "zstd") == Digest.of(input).encoded)
        }
        await #expect(throws: TransportError.self) {
            _ = try await collect(CodecSequence(base: chunks(Array(compressed.dropLast(10)), size: 100), codec: .decompress(.zstd)))
        }
        await #expect(throws: TransportError.self) {
            _ = try await collect(CodecSequence(base: chunks(Array(repeating: 9, count: 1000), size: 100), codec: .decompress(.zstd)))
        }
    }

    @Test func tarWrittenIsReadBackWithLongNames() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-tar-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("a.tar").path
        let long = "blobs/sha512/" + String(repeating: "ab", count: 64)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let writer = TarWriter(fd: fd, path: path)
        try writer.directory("blobs")
        try writer.add("index.json", bytes: Array("{}".utf8))
        try writer.add(long, bytes: [UInt8](repeating: 7, count: 1000))
        try writer.finish()
        close(fd)
        let index = try TarIndex(path: path)
        #expect(try index.read("index.json", limit: 100) == Array("{}".utf8))
        #expect(try index.read("./" + long, limit: 10_000) == [UInt8](repeating: 7, count: 1000))
        let names = String(decoding: try Spawn.run("/bin/tar", ["-tf", path], environment: nil).stdout, as: UTF8.self)
        #expect(names.contains(long))
    }

    @Test func aFileThatIsNotATarIsRejected() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-notar-\(UUID().uuidString)").path
        defer { unlink(path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data([UInt8](repeating: 65, count: 2048))))
        #expect(throws: TransportError.self) { try TarIndex(path: path) }
    }

    /// A ustar header block with a valid checksum; `size` is the raw 12-byte field.
    private static func header(_ name: String, type: UInt8, size: [UInt8]) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        block.replaceSubrange(0..<name.utf8.count, with: Array(name.utf8))
        block.replaceSubrange(100..<107, with: Array("0000644".utf8))
        block.replaceSubrange(124..<136, with: size)
        block[156] = type
        block.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
        for i in 148..<156 { block[i] = 32 }
        block.replaceSubrange(148..<154, with: Array(String(format: "%06o", block.reduce(0) { $0 + Int($1) }).utf8))
        block[154] = 0
        return block
    }

    private static func octal(_ value: Int) -> [UInt8] { Array(String(format: "%011o", value).utf8) + [0] }

    /// Found by fuzzing: a GNU base-256 size with the sign bit set wrapped to a negative offset,
    /// and the reader trapped converting it; a member claiming an exabyte overflowed the offset.
    @Test func tarSizesThatAreNegativeOrHugeAreRejected() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-badtar-\(UUID().uuidString)").path
        defer { unlink(path) }
        for size in [[UInt8](repeating: 0xff, count: 12), [0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]] {
            #expect(FileManager.default.createFile(atPath: path, contents: Data(Self.header("a", type: UInt8(ascii: "0"), size: size) + [UInt8](repeating: 0, count: 1024))))
            #expect(throws: TransportError.self) { try TarIndex(path: path) }
        }
    }

    /// PAX `size` is the member's real length (the ustar field holds 0 for files over 8 GiB).
    @Test func tarIndexTakesThePAXSize() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-paxtar-\(UUID().uuidString)").path
        defer { unlink(path) }
        let record = Array("11 size=13\n".utf8)
        func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512) }
        let archive = Self.header("PaxHeaders/a", type: UInt8(ascii: "x"), size: Self.octal(record.count)) + padded(record)
            + Self.header("a", type: UInt8(ascii: "0"), size: Self.octal(0)) + padded(Array("manifest body".utf8))
            + Self.header("b", type: UInt8(ascii: "0"), size: Self.octal(2)) + padded(Array("ok".utf8)) + [UInt8](repeating: 0, count: 1024)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(archive)))
        let index = try TarIndex(path: path)
        #expect(try index.read("a", limit: 100) == Array("manifest body".utf8))
        #expect(try index.read("b", limit: 100) == Array("ok".utf8))
    }

    @Test func jsonIsIndentedAsGoPrintsIt() {
        let text = JSONText.indented(Array(#"{"a":[],"b":{"c":"<x>"},"d":[1,2]}"#.utf8))
        #expect(text == "{\n    \"a\": [],\n    \"b\": {\n        \"c\": \"\\u003cx\\u003e\"\n    },\n    \"d\": [\n        1,\n        2\n    ]\n}")
    }
}
