import NIOCore
import OCI
import Synchronization

/// What a `DigestingSequence` saw once it ended: the digest and length of every byte that passed.
public final class DigestResult: Sendable {
    private let state = Mutex<(digest: Digest, size: Int64)?>(nil)
    public init() {}
    public var value: (digest: Digest, size: Int64)? { state.withLock { $0 } }
    func set(_ digest: Digest, _ size: Int64) { state.withLock { $0 = (digest, size) } }
}

/// Passes a byte stream through while hashing it. With an `expected` digest (and size) the last
/// step throws on a mismatch, so whoever consumes it never commits unverified bytes; the result is
/// also published to `result` for streams whose digest is learnt only at their end.
public struct DigestingSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    public typealias Element = ByteBuffer
    let base: Base
    let algorithm: Digest.Algorithm
    let expected: Digest?
    let expectedSize: Int64?
    let result: DigestResult

    public init(
        _ base: Base, algorithm: Digest.Algorithm = .sha256, expected: Digest? = nil, expectedSize: Int64? = nil,
        result: DigestResult = DigestResult()
    ) {
        self.base = base
        self.algorithm = expected?.algorithm ?? algorithm
        self.expected = expected
        self.expectedSize = expectedSize
        self.result = result
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var hasher: DigestHasher
        var count: Int64 = 0
        let owner: DigestingSequence

        public mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await base.next() else {
                let digest = hasher.finalize()
                if let expectedSize = owner.expectedSize, let expected = owner.expected, expectedSize != count {
                    throw ClientError.sizeMismatch(digest: expected, expected: expectedSize, actual: count)
                }
                if let expected = owner.expected, expected != digest {
                    throw ClientError.digestMismatch(expected: expected, actual: digest)
                }
                owner.result.set(digest, count)
                return nil
            }
            chunk.withUnsafeReadableBytes { hasher.update($0) }
            count += Int64(chunk.readableBytes)
            return chunk
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), hasher: algorithm.hasher(), owner: self)
    }
}
