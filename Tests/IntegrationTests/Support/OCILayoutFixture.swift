import Foundation
import OCI

/// Writes OCI image layouts on disk: real gzip'd tar layers, configs with matching diff_ids,
/// single images and a two-platform index, named through `org.opencontainers.image.ref.name`.
struct OCILayoutFixture {
    let directory: URL
    private(set) var refs: [(name: String, descriptor: [String: Any])] = []

    init(at directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("blobs/sha256"), withIntermediateDirectories: true)
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: directory.appendingPathComponent("oci-layout"))
    }

    @discardableResult
    func write(_ bytes: [UInt8]) throws -> String {
        let digest = Digest.of(bytes)
        try Data(bytes).write(to: directory.appendingPathComponent("blobs/sha256/\(digest.encoded)"))
        return digest.description
    }

    /// A layer: a tar of `files` (name → contents), gzip'd by the system's tar and gzip.
    func layer(_ files: [String: String]) async throws -> (compressed: [UInt8], diffID: String) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("berth-layer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("root"), withIntermediateDirectories: true)
        for (name, contents) in files {
            try Data(contents.utf8).write(to: scratch.appendingPathComponent("root/\(name)"))
        }
        try await Interop.shell("cd '\(scratch.path)' && tar -C root -cf layer.tar . && gzip -n -c layer.tar > layer.tar.gz")
        let tar = try Array(Data(contentsOf: scratch.appendingPathComponent("layer.tar")))
        let gz = try Array(Data(contentsOf: scratch.appendingPathComponent("layer.tar.gz")))
        return (gz, Digest.of(tar).description)
    }

    /// Writes an image for `architecture` with `layerCount` layers; returns its manifest bytes.
    func image(architecture: String, layerCount: Int) async throws -> [UInt8] {
        var layers: [[String: Any]] = []
        var diffIDs: [String] = []
        for i in 0..<layerCount {
            let (gz, diffID) = try await layer(["file\(i).txt": "layer \(i) for \(architecture) \(UUID())"])
            try write(gz)
            layers.append(Fixtures.descriptor(MediaType.ociLayerTarGzip, gz))
            diffIDs.append(diffID)
        }
        let config = Fixtures.json([
            "architecture": architecture, "os": "linux", "created": "2026-01-01T00:00:00Z",
            "config": ["Env": ["PATH=/usr/bin:/bin"], "Labels": ["test": "berth"]],
            "rootfs": ["type": "layers", "diff_ids": diffIDs],
        ])
        try write(config)
        let manifest = Fixtures.json([
            "schemaVersion": 2, "mediaType": MediaType.ociManifest,
            "config": Fixtures.descriptor(MediaType.ociConfig, config), "layers": layers,
        ])
        try write(manifest)
        return manifest
    }

    mutating func tag(_ name: String, _ manifest: [UInt8], mediaType: String) {
        var descriptor = Fixtures.descriptor(mediaType, manifest)
        descriptor["annotations"] = ["org.opencontainers.image.ref.name": name]
        refs.append((name, descriptor))
    }

    func writeIndex() throws {
        let index = Fixtures.json(["schemaVersion": 2, "mediaType": MediaType.ociIndex, "manifests": refs.map(\.descriptor)])
        try Data(index).write(to: directory.appendingPathComponent("index.json"))
    }
}

extension OCILayoutFixture {
    /// An index of `images` (architecture → manifest), written as a blob; returns its bytes.
    func index(_ images: [(architecture: String, manifest: [UInt8])]) throws -> [UInt8] {
        let entries: [[String: Any]] = images.map { image in
            var descriptor = Fixtures.descriptor(MediaType.ociManifest, image.manifest)
            descriptor["platform"] = ["architecture": image.architecture, "os": "linux"]
            return descriptor
        }
        let index = Fixtures.json(["schemaVersion": 2, "mediaType": MediaType.ociIndex, "manifests": entries])
        try write(index)
        return index
    }

    /// A layout with `v1` (one amd64 image of three layers) and `multi` (an amd64 + arm64 index).
    static func standard(at directory: URL) async throws -> (fixture: OCILayoutFixture, v1: [UInt8], multi: [UInt8]) {
        var fixture = try OCILayoutFixture(at: directory)
        let amd64 = try await fixture.image(architecture: "amd64", layerCount: 3)
        let arm64 = try await fixture.image(architecture: "arm64", layerCount: 2)
        let multi = try fixture.index([("amd64", amd64), ("arm64", arm64)])
        fixture.tag("v1", amd64, mediaType: MediaType.ociManifest)
        fixture.tag("multi", multi, mediaType: MediaType.ociIndex)
        try fixture.writeIndex()
        return (fixture, amd64, multi)
    }
}
