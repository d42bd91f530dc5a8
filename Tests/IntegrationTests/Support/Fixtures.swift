import Foundation
import OCI
import TestSupport

/// Generated test content: blobs, image manifests and indexes.
enum Fixtures {
    static func digest(_ data: [UInt8], _ algorithm: Digest.Algorithm = .sha256) -> String {
        Digest.of(data, algorithm: algorithm).description
    }

    static func random(_ count: Int) -> [UInt8] { randomBytes(count) }

    static func json(_ object: Any) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    static func descriptor(_ mediaType: String, _ data: [UInt8]) -> [String: Any] {
        ["mediaType": mediaType, "digest": digest(data), "size": data.count]
    }

    /// An image: its config and layer blobs and the manifest bytes.
    struct Image {
        var config: [UInt8]
        var layers: [[UInt8]]
        var manifest: [UInt8]
        var digest: String { Fixtures.digest(manifest) }
    }

    static func image(
        layers: Int = 2, layerSize: Int = 1024, subject: [String: Any]? = nil, artifactType: String? = nil,
        annotations: [String: String]? = nil, configType: String = MediaType.ociConfig
    ) -> Image {
        let config = json(["architecture": "amd64", "os": "linux", "rootfs": ["type": "layers", "diff_ids": []], "n": Int.random(in: 0..<1_000_000_000)])
        let blobs = (0..<layers).map { _ in random(layerSize) }
        var manifest: [String: Any] = [
            "schemaVersion": 2,
            "mediaType": MediaType.ociManifest,
            "config": descriptor(configType, config),
            "layers": blobs.map { descriptor(MediaType.ociLayerTarGzip, $0) },
        ]
        if let subject { manifest["subject"] = subject }
        if let artifactType { manifest["artifactType"] = artifactType }
        if let annotations { manifest["annotations"] = annotations }
        return Image(config: config, layers: blobs, manifest: json(manifest))
    }

    static func index(_ children: [[UInt8]]) -> [UInt8] {
        json([
            "schemaVersion": 2,
            "mediaType": MediaType.ociIndex,
            "manifests": children.map { descriptor(MediaType.ociManifest, $0) },
        ])
    }
}

extension HTTP {
    /// Pushes an image's blobs and manifest under `reference`.
    @discardableResult
    func push(_ image: Fixtures.Image, to repo: String, as reference: String) async throws -> Reply {
        try await pushBlob(repo, image.config)
        for layer in image.layers { try await pushBlob(repo, layer) }
        return try await pushManifest(repo, reference, image.manifest)
    }
}
