import OCI
import RegistryClient
import Signing
import Synchronization

/// Both sides of a registry: what they name, and registry errors reported under that name.
protocol RegistryEndpoint {
    var name: ImageName { get }
}

extension RegistryEndpoint {
    func wrap<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as ClientError { throw TransportError.registry(name.description, error) }
    }
}

/// Reads an image from a registry (`docker://`): from the first of registries.conf's pull sources
/// (mirrors, then the primary) that serves its manifest, which then serves every blob — as
/// containers/image does, there is no per-blob fallback.
public struct DockerSource: ImageSource, RegistryEndpoint {
    public let name: ImageName
    let registriesD: RegistriesD
    private let candidates: [Candidate]
    private let chosen = PinnedCandidate()

    struct Candidate: Sendable {
        let source: PullSource
        let client: RegistryClient
    }

    public init(_ reference: ImageReference, access: AccessOptions) throws {
        name = .docker(reference)
        registriesD = access.registriesD
        candidates = try access.registriesConf.pullSources(for: reference).map { source in
            var options = access.client
            if source.insecure { options.tlsVerify = false }
            // Credentials given for the named host are not sent to another one.
            if source.reference.registry != reference.registry { options.credentials = nil }
            return Candidate(source: source, client: try RegistryClient(registry: source.reference.registry, options: options))
        }
        credentialsForHost = access.credentialsForHost
        named = reference
    }

    /// Straight from the named registry, without registries.conf (attachments of a source).
    public init(_ reference: ImageReference, options: ClientOptions, registriesD: RegistriesD) throws {
        var access = AccessOptions()
        access.client = options
        access.registriesD = registriesD
        try self.init(reference, access: access)
    }

    private let credentialsForHost: (@Sendable (String, String) async throws -> Credentials?)?
    private let named: ImageReference

    /// The primary's client: tag lists and other requests that never go to a mirror.
    public var primaryClient: RegistryClient { candidates.last!.client }

    /// The name and client serving this image: the pull source whose manifest was used (the
    /// primary until one was).
    var reference: ImageReference { candidates[chosen.index ?? candidates.count - 1].source.reference }
    public var client: RegistryClient {
        let candidate = candidates[chosen.index ?? candidates.count - 1]
        return chosen.made(for: candidate.source.reference.registry) ?? candidate.client
    }

    /// Where the image is being read from, once its manifest was found (a mirror, or the primary
    /// under its rewritten name).
    public var servedFrom: ImageReference? { chosen.index.map { candidates[$0].source.reference } }
    public var servedFromMirror: Bool { chosen.index.map { candidates[$0].source.isMirror } ?? false }

    public func manifest(_ digest: Digest?) async throws -> RawManifest {
        if let index = chosen.index { return try await manifest(from: candidates[index], digest) }
        var failures: [String] = []
        var primaryError: (any Error)?
        for (index, candidate) in candidates.enumerated() {
            do {
                if let blocked = candidate.source.blocked {
                    throw TransportError.unsupported(Self.describe(candidate.source.reference), blocked)
                }
                let found = try await manifest(from: candidate, digest)
                chosen.pin(index)
                return found
            } catch {
                if candidate.source.isMirror {
                    failures.append("\(candidate.source.reference.registry): \(Self.reason(error))")
                } else {
                    primaryError = error
                }
            }
        }
        guard !failures.isEmpty, let primary = primaryError as? TransportError else { throw primaryError! }
        throw TransportError.mirrorsFailed(primary: primary, mirrors: failures)
    }

    private func manifest(from candidate: Candidate, _ digest: Digest?) async throws -> RawManifest {
        let reference = candidate.source.reference
        let client = try await authenticated(candidate)
        let fetched = try await wrap(reference) { try await client.manifest(reference.repository, digest.map { .digest($0) } ?? reference.manifestReference) }
        return RawManifest(bytes: fetched.bytes, mediaType: Self.mediaType(of: fetched), digest: fetched.digest)
    }

    /// A mirror on another host gets the auth files' credentials for that host, looked up once.
    private func authenticated(_ candidate: Candidate) async throws -> RegistryClient {
        guard candidate.source.reference.registry != named.registry, let credentialsForHost, candidate.client.options.registryToken == nil
        else { return candidate.client }
        return try await chosen.client(for: candidate.source.reference.registry) {
            var options = candidate.client.options
            options.credentials = try await credentialsForHost(candidate.source.reference.registry, candidate.source.reference.repository.value)
            return try RegistryClient(registry: candidate.source.reference.registry, options: options)
        }
    }

    /// The candidate serving this image; the first that has its manifest when none was found yet.
    private func active() async throws -> (PullSource, RegistryClient) {
        if chosen.index == nil { _ = try await manifest(nil) }
        let candidate = candidates[chosen.index!]
        return (candidate.source, try await authenticated(candidate))
    }

    public func blob(_ descriptor: Descriptor) async throws -> BlobStream {
        let (source, client) = try await active()
        return try await wrap(source.reference) { try await client.unverifiedBlob(source.reference.repository, descriptor.digest) }
    }

    /// Simple signatures through the extension API when the registry announces it, else from
    /// the lookaside storage; then sigstore signatures from the `.sig` attachment when
    /// registries.d enables them for this scope (the order containers/image reads them in).
    public func signatures(for digest: Digest) async throws -> [[UInt8]] {
        let (source, client) = try await active()
        let reference = source.reference
        return try await wrap(reference) {
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
    public var location: BlobLocation {
        let candidate = candidates[chosen.index ?? candidates.count - 1]
        return BlobLocation(registry: candidate.client.registry, repository: candidate.source.reference.repository)
    }

    /// Errors under the name the user gave, saying where they came from when that differs.
    private func wrap<T>(_ reference: ImageReference, _ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as ClientError {
            let where_ = reference == named ? name.description : "\(name.description) (as \(Self.describe(reference)))"
            throw TransportError.registry(where_, error)
        }
    }

    private static func describe(_ reference: ImageReference) -> String { "docker://\(reference)" }

    private static func reason(_ error: any Error) -> String {
        if case TransportError.registry(_, let client)? = error as? TransportError { return "\(client)" }
        return "\(error)"
    }

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

/// Which pull source serves a `DockerSource`, decided once; and clients made for mirrors that
/// needed their own credentials.
final class PinnedCandidate: Sendable {
    private let state = Mutex<(index: Int?, clients: [String: RegistryClient])>((nil, [:]))

    var index: Int? { state.withLock { $0.index } }

    func pin(_ index: Int) { state.withLock { if $0.index == nil { $0.index = index } } }

    func made(for host: String) -> RegistryClient? { state.withLock { $0.clients[host] } }

    func client(for host: String, make: () async throws -> RegistryClient) async throws -> RegistryClient {
        if let known = made(for: host) { return known }
        let fresh = try await make()
        return state.withLock { state in
            if let first = state.clients[host] { return first }
            state.clients[host] = fresh
            return fresh
        }
    }
}
