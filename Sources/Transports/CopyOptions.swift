import OCI
import Signing

public struct CopyOptions: Sendable {
    /// Which images of a multi-platform source are copied (skopeo's `--multi-arch`, `--all`).
    public enum Selection: Sendable, Equatable {
        /// The instance for `platform` (or this machine), copied as a single image.
        case system
        /// Every instance and the index.
        case all
        /// The index alone; the registry must already hold (or accept missing) children.
        case indexOnly
        /// The listed platforms and an index naming only them.
        case platforms([Platform])
    }

    public enum ManifestFormat: String, Sendable {
        case oci, v2s2
    }

    public var selection: Selection = .system
    /// `--override-os/--override-arch/--override-variant`.
    public var platform: Platform?
    public var format: ManifestFormat?
    /// Fail rather than produce a manifest whose digest differs from the source's.
    public var preserveDigests = false
    /// `--dest-compress-format`: recompress layers that are not already in this format.
    public var compressFormat: MediaType.Compression?
    public var compressLevel: Int32?
    /// Blobs in flight at once (for all images of an index together).
    public var parallelBlobs = 6
    /// Copy the image's referrers and cosign attachments too (registry to registry).
    public var copyAttachments = true
    /// Leave signatures behind (cosign `.sig` tags and signature referrers among them).
    public var removeSignatures = false
    /// Add a simple signature made with this GPG key (`--sign-by`).
    public var signBy: String?
    public var signPassphrase: String?
    /// The identity the new signature claims (`--sign-identity`); by default the destination's name.
    public var signIdentity: ImageReference?
    /// Makes a sigstore signature blob for (manifest, identity) (`--sign-by-sigstore-private-key`).
    public var sigstoreSigner: (@Sendable ([UInt8], ImageReference) throws -> [UInt8])?
    /// The policy the source must satisfy before anything is written (`--policy`).
    public var policy: Policy?
    public var progress: (any CopyProgress)?

    public init() {}
}

/// What a copy reports while it runs (the CLI prints it).
public protocol CopyProgress: Sendable {
    func blobStarted(_ descriptor: Descriptor, isConfig: Bool)
    func blobSkipped(_ descriptor: Descriptor, isConfig: Bool)
    func bytes(_ count: Int, of descriptor: Descriptor)
    func blobDone(_ descriptor: Descriptor)
    func writingManifest()
    func storingSignatures()
}

public struct CopyResult: Sendable {
    /// The digest of the top-level manifest written.
    public let digest: Digest
    public let blobsCopied: Int
    public let blobsReused: Int
    public let bytesSent: Int64
    /// Referrers and cosign attachments copied along.
    public let attachments: Int
}
