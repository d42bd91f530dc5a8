import Foundation
import NIOCore
import OCI
import Testing

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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(tool) -dc '\(file.path)' | sha256sum"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return String(output.prefix(64))
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
        let listing = Process()
        listing.executableURL = URL(fileURLWithPath: "/bin/tar")
        listing.arguments = ["-tf", path]
        let pipe = Pipe()
        listing.standardOutput = pipe
        try listing.run()
        let names = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        listing.waitUntilExit()
        #expect(names.contains(long))
    }

    @Test func aFileThatIsNotATarIsRejected() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-notar-\(UUID().uuidString)").path
        defer { unlink(path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data([UInt8](repeating: 65, count: 2048))))
        #expect(throws: TransportError.self) { try TarIndex(path: path) }
    }

    @Test func jsonIsIndentedAsGoPrintsIt() {
        let text = JSONText.indented(Array(#"{"a":[],"b":{"c":"<x>"},"d":[1,2]}"#.utf8))
        #expect(text == "{\n    \"a\": [],\n    \"b\": {\n        \"c\": \"\\u003cx\\u003e\"\n    },\n    \"d\": [\n        1,\n        2\n    ]\n}")
    }
}
