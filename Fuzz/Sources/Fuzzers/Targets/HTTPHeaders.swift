@testable import RegistryClient
@testable import RegistryServer

/// `WWW-Authenticate` headers from any registry: parsed into challenges, never crashing.
enum AuthChallengeTarget {
    static func run(_ bytes: [UInt8]) {
        _ = AuthChallenge.parse(String(decoding: bytes, as: UTF8.self))
    }
}

/// A GET's `Range` against blobs of several sizes, and a PATCH's `Content-Range` (first line) with
/// its `Content-Length` (second line): what is served or appended always lies inside the blob.
enum RangeTarget {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        for size: Int64 in [0, 1, 7, 1 << 20, .max] {
            if case .partial(let range) = ByteRange(header: text, size: size) {
                precondition(range.lowerBound >= 0 && range.upperBound < size, "range \(range) outside a blob of \(size) bytes")
            }
        }
        let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        if let chunk = try? ChunkRange.bounds(contentRange: lines[0], contentLength: lines.count > 1 ? lines[1] : nil),
            let start = chunk.start, let length = chunk.length
        {
            precondition(start >= 0 && length >= 1, "chunk \(start)+\(length)")
        }
    }
}
