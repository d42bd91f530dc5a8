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
    let registriesD: RegistriesD

    public init(_ reference: ImageReference, options: ClientOptions, registriesD: RegistriesD = RegistriesD()) throws {
        name = .docker(reference)
        self.reference = reference
        client = try RegistryClient(registry: reference.registry, options: options)
        self.registriesD = registriesD
    }

    public func manifest(_ digest: Digest?) async throws -> RawManifest {
        let fetched = try await wrap { try await client.manifest(reference.repository, digest.map { .digest($0) } ?? reference.manifestReference) }
        return RawManifest(bytes: fetched.bytes, mediaType: Self.mediaType(of: fetched), digest: fetched.digest)
    }

    public func blob(_ descriptor: Descriptor) async throws -> BlobStream {
        try await wrap { try await client.unverifiedBlob(reference.repository, descriptor.digest) }
    }

    /// Simple signatures through the extension API when the registry announces it, else from
    /// the lookaside storage; then sigstore signatures from the `.sig` attachment when
    /// registries.d enables them for this scope (the order containers/image reads them in).
    public func signatures(for digest: Digest) async throws -> [[UInt8]] {
        try await wrap {
            var found: [[UInt8]] = []
            if try await client.supportsSignatureExtension() {
                found = try await client.signatures(reference.repository, digest)
            } else if let base = registriesD.lookaside(for: reference, write: false) {
                found = try await Lookaside(base: base).read(digest, client: client)
            }
            if registriesD.usesSigstoreAttachments(reference) {
                found += try await SigstoreAttachments(client: client, repository: reference.repository).read(digest)
            }
            return found
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
    let registriesD: RegistriesD

    public init(_ reference: ImageReference, options: ClientOptions, registriesD: RegistriesD = RegistriesD()) throws {
        name = .docker(reference)
        self.reference = reference
        client = try RegistryClient(registry: reference.registry, options: options)
        self.registriesD = registriesD
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

    public func checkCanSign(sigstore: Bool) throws {
        if sigstore, !registriesD.usesSigstoreAttachments(reference) { throw sigstoreDisabled }
    }

    private var sigstoreDisabled: TransportError {
        .unsupported(
            name.description,
            "writing sigstore attachments is disabled by configuration (set use-sigstore-attachments: true for this registry in registries.d, or use --remove-signatures)")
    }

    /// Sigstore signatures join the `.sig` attachment (where registries.d enables it); simple
    /// signatures go through the extension API when the registry has it, else to the lookaside.
    public func putSignatures(_ signatures: [[UInt8]], for digest: Digest) async throws {
        let sigstore = try signatures.filter(SigstoreSignature.isSigstore).map { blob in
            do { return try SigstoreSignature(blob: blob) } catch { throw TransportError.invalidContent(name.description, "signature: \(error)") }
        }
        let simple = signatures.filter { !SigstoreSignature.isSigstore($0) }
        if !sigstore.isEmpty {
            guard registriesD.usesSigstoreAttachments(reference) else { throw sigstoreDisabled }
            try await wrap { try await SigstoreAttachments(client: client, repository: reference.repository).add(sigstore, to: digest) }
        }
        guard !simple.isEmpty else { return }
        try await wrap {
            if try await client.supportsSignatureExtension() {
                for signature in simple { try await client.putSignature(reference.repository, digest, signature) }
            } else if let base = registriesD.lookaside(for: reference, write: true) {
                try Lookaside(base: base).write(simple, for: digest)
            }
        }
    }

    public func commit() async throws {}

}
