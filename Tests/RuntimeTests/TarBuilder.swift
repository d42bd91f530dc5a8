import Foundation
import NIOCore

/// Hand-made tar layers for tests: ustar headers, PAX records for xattrs, any type and name
/// (including the malicious ones no well-behaved tool would write).
struct TarBuilder {
    private(set) var bytes: [UInt8] = []

    mutating func file(_ name: String, _ content: String = "", mode: Int = 0o644, uid: Int = 0, gid: Int = 0, mtime: Int = 1_700_000_000, xattrs: [String: String] = [:]) {
        if !xattrs.isEmpty {
            let records = xattrs.sorted { $0.key < $1.key }.flatMap { Self.paxRecord("SCHILY.xattr.\($0.key)", $0.value) }
            header("PaxHeaders/x", type: "x", size: records.count)
            append(records)
        }
        header(name, type: "0", size: content.utf8.count, mode: mode, uid: uid, gid: gid, mtime: mtime)
        append(Array(content.utf8))
    }
    mutating func directory(_ name: String, mode: Int = 0o755, mtime: Int = 1_700_000_000) { header(name, type: "5", mode: mode, mtime: mtime) }
    mutating func symlink(_ name: String, to target: String) { header(name, type: "2", link: target) }
    mutating func hardLink(_ name: String, to target: String) { header(name, type: "1", link: target) }
    mutating func fifo(_ name: String) { header(name, type: "6", mode: 0o600) }

    /// A PAX extended header with these records, applying to the next member.
    mutating func pax(_ records: [(String, String)]) {
        let body = records.flatMap { Self.paxRecord($0.0, $0.1) }
        header("PaxHeaders/x", type: "x", size: body.count)
        append(body)
    }

    /// A file whose ustar size field says `declared` while `content` follows (PAX sizes, lies).
    mutating func file(_ name: String, declaring declared: Int, _ content: [UInt8]) {
        header(name, type: "0", size: declared)
        append(content)
    }

    /// A member whose 12-byte size field holds exactly `field` (GNU base-256 and malformed sizes).
    mutating func file(_ name: String, sizeField field: [UInt8]) {
        header(name, type: "0")
        var block = Array(bytes.suffix(512))
        block.replaceSubrange(124..<136, with: field)
        for i in 148..<156 { block[i] = 32 }
        let sum = Array(String(format: "%06o", block.reduce(0) { $0 + Int($1) }).utf8)
        block.replaceSubrange(148..<154, with: sum)
        block[154] = 0
        bytes.replaceSubrange((bytes.count - 512)..., with: block)
    }

    func finished() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }

    /// The archive in chunks of `size` bytes, as a network stream would deliver it.
    func stream(chunk size: Int = 700) -> Chunks { Chunks(bytes: finished(), size: size) }

    struct Chunks: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let bytes: [UInt8]
        let size: Int
        struct AsyncIterator: AsyncIteratorProtocol {
            var rest: ArraySlice<UInt8>
            let size: Int
            mutating func next() async throws -> ByteBuffer? {
                guard !rest.isEmpty else { return nil }
                defer { rest = rest.dropFirst(size) }
                return ByteBuffer(bytes: rest.prefix(size))
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: bytes[...], size: size) }
    }

    private mutating func append(_ data: [UInt8]) {
        bytes += data
        bytes += [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }

    private mutating func header(_ name: String, type: Character, size: Int = 0, mode: Int = 0o644, uid: Int = 0, gid: Int = 0, mtime: Int = 1_700_000_000, link: String = "") {
        if name.utf8.count > 100 {
            let record = Self.paxRecord("path", name)
            header("PaxHeaders/long", type: "x", size: record.count)
            append(record)
        }
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ offset: Int, _ width: Int) { for (i, byte) in text.utf8.prefix(width).enumerated() { block[offset + i] = byte } }
        func octal(_ value: Int, _ offset: Int, _ width: Int) { put(String(format: "%0\(width - 1)o", value), offset, width - 1) }
        put(name, 0, 100)
        octal(mode, 100, 8)
        octal(uid, 108, 8)
        octal(gid, 116, 8)
        octal(size, 124, 12)
        octal(mtime, 136, 12)
        block[156] = type.asciiValue!
        put(link, 157, 100)
        put("ustar", 257, 6)
        put("00", 263, 2)
        for i in 148..<156 { block[i] = 32 }
        put(String(format: "%06o", block.reduce(0) { $0 + Int($1) }), 148, 6)
        block[154] = 0
        bytes += block
    }

    static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length = String(length).utf8.count + body.utf8.count }
        return Array("\(length)\(body)".utf8)
    }
}
