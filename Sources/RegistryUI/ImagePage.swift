import Foundation
import Hummingbird
import NIOCore
import OCI
import RegistryStorage

extension RegistryUI {
    /// Configs, SBOMs and other documents are read for display up to this size.
    static let displayLimit = 8 << 20

    /// An image (or index, or artifact): what it is, its platforms, config, layers beside the
    /// history, what is attached to it, and the raw JSON.
    func imagePage(_ repository: RepositoryName, _ query: FormFields, _ visit: Visit) async throws -> Response {
        let reference = query["ref"] ?? "latest"
        guard let parsed = try? ManifestReference(parsing: reference), let top = try? await registry.manifest(repository, parsed) else {
            throw PageFailure(.notFound, "Not found", "\(repository) has no \(reference).")
        }
        let topFacts = ManifestFacts(top.payload)
        var model: [String: Any] = [
            "repository": repository.value, "repositoryHref": "\(settings.basePath)/repositories/\(repository)", "reference": reference,
            "digest": top.digest.description, "mediaType": top.mediaType, "artifactType": topFacts.artifactType as Any,
            "rawManifest": JSONText.indented(top.payload, indent: "  "), "manifestDownload": downloadHref(repository, top.digest, kind: "manifest"),
        ]
        var shown = top, facts = topFacts
        var annotations = topFacts.annotations
        if topFacts.isIndex {
            let platforms = topFacts.platforms
            let chosen = platforms.first { $0.descriptor.digest.description == query["platform"] }
                ?? platforms.first { $0.label == "linux/amd64" } ?? platforms.first
            var links: [[String: Any]] = []
            for child in platforms {
                let size = await childSize(repository, child)
                let attestations = topFacts.children.filter { $0.isAttestation && $0.attests == child.descriptor.digest.description }.count
                links.append([
                    "label": child.label, "current": child.descriptor.digest == chosen?.descriptor.digest,
                    "href": "\(settings.basePath)/image/\(repository)?ref=\(reference)&platform=\(child.descriptor.digest)",
                    "size": size.map(Formatting.bytes) ?? "", "attestations": attestations > 0 ? attestations : nil as Int? as Any,
                ])
            }
            model["hasPlatforms"] = !links.isEmpty
            model["platforms"] = links
            if let chosen, let child = try? await registry.manifest(repository, .digest(chosen.descriptor.digest)) {
                shown = child
                facts = ManifestFacts(child.payload)
                annotations = facts.annotations.merging(annotations) { own, _ in own }
                model["platformDigest"] = child.digest.description
            }
        }
        model["size"] = facts.size.map(Formatting.bytes) as Any
        if let image = facts.image {
            let isImageConfig = image.config.mediaType == MediaType.ociConfig || image.config.mediaType == MediaType.dockerConfig
            if isImageConfig, let bytes = try? await readBlob(repository, image.config.digest),
                let config = try? JSONDecoder().decode(ImageConfig.self, from: Data(bytes))
            {
                model["rawConfig"] = JSONText.indented(bytes, indent: "  ")
                model["configDownload"] = downloadHref(repository, image.config.digest, kind: "blob")
                describe(config, image, into: &model, annotations: annotations)
            } else {
                describe(nil, image, into: &model, annotations: annotations)
            }
        }
        var subjects = [top.digest]
        if shown.digest != top.digest { subjects.append(shown.digest) }
        let groups = try await attachedGroups(repository, subjects)
        model["groups"] = groups
        model["hasReferrers"] = !groups.isEmpty
        return page("\(repository):\(reference)", template: "image", model, visit)
    }

