// Transports: where images live (docker://, oci:, oci-archive:, dir:, docker-archive:), read and
// written through one pair of protocols, and the copy engine that moves images between them.

import NIOCore
import OCI

/// Bytes of a blob on their way somewhere; a consumer reads it once.
public typealias BlobStream = any AsyncSequence<ByteBuffer, any Error> & Sendable

/// A manifest exactly as stored, with the digest of those bytes.
public struct RawManifest: Sendable, Equatable {
    public let bytes: [UInt8]
    public let mediaType: String
    public let digest: Digest

    public init(bytes: [UInt8], mediaType: String, digest: Digest? = nil) {
        self.bytes = bytes
        self.mediaType = mediaType
        self.digest = digest ?? Digest.of(bytes)
    }

    public var isIndex: Bool { MediaType.indexTypes.contains(mediaType) }
}

/// Somewhere an image is read from. `manifest(nil)` is the top-level manifest (an index for a
/// multi-platform image); children are asked for by digest.
public protocol ImageSource: Sendable {
    var name: ImageName { get }
    func manifest(_ digest: Digest?) async throws -> RawManifest
    /// The blob's bytes; the copier verifies them against the descriptor as they stream.
    func blob(_ descriptor: Descriptor) async throws -> BlobStream
    /// Simple signatures (OpenPGP messages) of the manifest `digest`.
    func signatures(for digest: Digest) async throws -> [[UInt8]]
    func close() async
}

/// Somewhere an image is written to. Nothing is visible under the destination's name until
/// `putManifest(_, topLevel: true)` and `commit()`, which the copier calls last.
public protocol ImageDestination: Sendable {
    var name: ImageName { get }
    /// Destinations with the same scope share blobs (a registry repository); a blob copied to
    /// one scope once in a run is not copied there again.
    var blobScope: String { get }
    /// The manifest types it can store, preferred first; nil when it stores any.
    var supportedManifestTypes: [String]? { get }
    /// What happens to layers on the way in: kept as they are (dir:), compressed when they are
    /// not (registries, OCI layouts), or decompressed (docker-archive, as `docker save` writes them).
    var layerCompression: LayerCompressionPolicy { get }
    /// Whether it already has the blob (or could link it from elsewhere on the same registry).
    func reuse(_ descriptor: Descriptor, knownLocations: [BlobLocation]) async throws -> Bool
    /// Stores a blob. With `expected`, the stream is already verified against it; without, the
    /// digest and size are what the stream turned out to be, and are returned.
    func putBlob(_ stream: BlobStream, expected: Descriptor?) async throws -> (digest: Digest, size: Int64)
    /// Stores a manifest: a child of an index (`topLevel == false`), or the image itself.
    func putManifest(_ manifest: RawManifest, topLevel: Bool) async throws
    /// Stores signatures of the manifest `digest` (OpenPGP messages and `\0sigstore-json`
    /// blobs), after the manifest and before `commit`.
    func putSignatures(_ signatures: [[UInt8]], for digest: Digest) async throws
    /// Throws when a new signature of this kind could not be stored, so a signing copy fails
    /// before it writes anything.
    func checkCanSign(sigstore: Bool) throws
    func commit() async throws
}

public enum LayerCompressionPolicy: Sendable {
    case preserve, compress, decompress
}

/// Where a blob was seen during a run, so a later destination on the same registry can mount it.
public struct BlobLocation: Hashable, Sendable {
    public let registry: String
    public let repository: RepositoryName
}

extension ImageSource {
    public func signatures(for digest: Digest) async throws -> [[UInt8]] { [] }
    public func close() async {}
}

extension ImageDestination {
    public var blobScope: String { name.description }

    public func checkCanSign(sigstore: Bool) throws {
        throw TransportError.unsupported(name.description, "this transport cannot store signatures")
    }

    /// Transports that cannot hold signatures refuse them, as skopeo does.
    public func putSignatures(_ signatures: [[UInt8]], for digest: Digest) async throws {
        guard signatures.isEmpty else {
            throw TransportError.unsupported(name.description, "this transport cannot store signatures (use --remove-signatures)")
        }
    }
}

/// A `BlobStream` as a concrete sequence, for generic stream stages.
public struct AnyBlobStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let base: BlobStream

    public init(_ base: BlobStream) { self.base = base }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: any AsyncIteratorProtocol<ByteBuffer, any Error>
        public mutating func next() async throws -> ByteBuffer? { try await base.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator()) }
}
