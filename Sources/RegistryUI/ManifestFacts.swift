import Foundation
import OCI
import RegistryStorage

/// What a page shows about a manifest without reading its config: whether it is an index,
/// its platforms, and its compressed size (config + layers, as the manifest states them).
struct ManifestFacts {
    struct Child {
        let descriptor: Descriptor
        /// `os/architecture[/variant]`; BuildKit's attestation manifests are not platforms.
        let label: String
        let isAttestation: Bool
        /// The platform manifest an attestation manifest describes.
        let attests: String?
    }

    let isIndex: Bool
    let children: [Child]
    let image: ImageManifest?
    let artifactType: String?
    let annotations: [String: String]

    init(_ payload: [UInt8]) {
        let json = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any] ?? [:]
        if json["manifests"] != nil, let index = try? JSONDecoder().decode(ImageIndex.self, from: Data(payload)) {
            isIndex = true
            image = nil
            children = index.manifests.map { descriptor in
                let reference = descriptor.annotations?["vnd.docker.reference.type"]
                let attestation = reference == "attestation-manifest" || (descriptor.platform?.os == "unknown" && descriptor.platform?.architecture == "unknown")
                return Child(
                    descriptor: descriptor, label: descriptor.platform.map(Self.label) ?? "unknown platform", isAttestation: attestation,
                    attests: descriptor.annotations?["vnd.docker.reference.digest"])
            }
            artifactType = index.artifactType
            annotations = index.annotations ?? [:]
        } else {
            isIndex = false
            children = []
            image = try? JSONDecoder().decode(ImageManifest.self, from: Data(payload))
            artifactType = image?.artifactType ?? image.flatMap { manifest in
                manifest.config.mediaType == MediaType.ociConfig || manifest.config.mediaType == MediaType.dockerConfig ? nil : manifest.config.mediaType
            }
            annotations = image?.annotations ?? [:]
        }
    }

    var platforms: [Child] { children.filter { !$0.isAttestation } }

    /// Config and layers of an image manifest.
    var size: Int64? { image.map { $0.config.size + $0.layers.reduce(0) { $0 + $1.size } } }

    static func label(_ platform: Platform) -> String {
        var text = "\(platform.os)/\(platform.architecture)"
        if let variant = platform.variant, !variant.isEmpty { text += "/\(variant)" }
        if let version = platform.osVersion, !version.isEmpty { text += " (\(version))" }
        return text
    }

    /// The suffixes of cosign's attachment tags and what each holds.
    static let cosignSuffixes: [(suffix: String, kind: ArtifactKind)] = [("sig", .signature), ("att", .attestation), ("sbom", .sbom)]

    /// Cosign's tag for what it attaches to `digest`: `sha256-<hex>.sig`, `.att` or `.sbom`.
    static func attachmentSubject(_ tag: String) -> (subject: String, kind: String)? {
        for kind in cosignSuffixes.map(\.suffix) where tag.hasSuffix(".\(kind)") {
            let stem = tag.dropLast(kind.count + 1)
            guard let dash = stem.firstIndex(of: "-") else { return nil }
            let algorithm = stem[..<dash], hex = stem[stem.index(after: dash)...]
            guard ["sha256", "sha512"].contains(algorithm), hex.count >= 64, hex.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) })
            else { return nil }
            return ("\(algorithm):\(hex)", kind)
        }
        return nil
    }
}
