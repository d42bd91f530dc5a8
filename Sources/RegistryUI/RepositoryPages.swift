import Foundation
import Hummingbird
import OCI
import RegistryStorage

extension RegistryUI {
    static let repositoriesPerPage = 50
    static let tagsPerPage = 100

    /// Repositories the visitor may pull, filtered, sorted and paged on the server.
    func repositoryList(_ query: FormFields, _ visit: Visit) async throws -> Response {
        let filter = (query["q"] ?? "").trimmingCharacters(in: .whitespaces)
        let sort = ["name", "pushed", "size", "tags"].contains(query["sort"] ?? "") ? query["sort"]! : "name"
        var rows = try await registry.repositorySummaries().filter { summary in
            (filter.isEmpty || summary.name.localizedCaseInsensitiveContains(filter))
                && access.actions(user: visit.user, repository: summary.name).contains("pull")
        }
        switch sort {
        case "pushed": rows.sort { ($0.lastPush ?? .distantPast, $1.name) > ($1.lastPush ?? .distantPast, $0.name) }
        case "size": rows.sort { ($0.bytes, $1.name) > ($1.bytes, $0.name) }
        case "tags": rows.sort { ($0.tagCount, $1.name) > ($1.tagCount, $0.name) }
        default: break  // the store lists by name
        }
        let pageNumber = max(1, Int(query["page"] ?? "") ?? 1)
        let start = min((pageNumber - 1) * Self.repositoriesPerPage, rows.count)
        let shown = rows[start..<min(start + Self.repositoriesPerPage, rows.count)]
        func link(sort: String, page: Int) -> String {
            var parts = ["sort=\(sort)"]
            if !filter.isEmpty { parts.append("q=\(Formatting.percentEncoded(filter))") }
            if page > 1 { parts.append("page=\(page)") }
            return "\(settings.basePath)/?" + parts.joined(separator: "&")
        }
        let model: [String: Any] = [
            "filter": filter,
            "sorts": [("name", "name"), ("pushed", "last push"), ("size", "size"), ("tags", "tag count")].map { key, label in
                ["href": link(sort: key, page: 1), "label": label, "current": key == sort] as [String: Any]
            },
            "hasRows": !shown.isEmpty,
            "rows": shown.map { summary -> [String: Any] in
                [
                    "name": summary.name, "href": "\(settings.basePath)/repositories/\(summary.name)", "tags": summary.tagCount,
                    "pushed": summary.lastPush.map { Formatting.ago($0) } ?? "", "pushedISO": summary.lastPush.map(Formatting.iso) as Any,
                    "size": Formatting.bytes(summary.bytes), "multi": summary.multiPlatform, "signed": summary.signed, "sbom": summary.hasSBOM,
                ]
            },
            "summary": rows.isEmpty ? "" : "\(start + 1)–\(start + shown.count) of \(rows.count).",
            "previous": pageNumber > 1 ? link(sort: sort, page: pageNumber - 1) as Any : nil as String? as Any,
            "next": start + shown.count < rows.count ? link(sort: sort, page: pageNumber + 1) as Any : nil as String? as Any,
        ]
        return page("Repositories", template: "repositories", model, visit, filter: filter)
    }

