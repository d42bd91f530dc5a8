import NIOCore
import OCI

/// What a blob body must be, checked as it streams: no longer than the length its sender declared,
/// exactly that long at its end, and hashing to its digest. Uploads (`Registry`) and a pull-through
/// cache's upstream bodies fail with the same errors.
public struct BodyCheck: Sendable {
    public let declared: Int64?
    public private(set) var received: Int64 = 0

    public init(declared: Int64?) { self.declared = declared }

    /// Counts a piece; throws once the body has grown past the declared length.
    public mutating func count(_ piece: ByteBuffer) throws(RegistryError) {
        received += Int64(piece.readableBytes)
        if let declared, received > declared { throw .sizeInvalid("body is longer than the declared \(declared) bytes") }
    }

    /// Throws unless exactly the declared length arrived.
    public func finish() throws(RegistryError) {
        if let declared, received != declared { throw .sizeInvalid("body has \(received) bytes but \(declared) were declared") }
    }

    public static func check(_ actual: Digest, is expected: Digest) throws(RegistryError) {
        guard actual == expected else { throw .digestInvalid("content digest is \(actual), not \(expected)") }
    }
}
