import Foundation
import OCI
import RegistryClient
import Signing

/// Sigstore signatures as cosign keeps them in a registry: the OCI manifest tagged
/// `sha256-<hex>.sig` in the image's repository, one layer per signature whose blob is the
/// payload and whose annotations carry the signature. Read and written only where registries.d
/// says `use-sigstore-attachments: true`, as containers/image does.
struct SigstoreAttachments {
    let client: RegistryClient
    let repository: RepositoryName

    static func tag(for digest: Digest) throws -> Tag { try Tag(parsing: "\(digest.algorithm.rawValue)-\(digest.encoded).sig") }

    /// The signatures in `sigstore-json` form (what `dir:` stores); none when there is no tag.
    func read(_ digest: Digest) async throws -> [[UInt8]] {
        guard let manifest = try await existing(digest) else { return [] }
        var signatures: [[UInt8]] = []
        for layer in manifest.layers {
            let payload = try await client.smallBlob(repository, layer.digest)
            signatures.append(SigstoreSignature(mimeType: layer.mediaType, payload: payload, annotations: layer.annotations ?? [:]).blob)
        }
        return signatures
    }

    /// Adds the signatures not already attached: payload blobs, then the config listing every
    /// layer, then the manifest under the tag.
    func add(_ signatures: [SigstoreSignature], to digest: Digest) async throws {
        let old = try await existing(digest)
        var layers = old?.layers ?? []
        var payloads: [[UInt8]] = []
        for signature in signatures {
            let layer = Descriptor(
                mediaType: signature.mimeType, digest: Digest.of(signature.payload), size: Int64(signature.payload.count),
                annotations: signature.annotations)
            guard !layers.contains(layer) else { continue }
            layers.append(layer)
            payloads.append(signature.payload)
        }
        guard !payloads.isEmpty else { return }
        for payload in payloads { try await client.pushSmallBlob(repository, payload) }
        let config = Self.config(diffIDs: layers.map(\.digest))
        try await client.pushSmallBlob(repository, config)
        let manifest = ImageManifest(
            config: Descriptor(mediaType: MediaType.ociConfig, digest: Digest.of(config), size: Int64(config.count)), layers: layers)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try await client.putManifest(repository, .tag(try Self.tag(for: digest)), mediaType: MediaType.ociManifest, bytes: Array(try encoder.encode(manifest)))
    }

    private func existing(_ digest: Digest) async throws -> ImageManifest? {
        let tag = try Self.tag(for: digest)
        guard try await client.manifestDescriptor(repository, .tag(tag)) != nil else { return nil }
        let fetched = try await client.manifest(repository, .tag(tag))
        guard let manifest = try? JSONDecoder().decode(ImageManifest.self, from: Data(fetched.bytes)) else {
            throw TransportError.invalidContent("\(client.registry)/\(repository):\(tag)", "the sigstore attachment is not an image manifest")
        }
        return manifest
    }

    /// An image config with nothing in it but the layers' digests, as containers/image writes.
    static func config(diffIDs: [Digest]) -> [UInt8] {
        let ids = diffIDs.map { "\"\($0)\"" }.joined(separator: ",")
        return Array(#"{"architecture":"","config":{},"os":"","rootfs":{"diff_ids":[\#(ids)],"type":"layers"}}"#.utf8)
    }
}
