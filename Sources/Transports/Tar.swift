import Foundation
import NIOCore

/// The members of a tar file and where their bytes are, so archives are read in place (no
/// extraction): ustar, with PAX `path`/`linkpath` and GNU long names.
struct TarIndex: Sendable {
    struct Member: Sendable {
        let offset: Int64
        let size: Int64
        let linkTarget: String?
    }

    let path: String
    private(set) var members: [String: Member] = [:]

    init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw TransportError.notFound(path, FileManager.default.fileExists(atPath: path) ? "cannot read" : "no such file")
        }
        defer { try? handle.close() }
        var offset: Int64 = 0
        var longName: String?
        var longLink: String?
        var paxSize: Int64?
        var headers = 0
        while true {
            headers += 1
            guard headers < 10_000_000 else { throw TransportError.invalidContent(path, "too many tar members") }
            try handle.seek(toOffset: UInt64(offset))
            let header = Array(handle.readData(ofLength: 512))
            guard header.count == 512 else {
                if header.isEmpty { break }
                throw TransportError.invalidContent(path, "truncated tar header at \(offset)")
            }
            if header.allSatisfy({ $0 == 0 }) { break }
            guard Self.checksumMatches(header) else { throw TransportError.invalidContent(path, "not a tar file (bad header checksum at \(offset))") }
            let type = header[156]
            // A PAX `size` record is the real size of the member after it (the ustar field holds 0
            // or a truncation for large files).
            let size = try (type == UInt8(ascii: "x") ? nil : paxSize) ?? Self.number(header[124..<136], path)
            // Both bounds keep the offsets below from overflowing, whatever the headers claim.
            guard size <= TarFields.largestSize, offset <= TarFields.largestSize else {
                throw TransportError.invalidContent(path, "tar member size out of range at \(offset)")
            }
            if type != UInt8(ascii: "x") { paxSize = nil }
            let dataOffset = offset + 512
            offset = dataOffset + (size + 511) / 512 * 512
            switch type {
            case UInt8(ascii: "x"):
                let records = Self.pax(handle.readData(ofLength: Int(min(size, 1 << 20))))
                longName = records["path"] ?? longName
                longLink = records["linkpath"] ?? longLink
                if let text = records["size"] {
                    guard let value = Int64(text), value >= 0 else { throw TransportError.invalidContent(path, "invalid PAX size at \(offset)") }
                    paxSize = value
                }
                continue
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                let text = Self.string(Array(handle.readData(ofLength: Int(min(size, 1 << 16)))))
                if type == UInt8(ascii: "L") { longName = text } else { longLink = text }
                continue
            case UInt8(ascii: "g"):
                continue
            default:
                break
            }
            let name = longName ?? TarFields.name(header)
            let link = longLink ?? Self.string(Array(header[157..<257]))
            longName = nil
            longLink = nil
            let normalized = Self.normalize(name)
            switch type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                members[normalized] = Member(offset: dataOffset, size: size, linkTarget: nil)
            case UInt8(ascii: "1"):
                members[normalized] = Member(offset: 0, size: 0, linkTarget: Self.normalize(link))
            case UInt8(ascii: "2"):
                // Not NSString's deletingLastPathComponent: it trapped on a name the fuzzer made.
                let base = normalized.lastIndex(of: "/").map { String(normalized[..<$0]) } ?? ""
                let target = link.hasPrefix("/") ? link : (base.isEmpty ? link : "\(base)/\(link)")
                members[normalized] = Member(offset: 0, size: 0, linkTarget: Self.normalize(target))
            default:
                continue
            }
        }
    }

    /// The member's bytes, following (hard and symbolic) links inside the archive.
    func member(_ name: String) -> Member? {
        var current = Self.normalize(name)
        for _ in 0..<16 {
            guard let found = members[current] else { return nil }
            guard let target = found.linkTarget else { return found }
            current = target
        }
        return nil
    }

    func read(_ name: String, limit: Int64) throws -> [UInt8] {
        guard let member = member(name) else { throw TransportError.invalidContent(path, "the archive has no \(name)") }
        guard member.size <= limit else { throw TransportError.invalidContent(path, "\(name) is too large") }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TransportError.io(path, "cannot read") }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(member.offset))
        return Array(handle.readData(ofLength: Int(member.size)))
    }

    func chunks(_ name: String) throws -> FileChunks {
        guard let member = member(name) else { throw TransportError.invalidContent(path, "the archive has no \(name)") }
        return FileChunks(path: path, offset: member.offset, length: member.size)
    }

    /// `./a//b` → `a/b`; `..` is kept, and never matches what we look up.
    static func normalize(_ name: String) -> String {
        name.split(separator: "/").filter { $0 != "." && !$0.isEmpty }.joined(separator: "/")
    }

    private static func string(_ bytes: [UInt8]) -> String { TarFields.string(bytes) }

    private static func number(_ field: ArraySlice<UInt8>, _ path: String) throws -> Int64 {
        guard let value = TarFields.number(field) else { throw TransportError.invalidContent(path, "invalid tar size field") }
        return value
    }

    private static func checksumMatches(_ header: [UInt8]) -> Bool { TarFields.checksumMatches(header) }

    private static func pax(_ data: Data) -> [String: String] {
        TarFields.paxRecords(Array(data)).mapValues { String(decoding: $0, as: UTF8.self) }
    }
}

