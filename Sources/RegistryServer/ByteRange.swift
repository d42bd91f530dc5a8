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