    /// A repository's tags, newest push first (or by name, versions in numeric order), with
    /// cosign's attachment tags folded into badges of the image they belong to.
    func repositoryPage(_ repository: RepositoryName, _ query: FormFields, _ visit: Visit) async throws -> Response {
        let details: [TagDetail]
        do { details = try await registry.tagDetails(repository) } catch RegistryError.nameUnknown {
            throw PageFailure(.notFound, "Not found", "There is no repository \(repository).")
        }
        var attachments: [String: Set<String>] = [:]
        var tags: [TagDetail] = []
        for detail in details {
            if let (subject, kind) = ManifestFacts.attachmentSubject(detail.name) { attachments[subject, default: []].insert(kind) } else { tags.append(detail) }
        }
        for (subject, type) in try await registry.referrerTypes(repository) {
            let kind = ArtifactKind(artifactType: type ?? "")
            if let suffix = ManifestFacts.cosignSuffixes.first(where: { $0.kind == kind })?.suffix { attachments[subject, default: []].insert(suffix) }
        }
        let byName = query["sort"] == "name"
        tags.sort { byName ? Formatting.naturalLess($1.name, $0.name) : ($0.pushedAt, $0.name) > ($1.pushedAt, $1.name) }
        let deletable = canDelete(repository, visit)
        if deletable { try await ensureSession(visit) }
        // Sorted over every tag (one query), but only a page's worth reads child manifests and configs.
        let pageCount = max(1, (tags.count + Self.tagsPerPage - 1) / Self.tagsPerPage)
        let pageNumber = min(max(1, Int(query["page"] ?? "") ?? 1), pageCount)
        let shown = tags.dropFirst((pageNumber - 1) * Self.tagsPerPage).prefix(Self.tagsPerPage)
        var rows: [[String: Any]] = []
        for (index, tag) in shown.enumerated() {
            let facts = ManifestFacts(tag.payload)
            var platforms = "—", size = facts.size.map(Formatting.bytes) ?? "—"
            if facts.isIndex {
                platforms = facts.platforms.map(\.label).joined(separator: ", ")
                var sizes: [String] = []
                for child in facts.platforms {
                    if let childSize = await childSize(repository, child) { sizes.append("\(child.label) \(Formatting.bytes(childSize))") }
                }
                size = sizes.isEmpty ? "—" : sizes.joined(separator: "; ")
            } else if let type = facts.artifactType {
                platforms = type
            } else if let config = facts.image?.config {
                platforms = await platformLabel(repository, config) ?? "—"
            }
            let kinds = attachments[tag.digest.description] ?? []
            rows.append([
                "index": index, "tag": tag.name, "href": "\(settings.basePath)/image/\(repository)?ref=\(tag.name)",
                "digest": tag.digest.description, "digestShort": Formatting.short(tag.digest.description), "platforms": platforms, "size": size,
                "pushed": Formatting.ago(tag.pushedAt), "pushedISO": Formatting.iso(tag.pushedAt),
                "signed": kinds.contains("sig"), "sbom": kinds.contains("sbom"), "attested": kinds.contains("att"),
            ])
        }
        let host = settings.registryHost ?? visit.host
        let pulls: [[String: Any]] = tags.first.map { newest in
            let image = "\(host)/\(repository):\(newest.name)"
            return [[
                "tag": newest.name,
                "commands": [
                    ("berth", "berth copy docker://\(image) oci:\(repository.value.split(separator: "/").last ?? ""):\(newest.name)"),
                    ("skopeo", "skopeo copy docker://\(image) oci:\(repository.value.split(separator: "/").last ?? ""):\(newest.name)"),
                    ("podman", "podman pull \(image)"), ("docker", "docker pull \(image)"),
                ].map { ["tool": $0.0, "command": $0.1, "id": $0.0] },
            ]]
        } ?? []
        let model: [String: Any] = [
            "name": repository.value, "tagCount": tags.count, "folded": details.count > tags.count ? details.count - tags.count : nil as Int? as Any, "pulls": pulls,
            "sorts": [("pushed", "last push"), ("name", "name")].map { key, label in
                ["href": "\(settings.basePath)/repositories/\(repository)?sort=\(key)", "label": label, "current": (key == "name") == byName] as [String: Any]
            },
            "canDelete": deletable, "csrf": visit.session?.csrf ?? "", "deleteAction": "\(settings.basePath)/delete/\(repository)", "tags": rows,
            "pageSummary": pageCount > 1 ? "Page \(pageNumber) of \(pageCount)." : "",
            "previous": pageNumber > 1 ? "\(settings.basePath)/repositories/\(repository)?sort=\(byName ? "name" : "pushed")&page=\(pageNumber - 1)" : "",
            "next": pageNumber < pageCount ? "\(settings.basePath)/repositories/\(repository)?sort=\(byName ? "name" : "pushed")&page=\(pageNumber + 1)" : "",
        ]
        return page(repository.value, template: "repository", model, visit)
    }

    /// `os/architecture[/variant]` from an image's config (read once per digest).
    func platformLabel(_ repository: RepositoryName, _ config: Descriptor) async -> String? {
        if let known = platformLabels.get(config.digest.description) { return known }
        guard config.size <= 64 << 10, let bytes = try? await readBlob(repository, config.digest),
            let decoded = try? JSONDecoder().decode(ImageConfig.self, from: Data(bytes)), let os = decoded.os, let architecture = decoded.architecture
        else { return nil }
        let label = ManifestFacts.label(Platform(architecture: architecture, os: os, variant: decoded.variant))
        platformLabels.put(config.digest.description, label)
        return label
    }
}
