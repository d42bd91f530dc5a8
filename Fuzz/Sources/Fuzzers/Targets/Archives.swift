import Foundation
import NIOCore
@testable import Runtime
@testable import Transports

/// A tar archive in the fuzz input. The first byte chooses whether each header's checksum is
/// recomputed first (odd) — so mutations reach the fields behind the checksum — or left as the
/// fuzzer made it (even), which exercises the checksum check itself.
struct FuzzedTar {
    let bytes: [UInt8]

    init?(_ input: [UInt8]) {
        guard let mode = input.first else { return nil }
        bytes = mode % 2 == 1 ? Self.withChecksums(Array(input.dropFirst())) : Array(input.dropFirst())
    }

    /// Walks the archive as a reader would (header, then its content rounded up to blocks) and
    /// writes a valid checksum into each header.
    private static func withChecksums(_ archive: [UInt8]) -> [UInt8] {
        var bytes = archive
        var offset = 0
        while offset + 512 <= bytes.count {
            let header = offset..<(offset + 512)
            if bytes[header].allSatisfy({ $0 == 0 }) { break }
            for index in (offset + 148)..<(offset + 156) { bytes[index] = 0x20 }
            let sum = bytes[header].reduce(0) { $0 + Int($1) }
            let field = Array(String(sum, radix: 8).utf8)
            let digits = Array(repeating: UInt8(ascii: "0"), count: max(0, 6 - field.count)) + field.suffix(6)
            bytes.replaceSubrange((offset + 148)..<(offset + 154), with: digits)
            bytes[offset + 154] = 0
            let size = TarFields.number(bytes[(offset + 124)..<(offset + 136)]) ?? 0
            guard size >= 0, size < Int64(bytes.count) else { break }
            offset += 512 + Int((size + 511) / 512) * 512
        }
        return bytes
    }

    /// The archive as a stream of chunks of an odd size, so headers straddle chunk boundaries.
    var chunks: Chunks { Chunks(bytes: bytes) }

    struct Chunks: AsyncSequence, Sendable {
        let bytes: [UInt8]
        func makeAsyncIterator() -> Iterator { Iterator(bytes: bytes) }
        struct Iterator: AsyncIteratorProtocol {
            let bytes: [UInt8]
            var offset = 0
            mutating func next() async -> ByteBuffer? {
                guard offset < bytes.count else { return nil }
                let end = Swift.min(bytes.count, offset + 1537)
                defer { offset = end }
                return ByteBuffer(bytes: bytes[offset..<end])
            }
        }
    }
}

/// The two tar readers: the runtime's streaming one (layers) and the docker-archive index.
enum TarTarget {
    static func run(_ input: [UInt8]) {
        guard let tar = FuzzedTar(input) else { return }
        Harness.blocking {
            let stream = TarStream(tar.chunks)
            var entries = 0
            while entries < 10_000, let entry = try? await stream.next() {
                entries += 1
                if entry.kind == .file { try? await stream.readContent { _ in } }
            }
        }
        if let index = try? TarIndex(path: Harness.file("archive.tar", tar.bytes)) {
            for name in ["manifest.json", "repositories", "index.json", "oci-layout"] { _ = try? index.read(name, limit: 1 << 20) }
        }
    }
}

/// Layers unpacked into a root filesystem in a fixed sandbox: whatever the input (`..`, absolute
/// names, symlinks and hard links pointing out, whiteouts of `..`), nothing may appear beside the
/// root — seeds aim links at the sandbox's `outside` directory by its absolute path.
enum LayerUnpackTarget {
    static let sandbox = "/tmp/berth-fuzz-unpack"
    /// The sandbox is a fixed path (the seeds name it), so it is removed when libFuzzer exits.
    private static let removedAtExit: Void = { atexit { try? FileManager.default.removeItem(atPath: sandbox) } }()

    static func run(_ input: [UInt8]) {
        guard let tar = FuzzedTar(input) else { return }
        removedAtExit
        let manager = FileManager.default
        try? manager.removeItem(atPath: sandbox)
        try! manager.createDirectory(atPath: "\(sandbox)/rootfs", withIntermediateDirectories: true)
        try! manager.createDirectory(atPath: "\(sandbox)/outside", withIntermediateDirectories: true)
        Harness.blocking { try? await LayerUnpacker(rootfs: "\(sandbox)/rootfs").apply(tar.chunks, layer: "sha256:fuzz") }
        let beside = Set((try? manager.contentsOfDirectory(atPath: sandbox)) ?? [])
        precondition(beside == ["rootfs", "outside"], "the layer wrote beside the root: \(beside.sorted())")
        let escaped = (try? manager.contentsOfDirectory(atPath: "\(sandbox)/outside")) ?? []
        precondition(escaped.isEmpty, "the layer wrote outside the root: \(escaped)")
    }
}