/// Header fields both tar readers decode (this module's `TarIndex`, the runtime's layer stream):
/// NUL-terminated strings, octal or GNU base-256 numbers, the checksum, PAX records.
public enum TarFields {
    public static func string(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The largest member size either reader takes: far beyond any real layer, and small enough
    /// that offsets and block padding computed from it cannot overflow.
    public static let largestSize: Int64 = 1 << 60

    /// Octal, or GNU base-256 for large values; nil when the field is neither, or is negative or
    /// too wide for an Int64 (base-256 is two's complement: the bit after the marker is the sign).
    public static func number(_ field: ArraySlice<UInt8>) -> Int64? {
        if let first = field.first, first & 0x80 != 0 {
            guard first & 0x40 == 0 else { return nil }
            var value = Int64(first & 0x3f)
            for byte in field.dropFirst() {
                guard value <= Int64.max >> 8 else { return nil }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        let text = string(Array(field)).trimmingCharacters(in: .whitespaces)
        guard let value = Int64(text.isEmpty ? "0" : text, radix: 8), value >= 0 else { return nil }
        return value
    }

    /// The member's name: ustar's prefix and name fields joined.
    public static func name(_ header: [UInt8]) -> String {
        let name = string(Array(header[0..<100]))
        guard header[257..<262].elementsEqual("ustar".utf8) else { return name }
        let prefix = string(Array(header[345..<500]))
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    public static func checksumMatches(_ header: [UInt8]) -> Bool {
        guard let stored = Int(string(Array(header[148..<156])).trimmingCharacters(in: .whitespaces), radix: 8) else { return false }
        let sum = header.enumerated().reduce(0) { $0 + ((148..<156).contains($1.offset) ? 32 : Int($1.element)) }
        return sum == stored
    }

    /// PAX records (`<length> <key>=<value>\n`), values kept as bytes (xattrs are binary).
    public static func paxRecords(_ body: [UInt8]) -> [String: [UInt8]] {
        var records: [String: [UInt8]] = [:]
        var offset = 0
        while offset < body.count {
            guard let space = body[offset...].firstIndex(of: UInt8(ascii: " ")),
                let length = Int(String(decoding: body[offset..<space], as: UTF8.self)), length > 0, offset + length <= body.count
            else { break }
            let record = body[(space + 1)..<(offset + length - 1)]
            if let equals = record.firstIndex(of: UInt8(ascii: "=")) {
                records[String(decoding: record[record.startIndex..<equals], as: UTF8.self)] = Array(record[(equals + 1)...])
            }
            offset += length
        }
        return records
    }
}

/// Writes a tar stream to a file descriptor: ustar headers, PAX records for names over 100 bytes,
/// members with mode 0644 and mtime 0 so equal content makes equal archives.
struct TarWriter {
    let fd: Int32
    let path: String

    func add(_ name: String, bytes: [UInt8]) throws {
        try header(name, size: Int64(bytes.count), type: UInt8(ascii: "0"))
        try write(bytes)
        try pad(Int64(bytes.count))
    }

    func add(_ name: String, file: String) async throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        try header(name, size: size, type: UInt8(ascii: "0"))
        var written: Int64 = 0
        for try await chunk in FileChunks(path: file) {
            try write(Array(chunk.readableBytesView))
            written += Int64(chunk.readableBytes)
        }
        guard written == size else { throw TransportError.io(file, "changed while it was archived") }
        try pad(size)
    }

    func directory(_ name: String) throws {
        try header(name.hasSuffix("/") ? name : name + "/", size: 0, type: UInt8(ascii: "5"))
    }

    func finish() throws {
        try write([UInt8](repeating: 0, count: 1024))
    }

    private func header(_ name: String, size: Int64, type: UInt8) throws {
        if name.utf8.count > 100 {
            let record = Self.paxRecord("path", name)
            try header("PaxHeaders/\(name.suffix(80))", size: Int64(record.count), type: UInt8(ascii: "x"), nameOverride: true)
            try write(record)
            try pad(Int64(record.count))
        }
        try header(name, size: size, type: type, nameOverride: false)
    }

    private func header(_ name: String, size: Int64, type: UInt8, nameOverride _: Bool) throws {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, width: Int) {
            for (i, byte) in text.utf8.prefix(width).enumerated() { block[offset + i] = byte }
        }
        func octal(_ value: Int64, at offset: Int, width: Int) {
            put(String(repeating: "0", count: max(0, width - 1 - String(value, radix: 8).count)) + String(value, radix: 8), at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(type == UInt8(ascii: "5") ? 0o755 : 0o644, at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(0, at: 136, width: 12)
        block[156] = type
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        for i in 148..<156 { block[i] = 32 }
        let sum = block.reduce(0) { $0 + Int($1) }
        put(String(repeating: "0", count: 6 - String(sum, radix: 8).count) + String(sum, radix: 8), at: 148, width: 6)
        block[154] = 0
        try write(block)
    }

    private static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length = String(length).utf8.count + body.utf8.count }
        return Array("\(length)\(body)".utf8)
    }

    private func pad(_ size: Int64) throws {
        let extra = Int((512 - size % 512) % 512)
        if extra > 0 { try write([UInt8](repeating: 0, count: extra)) }
    }

    private func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll(fd, $0, path: path) }
    }
}
