import Foundation
import OCI

/// Manifests and indexes as a registry receives them: decoded and summarised under every content
/// type a client may send, never crashing whatever the bytes.
enum ManifestTarget {
    static func run(_ bytes: [UInt8]) {
        for type in [nil, MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList, "text/plain"] {
            _ = try? ManifestSummary(parsing: bytes, contentType: type)
        }
    }
}

/// Image configs as `inspect` and `run` read them from a registry.
enum ImageConfigTarget {
    static func run(_ bytes: [UInt8]) {
        _ = try? JSONDecoder().decode(ImageConfig.self, from: Data(bytes))
    }
}
