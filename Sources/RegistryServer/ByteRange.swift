/// A single byte range from a `Range: bytes=…` request header, resolved against a blob's size.
enum ByteRange: Equatable {
    /// Serve the whole blob (no header, another unit, or several ranges, which RFC 9110 lets a server ignore).
    case whole
    case partial(ClosedRange<Int64>)
    case unsatisfiable

    init(header: String?, size: Int64) {
        guard let header else {
            self = .whole
            return
        }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else {
            self = .whole
            return
        }
        let spec = trimmed.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(",") else {
            self = .whole
            return
        }
        let bounds = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard bounds.count == 2 else {
            self = .unsatisfiable
            return
        }
        let first = Int64(bounds[0])
        let last = Int64(bounds[1])
        switch (bounds[0].isEmpty, bounds[1].isEmpty) {
        case (true, false):
            // Suffix range: the last N bytes.
            guard let n = last, n > 0, size > 0 else {
                self = .unsatisfiable
                return
            }
            self = .partial(max(0, size - n)...(size - 1))
        case (false, true):
            guard let a = first, a >= 0, a < size else {
                self = .unsatisfiable
                return
            }
            self = .partial(a...(size - 1))
        case (false, false):
            guard let a = first, let b = last, a >= 0, a <= b, a < size else {
                self = .unsatisfiable
                return
            }
            self = .partial(a...min(b, size - 1))
        case (true, true):
            self = .unsatisfiable
        }
    }
}

import Foundation

/// The part of an upload a PATCH carries, from its headers.
enum ChunkRange {
    /// The chunk's first byte and length from `Content-Range` (`a-b`, inclusive, with or without
    /// a `bytes` unit) and `Content-Length`; nil where a header is absent.
    static func bounds(contentRange: String?, contentLength: String?) throws(SpecError) -> (start: Int64?, length: Int64?) {
        let declared = contentLength.flatMap { Int64($0) }
        guard let header = contentRange else { return (nil, declared) }
        var spec = Substring(header.trimmingCharacters(in: .whitespaces))
        if spec.hasPrefix("bytes=") || spec.hasPrefix("bytes ") { spec = spec.dropFirst(6) }
        let bounds = spec.split(separator: "-", omittingEmptySubsequences: false)
        // `end < Int64.max` keeps the length (end - start + 1) representable.
        guard bounds.count == 2, bounds.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }),
            let start = Int64(bounds[0]), let end = Int64(bounds[1]), start <= end, end < Int64.max
        else {
            throw SpecError(.blobUploadInvalid, "malformed Content-Range '\(header.prefix(100))'", status: 416)
        }
        let length = end - start + 1
        if let declared, declared != length {
            throw SpecError(.sizeInvalid, "Content-Length \(declared) does not match Content-Range \(start)-\(end)")
        }
        return (start, length)
    }
}
