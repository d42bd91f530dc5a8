// OCI: pure value types shared by the client and the server: digests, descriptors,
// manifests, media types, repository names and tags, and the spec's error codes.
// Also how a file-system failure is worded, which every layer above reports.
// Nothing here does I/O.

import Crypto

/// A content digest, `algorithm:encoded`, as the image-spec defines it.
///
/// Only registered algorithms (sha256, sha512) are accepted, and their encoded part must be
/// lowercase hex of the right length, so a `Digest` is always safe to use in a file path.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Comparable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha256, sha512

        public var hexLength: Int { self == .sha256 ? 64 : 128 }

        public func hasher() -> DigestHasher { DigestHasher(self) }
    }

    public let algorithm: Algorithm
    public let encoded: String

    /// Parses and validates `sha256:<64 hex>` or `sha512:<128 hex>`.
    public init(parsing input: some StringProtocol) throws(DigestError) {
        // A concrete String from here on: checked through the generic protocol, every byte took
        // unspecialised calls (a page of 1,000 tags spent most of its time here).
        let string = String(input)
        guard let colon = string.firstIndex(of: ":") else { throw .malformed(String(string)) }
        let algorithmPart = string[..<colon]
        let encodedPart = string[string.index(after: colon)...]
        guard Digest.isGrammaticalAlgorithm(algorithmPart), !encodedPart.isEmpty,
            encodedPart.utf8.allSatisfy(Digest.isEncodedByte)
        else { throw .malformed(String(string)) }
        guard let algorithm = Algorithm(rawValue: String(algorithmPart)) else {
            throw .unsupportedAlgorithm(String(algorithmPart))
        }
        guard encodedPart.utf8.count == algorithm.hexLength, encodedPart.utf8.allSatisfy(Digest.isLowerHex) else {
            throw .malformed(String(string))
        }
        self.algorithm = algorithm
        self.encoded = String(encodedPart)
    }

    init(algorithm: Algorithm, encoded: String) {
        self.algorithm = algorithm
        self.encoded = encoded
    }

    /// The digest whose hash function output is `hash` (32 bytes for sha256, 64 for sha512).
    public init(algorithm: Algorithm, hash: [UInt8]) {
        precondition(hash.count * 2 == algorithm.hexLength, "a \(algorithm) hash has \(algorithm.hexLength / 2) bytes")
        self.init(algorithm: algorithm, encoded: hexString(hash))
    }

    /// The digest of `bytes` under `algorithm`.
    public static func of(_ bytes: some Sequence<UInt8>, algorithm: Algorithm = .sha256) -> Digest {
        var hasher = algorithm.hasher()
        hasher.update(Array(bytes))
        return hasher.finalize()
    }

    /// True when `string` parses as a digest (used to tell digests from tags).
    public static func looksLikeDigest(_ string: some StringProtocol) -> Bool { string.contains(":") }

    public var description: String { "\(algorithm.rawValue):\(encoded)" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }

    private static func isEncodedByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "="), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default: return false
        }
    }

    /// `[a-z0-9]+([+._-][a-z0-9]+)*`
    private static func isGrammaticalAlgorithm(_ part: some StringProtocol) -> Bool {
        var previousWasSeparator = true
        for byte in part.utf8 {
            let isAlnum = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            if isAlnum {
                previousWasSeparator = false
            } else if "+._-".utf8.contains(byte), !previousWasSeparator {
                previousWasSeparator = true
            } else {
                return false
            }
        }
        return !previousWasSeparator
    }
}

public enum DigestError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case unsupportedAlgorithm(String)

    public var description: String {
        switch self {
        case .malformed(let s): "invalid digest '\(s.prefix(200))'"
        case .unsupportedAlgorithm(let a): "unsupported digest algorithm '\(a.prefix(50))'"
        }
    }
}

/// Streaming hash for one of the registered algorithms; a value type, so a copy is a checkpoint.
public struct DigestHasher: Sendable {
    private enum State: Sendable {
        case sha256(SHA256)
        case sha512(SHA512)
    }
    private var state: State
    public let algorithm: Digest.Algorithm

    public init(_ algorithm: Digest.Algorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var h):
            h.update(bufferPointer: bytes)
            state = .sha256(h)
        case .sha512(var h):
            h.update(bufferPointer: bytes)
            state = .sha512(h)
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> Digest {
        let bytes: [UInt8] =
            switch state {
            case .sha256(let h): Array(h.finalize())
            case .sha512(let h): Array(h.finalize())
            }
        return Digest(algorithm: algorithm, encoded: hexString(bytes))
    }
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
