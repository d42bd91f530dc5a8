import OCI
import RegistryClient

/// What travels with an image between registries: its OCI 1.1 referrers (signatures, SBOMs,
/// attestations pushed with a `subject`) and cosign's tag-based attachments (`sha256-<hex>.sig`,
/// `.att`, `.sbom`), copied as they are after the image itself.
struct Attachments {
    let source: DockerSource
    let destination: DockerDestination
    let options: CopyOptions
    let locations: BlobLocations

    static let cosignSuffixes = ["sig", "att", "sbom"]
    static let cosignSignature = "application/vnd.dev.cosign.artifact.sig.v1+json"

    /// Copies what is attached to `digest`; returns how many manifests were copied.
    func copy(attachedTo digest: Digest) async throws -> Int {
        var copied = 0
        let repository = source.reference.repository
        let referrers = try await source.wrap { try await source.client.referrers(repository, digest) }
        let isManifest = { (d: Descriptor) in MediaType.imageManifestTypes.contains(d.mediaType) || MediaType.indexTypes.contains(d.mediaType) }
        for referrer in referrers where isManifest(referrer) && !(options.removeSignatures && referrer.artifactType == Self.cosignSignature) {
            try await copyOne(from: source.reference.with(digest: referrer.digest), to: destination.reference.with(digest: referrer.digest))
            copied += 1
        }
        for suffix in Self.cosignSuffixes where !(options.removeSignatures && suffix == "sig") {
            let tag = try Tag(parsing: "\(digest.algorithm.rawValue)-\(digest.encoded).\(suffix)")
            guard try await source.wrap({ try await source.client.manifestDescriptor(repository, .tag(tag)) }) != nil else { continue }
            try await copyOne(from: source.reference.with(tag: tag), to: destination.reference.with(tag: tag))
            copied += 1
        }
        return copied
    }

    private func copyOne(from: ImageReference, to: ImageReference) async throws {
        var nested = options
        nested.selection = .all
        nested.format = nil
        nested.copyAttachments = false
        nested.preserveDigests = true
        let from = try DockerSource(from, options: source.client.options, registriesD: source.registriesD)
        let destination = self.destination
        _ = try await Copier.copy(
            from: from, to: { try DockerDestination(to, options: destination.client.options, registriesD: destination.registriesD) }, options: nested, locations: locations)
    }
}
