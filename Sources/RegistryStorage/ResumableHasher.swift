import CLibCrypto
import OCI

/// SHA-256 or SHA-512 whose state can be saved between requests and restored on another replica
/// or after a restart, so an upload never has to be read back to be hashed. The saved form is Go's
/// `encoding.BinaryMarshaler` layout for these hashes (what distribution keeps as "hashstates"):
/// a magic, the chaining values big-endian, the pending block zero-padded and the byte length
/// big-endian, the same on every architecture.
public struct ResumableHasher: Sendable {
    private enum Context: Sendable {
        case sha256(SHA256_CTX)
        case sha512(SHA512_CTX)
    }

    private var context: Context
    public let algorithm: Digest.Algorithm

    public init(_ algorithm: Digest.Algorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256:
            var c = SHA256_CTX()
            SHA256_Init(&c)
            context = .sha256(c)
        case .sha512:
            var c = SHA512_CTX()
            SHA512_Init(&c)
            context = .sha512(c)
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        switch context {
        case .sha256(var c):
            SHA256_Update(&c, base, bytes.count)
            context = .sha256(c)
        case .sha512(var c):
            SHA512_Update(&c, base, bytes.count)
            context = .sha512(c)
        }
    }

    public func finalize() -> Digest {
        var bytes: [UInt8]
        switch context {
        case .sha256(var c):
            bytes = [UInt8](repeating: 0, count: 32)
            SHA256_Final(&bytes, &c)
        case .sha512(var c):
            bytes = [UInt8](repeating: 0, count: 64)
            SHA512_Final(&bytes, &c)
        }
        return Digest(algorithm: algorithm, hash: bytes)
    }

    // MARK: saving and restoring

    static let sha256Magic: [UInt8] = Array("sha\u{03}".utf8)
    static let sha512Magic: [UInt8] = Array("sha\u{07}".utf8)

    /// The state in Go's marshalled form (108 bytes for SHA-256, 204 for SHA-512).
    public var state: [UInt8] {
        var out: [UInt8] = []
        switch context {
        case .sha256(var c):
            out = Self.sha256Magic
            withUnsafeBytes(of: c.h) { h in for i in 0..<8 { out += bigEndian(h.load(fromByteOffset: i * 4, as: UInt32.self)) } }
            let pending = Int(c.num)
            withUnsafeBytes(of: &c.data) { out += $0.prefix(pending) }
            out += [UInt8](repeating: 0, count: 64 - pending)
            out += bigEndian((UInt64(c.Nh) << 32 | UInt64(c.Nl)) / 8)
        case .sha512(var c):
            out = Self.sha512Magic
            withUnsafeBytes(of: c.h) { h in for i in 0..<8 { out += bigEndian(h.load(fromByteOffset: i * 8, as: UInt64.self)) } }
            let pending = Int(c.num)
            withUnsafeBytes(of: &c.u) { out += $0.prefix(pending) }
            out += [UInt8](repeating: 0, count: 128 - pending)
            out += bigEndian(c.Nl / 8 | c.Nh << 61)
        }
        return out
    }

    /// Restores a saved state; nil when `state` is not one of `algorithm`'s.
    public init?(_ algorithm: Digest.Algorithm, state: [UInt8]) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256:
            guard state.count == 108, Array(state.prefix(4)) == Self.sha256Magic else { return nil }
            var c = SHA256_CTX()
            SHA256_Init(&c)
            withUnsafeMutableBytes(of: &c.h) { h in
                for i in 0..<8 { h.storeBytes(of: UInt32(readBigEndian(state, at: 4 + i * 4, count: 4)), toByteOffset: i * 4, as: UInt32.self) }
            }
            let length = readBigEndian(state, at: 100, count: 8)
            let pending = Int(length % 64)
            withUnsafeMutableBytes(of: &c.data) { $0.copyBytes(from: state[36..<(36 + pending)]) }
            c.num = UInt32(pending)
            c.Nl = UInt32(truncatingIfNeeded: length << 3)
            c.Nh = UInt32(truncatingIfNeeded: length >> 29)
            context = .sha256(c)
        case .sha512:
            guard state.count == 204, Array(state.prefix(4)) == Self.sha512Magic else { return nil }
            var c = SHA512_CTX()
            SHA512_Init(&c)
            withUnsafeMutableBytes(of: &c.h) { h in
                for i in 0..<8 { h.storeBytes(of: readBigEndian(state, at: 4 + i * 8, count: 8), toByteOffset: i * 8, as: UInt64.self) }
            }
            let length = readBigEndian(state, at: 196, count: 8)
            let pending = Int(length % 128)
            withUnsafeMutableBytes(of: &c.u) { $0.copyBytes(from: state[68..<(68 + pending)]) }
            c.num = UInt32(pending)
            c.Nl = length << 3
            c.Nh = length >> 61
            context = .sha512(c)
        }
    }
}

private func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

private func readBigEndian(_ bytes: [UInt8], at offset: Int, count: Int) -> UInt64 {
    bytes[offset..<(offset + count)].reduce(0) { $0 << 8 | UInt64($1) }
}
