/// Random test content, 8 bytes per step of a xoshiro256** generator seeded from the system's:
/// one `UInt8.random` per byte is a getrandom call per byte, and a full test run generates
/// hundreds of MiB of layers — that alone took half of both cores and pushed other tests'
/// requests past their timeouts. Unpredictable enough for content that only has to differ.
public func randomBytes(_ count: Int) -> [UInt8] {
    var system = SystemRandomNumberGenerator()
    var s: (UInt64, UInt64, UInt64, UInt64) = (system.next(), system.next(), system.next(), system.next() | 1)
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        var offset = 0
        while offset < count {
            let result = (s.1 &* 5).rotatedLeft(7) &* 9
            let t = s.1 << 17
            s.2 ^= s.0
            s.3 ^= s.1
            s.1 ^= s.2
            s.0 ^= s.3
            s.2 ^= t
            s.3 = s.3.rotatedLeft(45)
            withUnsafeBytes(of: result.littleEndian) { word in
                let n = min(8, count - offset)
                for i in 0..<n { buffer[offset + i] = word[i] }
                offset += n
            }
        }
        initialized = count
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(_ k: UInt64) -> UInt64 { (self << k) | (self >> (64 - k)) }
}
