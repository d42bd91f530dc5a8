import OCI
import RegistryClient
import Signing

/// Both sides of a registry: what they name, and registry errors reported under that name.
protocol RegistryEndpoint {
    var name: ImageName { get }
}

extension RegistryEndpoint {
    func wrap<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as ClientError { throw TransportError.registry(name.description, error) }
    }
}

/// Reads an image from a registry (`docker://`).
public struct DockerSource: ImageSource, RegistryEndpoint {
    public let name: ImageName
    let reference: ImageReference
    public let client: RegistryClient

    public init(_ reference: ImageReference, options: ClientOptions) throws {
        name = .docker(reference)
        self.reference = reference
        client = try RegistryClient(registry: reference.registry, options: options)
    }

    public func manifest(_ digest: Digest?) async throws -> RawManifest {
        let fetched = try await wrap { try await client.manifest(reference.repository, digest.map { .digest($0) } ?? reference.manifestReference) }
        return RawManifest(bytes: fetched.bytes, mediaType: Self.mediaType(of: fetched), digest: fetched.digest)
    }

    public func blob(_ descriptor: Descriptor) async throws -> BlobStream {
        try await wrap { try await client.unverifiedBlob(reference.repository, descriptor.digest) }
    }

    /// Through the extension API, when the registry announces it (lookaside storage is not read).
    public func signatures(for digest: Digest) async throws -> [[UInt8]] {
        try await wrap {
            guard try await client.supportsSignatureExtension() else { return [] }
            return try await client.signatures(reference.repository, digest)
        }
    }

    /// Where this source's blobs can be mounted from.
    public var location: BlobLocation { BlobLocation(registry: client.registry, repository: reference.repository) }

    /// The manifest's own `mediaType` wins over a registry's Content-Type, which may be generic.
    static func mediaType(of fetched: RegistryClient.FetchedManifest) -> String {
        if let summary = try? ManifestSummary(parsing: fetched.bytes, contentType: nil) { return summary.mediaType }
        return fetched.mediaType
    }
}

/// Writes an image to a registry (`docker://`): blobs first, the tag's manifest last.
public struct DockerDestination: ImageDestination, RegistryEndpoint {
    public let name: ImageName
    let reference: ImageReference
    public let client: RegistryClient

    public init(_ reference: ImageReference, options: ClientOptions) throws {
        name = .docker(reference)
        self.reference = reference
        client = try RegistryClient(registry: reference.registry, options: options)
    }

    public var supportedManifestTypes: [String]? { nil }
    public var layerCompression: LayerCompressionPolicy { .compress }
    public var blobScope: String { "docker://\(client.registry)/\(reference.repository)" }
    public var location: BlobLocation { BlobLocation(registry: client.registry, repository: reference.repository) }

    public func reuse(_ descriptor: Descriptor, knownLocations: [BlobLocation]) async throws -> Bool {
        try await wrap {
            if try await client.blobSize(reference.repository, descriptor.digest) != nil { return true }
            for other in knownLocations where other.registry == client.registry && other.repository != reference.repository {
                if try await client.mount(descriptor.digest, into: reference.repository, from: other.repository) { return true }
            }
            return false
        }
    }

    public func putBlob(_ stream: BlobStream, expected: Descriptor?) async throws -> (digest: Digest, size: Int64) {
        try await wrap {
            guard let expected else { return try await client.pushBlob(reference.repository, streaming: AnyBlobStream(stream)) }
            try await client.pushBlob(reference.repository, expected.digest, size: expected.size) { AnyBlobStream(stream) }
            return (expected.digest, expected.size)
        }
    }

    public func putManifest(_ manifest: RawManifest, topLevel: Bool) async throws {
        let target: ManifestReference
        if topLevel, let tag = reference.tag {
            target = .tag(tag)
        } else {
            if topLevel, let digest = reference.digest, digest != manifest.digest {
                throw TransportError.invalidContent(name.description, "the manifest copied has digest \(manifest.digest), not \(digest)")
            }
            target = topLevel && reference.digest == nil ? reference.manifestReference : .digest(manifest.digest)
        }
        try await wrap { _ = try await client.putManifest(reference.repository, target, mediaType: manifest.mediaType, bytes: manifest.bytes) }
    }

    public func putSignatures(_ signatures: [[UInt8]], for digest: Digest) async throws {
        guard !signatures.isEmpty else { return }
        if signatures.contains(where: SigstoreSignature.isSigstore) {
            throw TransportError.unsupported(name.description, "writing sigstore signatures to a registry is not supported yet; use --remove-signatures")
        }
        try await wrap {
            guard try await client.supportsSignatureExtension() else {
                throw TransportError.unsupported(
                    name.description,
                    "the registry does not accept signatures (no X-Registry-Supports-Signatures) and lookaside storage is not supported yet; use --remove-signatures"
                )
            }
            for signature in signatures { try await client.putSignature(reference.repository, digest, signature) }
        }
    }

    public func commit() async throws {}

}
