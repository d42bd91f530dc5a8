/// NaCl's `crypto_secretbox` (XSalsa20 + Poly1305), which encrypts cosign private keys. Written
/// here because swift-crypto has neither; checked against RFC 8439's Poly1305 vector and the
/// published cosign keys.
enum SecretBox {
    static let keySize = 32
    static let nonceSize = 24
    static let tagSize = 16

    /// `tag || ciphertext`, as Go's `secretbox.Seal` returns it.
    static func seal(_ message: [UInt8], nonce: [UInt8], key: [UInt8]) -> [UInt8] {
        var stream = XSalsa20(key: key, nonce: nonce)
        let polyKey = stream.next(32)
        let keystream = stream.next(message.count)
        let ciphertext = zip(message, keystream).map { $0 ^ $1 }
        return Poly1305.tag(ciphertext, key: polyKey) + ciphertext
    }

    /// The plaintext, or nil when the tag does not authenticate (wrong key or altered data).
    static func open(_ box: [UInt8], nonce: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard box.count >= tagSize, nonce.count == nonceSize, key.count == keySize else { return nil }
        var stream = XSalsa20(key: key, nonce: nonce)
        let polyKey = stream.next(32)
        let ciphertext = Array(box[tagSize...])
        let expected = Poly1305.tag(ciphertext, key: polyKey)
        // Constant time: every byte is compared whatever the first difference.
        guard zip(expected, box.prefix(tagSize)).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return nil }
        return zip(ciphertext, stream.next(ciphertext.count)).map { $0 ^ $1 }
    }
}

/// The XSalsa20 key stream: HSalsa20 turns the key and the first 16 nonce bytes into a subkey,
/// then Salsa20 runs with the last 8 nonce bytes and a block counter.
struct XSalsa20 {
    private var key: [UInt32]
    private let nonce: [UInt32]
    private var counter: UInt64 = 0
    private var buffer: [UInt8] = []

    init(key: [UInt8], nonce: [UInt8]) {
        let subkey = Salsa20.hsalsa20(key: Salsa20.words(key), input: Salsa20.words(Array(nonce[0..<16])))
        self.key = subkey
        self.nonce = Salsa20.words(Array(nonce[16..<24]))
    }

    mutating func next(_ count: Int) -> [UInt8] {
        while buffer.count < count {
            let input = nonce + [UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32)]
            buffer += Salsa20.block(key: key, input: input)
            counter += 1
        }
        defer { buffer.removeFirst(count) }
        return Array(buffer.prefix(count))
    }
}

enum Salsa20 {
    static let sigma: [UInt32] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]

    static func words(_ bytes: [UInt8]) -> [UInt32] {
        stride(from: 0, to: bytes.count, by: 4).map { i in
            UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
        }
    }

    static func state(key: [UInt32], input: [UInt32]) -> [UInt32] {
        [sigma[0], key[0], key[1], key[2], key[3], sigma[1], input[0], input[1], input[2], input[3], sigma[2], key[4], key[5], key[6], key[7], sigma[3]]
    }

    /// Twenty rounds (ten double rounds) over the state.
    static func rounds(_ x: inout [UInt32]) {
        @inline(__always) func rotl(_ v: UInt32, _ n: UInt32) -> UInt32 { (v << n) | (v >> (32 - n)) }
        @inline(__always) func quarter(_ a: Int, _ b: Int, _ c: Int, _ d: Int) {
            x[b] ^= rotl(x[a] &+ x[d], 7)
            x[c] ^= rotl(x[b] &+ x[a], 9)
            x[d] ^= rotl(x[c] &+ x[b], 13)
            x[a] ^= rotl(x[d] &+ x[c], 18)
        }
        for _ in 0..<10 {
            quarter(0, 4, 8, 12)
            quarter(5, 9, 13, 1)
            quarter(10, 14, 2, 6)
            quarter(15, 3, 7, 11)
            quarter(0, 1, 2, 3)
            quarter(5, 6, 7, 4)
            quarter(10, 11, 8, 9)
            quarter(15, 12, 13, 14)
        }
    }

    static func block(key: [UInt32], input: [UInt32]) -> [UInt8] {
        let initial = state(key: key, input: input)
        var x = initial
        rounds(&x)
        return zip(x, initial).flatMap { pair -> [UInt8] in
            let v = pair.0 &+ pair.1
            return [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 24)]
        }
    }

    static func hsalsa20(key: [UInt32], input: [UInt32]) -> [UInt32] {
        var x = state(key: key, input: input)
        rounds(&x)
        return [x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9]]
    }
}

