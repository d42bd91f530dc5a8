import Foundation
import NIOCore
import Transports

/// One member of a tar stream, its header fields decoded (ustar, PAX and GNU long names).
struct TarEntry: Sendable {
    enum Kind: Sendable, Equatable {
        case file, hardLink, symlink, characterDevice, blockDevice, directory, fifo, other(UInt8)
    }

    var name: String
    var kind: Kind
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var size: Int64
    var mtime: Int64
    var linkTarget: String
    var deviceMajor: UInt32
    var deviceMinor: UInt32
    /// PAX `SCHILY.xattr.<name>` records.
    var xattrs: [String: [UInt8]]
}

/// Reads a tar archive from a byte stream, one entry at a time, without holding more than a
/// header in memory: `next()` returns the next entry, whose content is then read (or skipped).
final class TarStream<Base: AsyncSequence> where Base.Element == ByteBuffer {
    private var iterator: Base.AsyncIterator
    private var buffer = ByteBuffer()
    private var unread: Int64 = 0
    private var padding: Int64 = 0
    private(set) var ended = false

    init(_ base: Base) { iterator = base.makeAsyncIterator() }

    /// The next entry, or nil at the end of the archive (two zero blocks, or the stream's end).
    func next() async throws -> TarEntry? {
        try await skip(unread + padding)
        unread = 0
        padding = 0
        var longName: String?
        var longLink: String?
        var pax: [String: [UInt8]] = [:]
        for _ in 0..<64 {
            guard let header = try await take(512) else {
                ended = true
                return nil
            }
            if header.allSatisfy({ $0 == 0 }) {
                ended = true
                return nil
            }
            guard Self.checksumMatches(header) else { throw TarError("not a tar stream (bad header checksum)") }
            var size = try Self.number(header[124..<136])
            let type = header[156]
            switch type {
            case UInt8(ascii: "x"), UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "g"):
                guard size <= 1 << 20 else { throw TarError("extended header larger than 1 MiB") }
                guard let body = try await take(Int(size)) else { throw TarError("truncated extended header") }
                try await skip((512 - size % 512) % 512)
                if type == UInt8(ascii: "x") {
                    for (key, value) in Self.pax(body) { pax[key] = value }
                } else if type == UInt8(ascii: "L") {
                    longName = Self.string(body)
                } else if type == UInt8(ascii: "K") {
                    longLink = Self.string(body)
                }
                continue
            default:
                break
            }
            var name = longName ?? TarFields.name(header)
            if let path = pax["path"] { name = String(decoding: path, as: UTF8.self) }
            var link = longLink ?? Self.string(Array(header[157..<257]))
            if let path = pax["linkpath"] { link = String(decoding: path, as: UTF8.self) }
            // A NUL inside a PAX or GNU long name would cut the path the system calls see: a name
            // of NULs then named the root itself, and replacing it removed the whole rootfs (found
            // by fuzzing the unpacker). No tar writer puts NUL in a name.
            guard !name.utf8.contains(0), !link.utf8.contains(0) else { throw TarError("a member name or link target contains a NUL byte") }
            let kind: TarEntry.Kind =
                switch type {
                case UInt8(ascii: "0"), 0, UInt8(ascii: "7"): name.hasSuffix("/") ? .directory : .file
                case UInt8(ascii: "1"): .hardLink
                case UInt8(ascii: "2"): .symlink
                case UInt8(ascii: "3"): .characterDevice
                case UInt8(ascii: "4"): .blockDevice
                case UInt8(ascii: "5"): .directory
                case UInt8(ascii: "6"): .fifo
                default: .other(type)
                }
            var entry = TarEntry(
                name: name, kind: kind, mode: UInt32(try Self.number(header[100..<108]) & 0o7777),
                uid: UInt32(truncatingIfNeeded: try Self.number(header[108..<116])), gid: UInt32(truncatingIfNeeded: try Self.number(header[116..<124])),
                size: kind == .file ? size : 0, mtime: try Self.number(header[136..<148]), linkTarget: link,
                deviceMajor: UInt32(truncatingIfNeeded: try Self.number(header[329..<337])),
                deviceMinor: UInt32(truncatingIfNeeded: try Self.number(header[337..<345])), xattrs: [:])
            // PAX `size` is the member's real size (the ustar field holds 0 or a truncation for large
            // files): the content to read or skip is that long.
            if let value = pax["size"] {
                guard let parsed = Int64(String(decoding: value, as: UTF8.self)), parsed >= 0 else { throw TarError("invalid PAX size") }
                size = parsed
                if kind == .file { entry.size = parsed }
            }
            guard size <= TarFields.largestSize else { throw TarError("member size out of range") }
            for (key, value) in pax {
                if let number = (String(decoding: value, as: UTF8.self).split(separator: ".").first).flatMap({ Int64($0) }) {
                    if key == "uid" { entry.uid = UInt32(truncatingIfNeeded: number) }
                    if key == "gid" { entry.gid = UInt32(truncatingIfNeeded: number) }
                    if key == "mtime" { entry.mtime = number }
                }
                if key.hasPrefix("SCHILY.xattr."), !key.utf8.contains(0) { entry.xattrs[String(key.dropFirst("SCHILY.xattr.".count))] = value }
            }
            // Data follows for regular files, and for other types that declare a size (skipped).
            unread = size
            padding = (512 - size % 512) % 512
            if kind != .file { try await skip(unread + padding); unread = 0; padding = 0 }
            return entry
        }
        throw TarError("too many extended headers in a row")
    }

    /// Passes the current entry's content to `sink` in chunks.
    func readContent(_ sink: (ByteBuffer) throws -> Void) async throws {
        try await consume(unread, sink)
        unread = 0
    }

    /// Reads what is left of the stream (after the end of the archive), so that a digesting
    /// stream underneath reaches its end and checks the digest.
    func drain() async throws {
        buffer.clear()
        while try await iterator.next() != nil {}
    }

    private func take(_ count: Int) async throws -> [UInt8]? {
        while buffer.readableBytes < count {
            guard var chunk = try await iterator.next() else {
                if buffer.readableBytes == 0 { return nil }
                throw TarError("truncated tar stream")
            }
            buffer.discardReadBytes()
            buffer.writeBuffer(&chunk)
        }
        return buffer.readBytes(length: count)
    }

    private func skip(_ count: Int64) async throws {
        try await consume(count) { _ in }
    }

    /// The next `count` bytes of the stream, handed to `sink` in the slices they arrived in.
    private func consume(_ count: Int64, _ sink: (ByteBuffer) throws -> Void) async throws {
        var left = count
        while left > 0 {
            if buffer.readableBytes == 0 {
                guard let chunk = try await iterator.next() else { throw TarError("truncated tar stream") }
                buffer = chunk
                continue
            }
            let step = Int(min(Int64(buffer.readableBytes), left))
            try sink(buffer.readSlice(length: step)!)
            left -= Int64(step)
        }
    }

    static func string(_ bytes: [UInt8]) -> String { TarFields.string(bytes) }

    static func number(_ field: ArraySlice<UInt8>) throws -> Int64 {
        guard let value = TarFields.number(field) else { throw TarError("invalid numeric field") }
        return value
    }

    static func checksumMatches(_ header: [UInt8]) -> Bool { TarFields.checksumMatches(header) }

    static func pax(_ body: [UInt8]) -> [String: [UInt8]] { TarFields.paxRecords(body) }
}

struct TarError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