    private func describe(_ config: ImageConfig?, _ image: ImageManifest, into model: inout [String: Any], annotations: [String: String]) {
        let labels = config?.config?.labels ?? [:]
        // A manifest annotation wins over the config label of the same name.
        let keys = ["title", "description", "version", "revision", "source", "url", "documentation", "created", "authors", "vendor", "licenses", "base.name", "base.digest"]
        var summary: [[String: Any]] = []
        for key in keys {
            let name = "org.opencontainers.image.\(key)"
            guard let value = annotations[name] ?? labels[name], !value.isEmpty else { continue }
            let linkable = ["source", "url", "documentation"].contains(key)
            summary.append(["key": key, "value": value, "link": (linkable ? Formatting.safeLink(value) : nil) as Any])
        }
        model["summary"] = summary
        model["hasSummary"] = !summary.isEmpty
        var facts: [[String: Any]] = []
        func add(_ key: String, _ values: [String]?) {
            guard let values, !values.isEmpty else { return }
            facts.append(["key": key, "values": values])
        }
        if let config {
            add("Platform", [[config.os, config.architecture, config.variant].compactMap { $0 }.joined(separator: "/")])
            add("Created", config.created.map { [$0] })
            add("Author", config.author.map { [$0] })
            add("Entrypoint", config.config?.entrypoint.map { [$0.joined(separator: " ")] })
            add("Command", config.config?.cmd.map { [$0.joined(separator: " ")] })
            add("Working directory", config.config?.workingDir.map { [$0] })
            add("User", config.config?.user.flatMap { $0.isEmpty ? nil : [$0] })
            add("Environment", config.config?.env)
            add("Exposed ports", config.config?.exposedPorts.map { $0.keys.sorted() })
            add("Volumes", config.config?.volumes.map { $0.keys.sorted() })
            add("Stop signal", config.config?.stopSignal.map { [$0] })
        }
        model["config"] = facts
        model["hasConfig"] = !facts.isEmpty
        let labelRows = labels.keys.sorted().map { ["key": $0, "value": labels[$0]!] }
        model["labels"] = labelRows
        model["hasLabels"] = !labelRows.isEmpty
        // History entries that made no layer are steps without a row of their own in `layers`.
        var rows: [[String: Any]] = []
        var layers = image.layers[...]
        let history = config?.history ?? []
        for entry in history {
            var row: [String: Any] = ["number": rows.count + 1, "step": Self.dockerfileStep(entry.createdBy ?? entry.comment ?? "")]
            if entry.emptyLayer != true, let layer = layers.popFirst() {
                row["digest"] = layer.digest.description
                row["digestShort"] = Formatting.short(layer.digest.description)
                row["size"] = Formatting.bytes(layer.size)
            } else {
                row["size"] = ""
            }
            rows.append(row)
        }
        for layer in layers {
            rows.append([
                "number": rows.count + 1, "step": "", "digest": layer.digest.description, "digestShort": Formatting.short(layer.digest.description),
                "size": Formatting.bytes(layer.size),
            ])
        }
        model["layers"] = rows
        model["hasLayers"] = !rows.isEmpty
    }

    /// The compressed size of an index's platform manifest (nil when it is not here or not an image).
    func childSize(_ repository: RepositoryName, _ child: ManifestFacts.Child) async -> Int64? {
        (try? await registry.manifest(repository, .digest(child.descriptor.digest))).flatMap { ManifestFacts($0.payload).size }
    }

    /// The classic builder's `/bin/sh -c #(nop) ` prefix removed, so steps read like a Dockerfile.
    static func dockerfileStep(_ createdBy: String) -> String {
        var step = createdBy
        for prefix in ["/bin/sh -c #(nop) ", "/bin/sh -c #(nop)"] where step.hasPrefix(prefix) {
            return String(step.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
        }
        if step.hasPrefix("/bin/sh -c ") { step = "RUN " + step.dropFirst("/bin/sh -c ".count) }
        return step
    }

    func downloadHref(_ repository: RepositoryName, _ digest: Digest, kind: String) -> String {
        "\(settings.basePath)/download/\(repository)?kind=\(kind)&digest=\(digest)"
    }

    /// A blob visible in `repository`, read whole when it is at most `limit` bytes.
    func readBlob(_ repository: RepositoryName, _ digest: Digest, limit: Int = displayLimit) async throws -> [UInt8] {
        let size = try await registry.blobSize(repository, digest)
        guard size <= Int64(limit) else { throw PageFailure(.unprocessableContent, "Too large", "\(digest) is \(Formatting.bytes(size)): too large to show.") }
        let reader = try await registry.openBlob(digest)
        defer { reader.close() }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(size))
        for try await chunk in try await reader.bytes(0..<size) { bytes += chunk.readableBytesView }
        return bytes
    }

    /// Manifests and blobs as attachments, so nothing a pusher stored renders in the UI's origin.
    func download(_ repository: RepositoryName, _ query: FormFields) async throws -> Response {
        guard let text = query["digest"], let digest = try? Digest(parsing: text) else {
            throw PageFailure(.badRequest, "Bad request", "A digest is needed.")
        }
        let headers: HTTPFields = [
            .contentType: "application/octet-stream", .contentDisposition: "attachment; filename=\"\(digest.algorithm.rawValue)-\(digest.encoded)\"",
            .contentSecurityPolicy: "sandbox",
        ]
        if query["kind"] == "manifest" {
            guard let manifest = try? await registry.manifest(repository, .digest(digest)) else {
                throw PageFailure(.notFound, "Not found", "\(repository) has no manifest \(digest).")
            }
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: manifest.payload)))
        }
        guard let size = try? await registry.blobSize(repository, digest), let reader = try? await registry.openBlob(digest) else {
            throw PageFailure(.notFound, "Not found", "\(repository) has no blob \(digest).")
        }
        var streamed = headers
        streamed[.contentLength] = "\(size)"
        // Streamed: a layer of several GiB never sits in memory.
        return Response(
            status: .ok, headers: streamed,
            body: ResponseBody { writer in
                defer { reader.close() }
                for try await chunk in try await reader.bytes(0..<size) { try await writer.write(chunk) }
                try await writer.finish(nil)
            })
    }
}