/// Poly1305 with 26-bit limbs (the "donna" formulation).
enum Poly1305 {
    static func tag(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        let t = Salsa20.words(Array(key[0..<16]))
        let mask: UInt32 = 0x3ff_ffff
        let r0 = t[0] & 0x3ff_ffff
        let r1 = ((t[0] >> 26) | (t[1] << 6)) & 0x3ff_ff03
        let r2 = ((t[1] >> 20) | (t[2] << 12)) & 0x3ff_c0ff
        let r3 = ((t[2] >> 14) | (t[3] << 18)) & 0x3f0_3fff
        let r4 = (t[3] >> 8) & 0x00f_ffff
        let (s1, s2, s3, s4) = (UInt64(r1 * 5), UInt64(r2 * 5), UInt64(r3 * 5), UInt64(r4 * 5))
        var (h0, h1, h2, h3, h4): (UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0)
        var offset = 0
        while offset < message.count {
            var block = Array(message[offset..<min(offset + 16, message.count)])
            let full = block.count == 16
            if !full {
                block.append(1)
                block += [UInt8](repeating: 0, count: 16 - block.count)
            }
            let m = Salsa20.words(block)
            h0 &+= m[0] & mask
            h1 &+= ((m[0] >> 26) | (m[1] << 6)) & mask
            h2 &+= ((m[1] >> 20) | (m[2] << 12)) & mask
            h3 &+= ((m[2] >> 14) | (m[3] << 18)) & mask
            h4 &+= (m[3] >> 8) | (full ? 1 << 24 : 0)
            let (a0, a1, a2, a3, a4) = (UInt64(h0), UInt64(h1), UInt64(h2), UInt64(h3), UInt64(h4))
            let d0 = a0 * UInt64(r0) + a1 * s4 + a2 * s3 + a3 * s2 + a4 * s1
            var d1 = a0 * UInt64(r1) + a1 * UInt64(r0) + a2 * s4 + a3 * s3 + a4 * s2
            var d2 = a0 * UInt64(r2) + a1 * UInt64(r1) + a2 * UInt64(r0) + a3 * s4 + a4 * s3
            var d3 = a0 * UInt64(r3) + a1 * UInt64(r2) + a2 * UInt64(r1) + a3 * UInt64(r0) + a4 * s4
            var d4 = a0 * UInt64(r4) + a1 * UInt64(r3) + a2 * UInt64(r2) + a3 * UInt64(r1) + a4 * UInt64(r0)
            var c = d0 >> 26
            h0 = UInt32(d0 & UInt64(mask))
            d1 += c; c = d1 >> 26; h1 = UInt32(d1 & UInt64(mask))
            d2 += c; c = d2 >> 26; h2 = UInt32(d2 & UInt64(mask))
            d3 += c; c = d3 >> 26; h3 = UInt32(d3 & UInt64(mask))
            d4 += c; c = d4 >> 26; h4 = UInt32(d4 & UInt64(mask))
            h0 &+= UInt32(c) &* 5
            let carry = h0 >> 26
            h0 &= mask
            h1 &+= carry
            offset += 16
        }
        var c = h1 >> 26; h1 &= mask
        h2 &+= c; c = h2 >> 26; h2 &= mask
        h3 &+= c; c = h3 >> 26; h3 &= mask
        h4 &+= c; c = h4 >> 26; h4 &= mask
        h0 &+= c &* 5; c = h0 >> 26; h0 &= mask
        h1 &+= c
        // h mod 2^130 - 5: subtract p when h >= p, in constant time.
        var g0 = h0 &+ 5; c = g0 >> 26; g0 &= mask
        var g1 = h1 &+ c; c = g1 >> 26; g1 &= mask
        var g2 = h2 &+ c; c = g2 >> 26; g2 &= mask
        var g3 = h3 &+ c; c = g3 >> 26; g3 &= mask
        var g4 = h4 &+ c &- (1 << 26)
        var select = (g4 >> 31) &- 1
        g0 &= select; g1 &= select; g2 &= select; g3 &= select; g4 &= select
        select = ~select
        h0 = (h0 & select) | g0
        h1 = (h1 & select) | g1
        h2 = (h2 & select) | g2
        h3 = (h3 & select) | g3
        h4 = (h4 & select) | g4
        let w0 = h0 | (h1 << 26)
        let w1 = (h1 >> 6) | (h2 << 20)
        let w2 = (h2 >> 12) | (h3 << 14)
        let w3 = (h3 >> 18) | (h4 << 8)
        let pad = Salsa20.words(Array(key[16..<32]))
        var out: [UInt8] = []
        var f: UInt64 = 0
        for (word, p) in zip([w0, w1, w2, w3], pad) {
            f = UInt64(word) + UInt64(p) + (f >> 32)
            let v = UInt32(truncatingIfNeeded: f)
            out += [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 24)]
        }
        return out
    }
}
