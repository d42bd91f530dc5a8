import Foundation
import Hummingbird
import OCI
import RegistryStorage

extension RegistryUI {
    static let searchLimit = 100

    /// Repository names, tags, digest prefixes and image titles (annotations), each only where
    /// the visitor may pull.
    func searchPage(_ query: FormFields, _ visit: Visit) async throws -> Response {
        let term = (query["q"] ?? "").trimmingCharacters(in: .whitespaces)
        guard !term.isEmpty else { return redirect(to: settings.basePath + "/") }
        func readable(_ name: String) -> Bool { access.actions(user: visit.user, repository: name).contains("pull") }
        let repositories = try await registry.repositorySummaries()
            .filter { $0.name.localizedCaseInsensitiveContains(term) && readable($0.name) }.prefix(Self.searchLimit)
        let hex = term.lowercased().hasPrefix("sha256:") ? String(term.lowercased().dropFirst(7)) : term.lowercased()
        let digestPrefix = (4...64).contains(hex.count) && hex.allSatisfy(\.isHexDigit) ? "sha256:\(hex)" : nil
        let hits = try await registry.search(term, digestPrefix: digestPrefix, limit: Self.searchLimit).filter { readable($0.repository) }
        func imageHref(_ hit: SearchHit) -> String { "\(settings.basePath)/image/\(hit.repository)?ref=\(hit.tag ?? hit.digest.description)" }
        let tags = hits.filter { $0.match == .tag }.map { hit in
            ["repository": hit.repository, "tag": hit.tag ?? "", "href": imageHref(hit), "digestShort": Formatting.short(hit.digest.description)]
        }
        let digests = hits.filter { $0.match == .digest }.map { hit in
            ["repository": hit.repository, "digest": hit.digest.description, "href": imageHref(hit)]
        }
        // The database matched the annotations' text; only titles and descriptions count here.
        let titles = hits.filter { $0.match == .annotation }.compactMap { hit -> [String: String]? in
            guard let json = hit.annotations, let annotations = try? JSONDecoder().decode([String: String].self, from: Data(json.utf8)) else { return nil }
            let title = annotations["org.opencontainers.image.title"] ?? "", description = annotations["org.opencontainers.image.description"] ?? ""
            guard title.localizedCaseInsensitiveContains(term) || description.localizedCaseInsensitiveContains(term) else { return nil }
            return ["repository": hit.repository, "title": title.isEmpty ? description : title, "href": imageHref(hit), "digestShort": Formatting.short(hit.digest.description)]
        }
        let model: [String: Any] = [
            "term": term,
            "repositories": repositories.map { ["name": $0.name, "href": "\(settings.basePath)/repositories/\($0.name)"] },
            "tags": tags, "digests": digests, "titles": titles,
            "hasRepositories": !repositories.isEmpty, "hasTags": !tags.isEmpty, "hasDigests": !digests.isEmpty, "hasTitles": !titles.isEmpty,
            "nothing": repositories.isEmpty && tags.isEmpty && digests.isEmpty && titles.isEmpty,
        ]
        return page("Search", template: "search", model, visit, filter: term)
    }
}
