import Foundation
import RegistryClient
import OCI

/// `skopeo inspect`'s answers for an image in any transport.
public struct Inspector: Sendable {
    let source: any ImageSource
    let platform: Platform

    public init(_ source: any ImageSource, platform: Platform?) {
        self.source = source
        self.platform = platform ?? .current
    }

    /// The top-level manifest exactly as stored (`--raw`).
    public func rawManifest() async throws -> [UInt8] { try await source.manifest(nil).bytes }

    /// The image manifest for the platform: the top-level one, or the index's instance.
    func image() async throws -> (top: RawManifest, image: ImageManifest) {
        let top = try await source.manifest(nil)
        var chosen = top
        if top.isIndex {
            let index = try JSONDecoder().decode(ImageIndex.self, from: Data(top.bytes))
            guard let instance = index.instance(for: platform) else {
                throw TransportError.notFound(source.name.description, "no image for \(platform.description) in the index")
            }
            chosen = try await source.manifest(instance.digest)
        }
        do {
            return (top, try JSONDecoder().decode(ImageManifest.self, from: Data(chosen.bytes)))
        } catch {
            throw TransportError.invalidContent(source.name.description, "manifest \(chosen.digest) is not an image manifest")
        }
    }

    /// The config blob's bytes as stored (`--config --raw`).
    public func rawConfig() async throws -> [UInt8] {
        try await readConfig(try await image().image.config)
    }

    private func readConfig(_ config: Descriptor) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        let stream = DigestingSequence(AnyBlobStream(try await source.blob(config)), expected: config.digest, expectedSize: config.size)
        for try await chunk in stream {
            bytes += chunk.readableBytesView
            guard bytes.count <= 64 << 20 else { throw TransportError.invalidContent(source.name.description, "config is larger than 64 MiB") }
        }
        return bytes
    }

    /// The config in OCI form, indented as skopeo prints it (`--config`).
    public func config() async throws -> String {
        return JSONText.indented(Array(ordered(try decodeConfig(try await rawConfig())).utf8))
    }

    /// skopeo's default JSON: `tags` lists the repository's tags (nil when the transport has none);
    /// it is asked only once the image is known to exist.
    public func summary(tags listTags: @Sendable () async throws -> [String]?) async throws -> String {
        let (top, manifest) = try await image()
        // The tag list and the config are independent: ask for both at once.
        async let tags = listTags()
        let configBytes = try await readConfig(manifest.config)
        let config = try decodeConfig(configBytes)
        let extras = try? JSONDecoder().decode(DockerConfigExtras.self, from: Data(configBytes))
        var fields: [(String, String)] = []
        if let reference = source.name.dockerReference, case .docker = source.name {
            fields.append(("Name", json("\(reference.registry)/\(reference.repository)")))
        }
        fields.append(("Digest", json(top.digest.description)))
        fields.append(("RepoTags", json(try await tags ?? [])))
        fields.append(("Created", config.created.map(json) ?? "null"))
        fields.append(("DockerVersion", json(extras?.dockerVersion ?? "")))
        fields.append(("Labels", config.config?.labels.map(json) ?? "null"))
        fields.append(("Architecture", json(config.architecture ?? "")))
        if let variant = config.variant, !variant.isEmpty { fields.append(("Variant", json(variant))) }
        fields.append(("Os", json(config.os ?? "")))
        fields.append(("Layers", json(manifest.layers.map(\.digest.description))))
        let layersData = manifest.layers.map { layer in
            "{\"MIMEType\":\(json(layer.mediaType)),\"Digest\":\(json(layer.digest.description)),\"Size\":\(layer.size),\"Annotations\":\(layer.annotations.map(json) ?? "null")}"
        }
        fields.append(("LayersData", "[\(layersData.joined(separator: ","))]"))
        fields.append(("Env", config.config?.env.map(json) ?? "null"))
        let compact = "{" + fields.map { "\(json($0.0)):\($0.1)" }.joined(separator: ",") + "}"
        return JSONText.indented(Array(compact.utf8))
    }

    /// The config in the image-spec's Go field order, as skopeo prints it.
    private func ordered(_ config: ImageConfig) -> String {
        var fields: [(String, String?)] = [
            ("created", config.created.map(json)), ("author", config.author.map(json)), ("architecture", json(config.architecture ?? "")),
            ("os", json(config.os ?? "")), ("os.version", config.osVersion.map(json)), ("os.features", config.osFeatures.map(json)),
            ("variant", config.variant.map(json)),
        ]
        if let execution = config.config {
            let inner: [(String, String?)] = [
                ("User", execution.user.map(json)), ("ExposedPorts", execution.exposedPorts.map(json)), ("Env", execution.env.map(json)),
                ("Entrypoint", execution.entrypoint.map(json)), ("Cmd", execution.cmd.map(json)), ("Volumes", execution.volumes.map(json)),
                ("WorkingDir", execution.workingDir.map(json)), ("Labels", execution.labels.map(json)),
                ("StopSignal", execution.stopSignal.map(json)), ("ArgsEscaped", execution.argsEscaped.map(json)),
            ]
            fields.append(("config", object(inner)))
        }
        let diffIDs = (config.rootfs?.diffIDs ?? []).map { $0.description }
        fields.append(("rootfs", object([("type", json(config.rootfs?.type ?? "")), ("diff_ids", json(diffIDs))])))
        if let history = config.history {
            let entries = history.map { entry in
                object([
                    ("created", entry.created.map(json)), ("created_by", entry.createdBy.map(json)), ("author", entry.author.map(json)),
                    ("comment", entry.comment.map(json)), ("empty_layer", entry.emptyLayer.map(json)),
                ])
            }
            fields.append(("history", "[" + entries.joined(separator: ",") + "]"))
        }
        return object(fields)
    }

    /// `{"k":v,…}` in the given order, leaving out absent values (Go's `omitempty`).
    private func object(_ fields: [(String, String?)]) -> String {
        "{" + fields.compactMap { key, value in value.map { "\(json(key)):\($0)" } }.joined(separator: ",") + "}"
    }

    private func decodeConfig(_ bytes: [UInt8]) throws -> ImageConfig {
        do {
            return try JSONDecoder().decode(ImageConfig.self, from: Data(bytes))
        } catch {
            throw TransportError.invalidContent(source.name.description, "the image config is not valid JSON")
        }
    }

    private func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }
}
