import Foundation
import Hummingbird
import OCI
import RegistryStorage

extension RegistryUI {
    /// Untag or delete images: the first POST answers with a page saying exactly what goes
    /// (which other tags share a digest, what stays for garbage collection); the second,
    /// carrying `confirm=yes`, does it. Rights are checked on both.
    func delete(_ repository: RepositoryName, _ form: FormFields, _ visit: Visit) async throws -> Response {
        guard canDelete(repository, visit) else {
            throw PageFailure(.forbidden, "Not allowed", "You may not delete from \(repository).")
        }
        let mode = form["mode"] == "manifests" ? "manifests" : "untag"
        let selected = Array(Set(form.all("tag"))).sorted(by: Formatting.naturalLess)
        guard !selected.isEmpty else { throw PageFailure(.badRequest, "Nothing selected", "Select the tags to remove first.") }
        let details = try await registry.tagDetails(repository)
        let byTag = Dictionary(details.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let missing = selected.filter { byTag[$0] == nil }
        guard missing.isEmpty else {
            throw PageFailure(.notFound, "Not found", "\(repository) has no tag \(missing.joined(separator: ", ")) (any more).")
        }
        var tagsOf: [Digest: [String]] = [:]
        for detail in details where ManifestFacts.attachmentSubject(detail.name) == nil { tagsOf[detail.digest, default: []].append(detail.name) }
        let digests = Array(Set(selected.compactMap { byTag[$0]?.digest })).sorted { $0.description < $1.description }
        let back = "\(settings.basePath)/repositories/\(repository)"

        guard form["confirm"] == "yes" else {
            var items: [String] = []
            if mode == "untag" {
                for tag in selected {
                    let digest = byTag[tag]!.digest
                    let others = (tagsOf[digest] ?? []).filter { !selected.contains($0) }
                    items.append(
                        others.isEmpty
                            ? "Tag \(tag) is removed. Its image \(Formatting.short(digest.description)) is then untagged: it stays pullable by digest until garbage collection removes it."
                            : "Tag \(tag) is removed. Its image \(Formatting.short(digest.description)) stays, still tagged \(others.sorted(by: Formatting.naturalLess).joined(separator: ", ")).")
                }
            } else {
                for digest in digests {
                    let all = (tagsOf[digest] ?? []).sorted(by: Formatting.naturalLess)
                    let unselected = all.filter { !selected.contains($0) }
                    var text = "Image \(digest) is deleted with every tag naming it: \(all.joined(separator: ", "))."
                    if !unselected.isEmpty { text += " That includes \(unselected.joined(separator: ", ")), which you did not select." }
                    if registry.options.deleteSignatureTags, byTag["\(digest.algorithm.rawValue)-\(digest.encoded).sig"] != nil {
                        text += " Its cosign signature tag goes with it."
                    }
                    items.append(text)
                }
            }
            let model: [String: Any] = [
                "heading": mode == "untag" ? "Remove \(selected.count) tag(s) from \(repository)?" : "Delete \(digests.count) image(s) from \(repository)?",
                "explanation": mode == "untag"
                    ? "Only the tags go; images stay until nothing refers to them and garbage collection runs."
                    : "The images are deleted now: every tag naming them goes, and pulls by digest fail.",
                "items": items, "action": "\(settings.basePath)/delete/\(repository)", "csrf": visit.session?.csrf ?? "", "mode": mode, "tags": selected,
                "button": mode == "untag" ? "Remove tags" : "Delete images", "back": back,
            ]
            return page("Confirm", template: "confirm", model, visit)
        }

        var done: [String] = [], failures: [String] = []
        if mode == "untag" {
            for tag in selected {
                do {
                    try await registry.deleteManifest(repository, .tag(try Tag(parsing: tag)))
                    done.append("Removed tag \(tag).")
                    await events?.deleted(repository: repository.value, tag: tag, digest: nil, user: visit.user)
                } catch { failures.append("\(tag): \(error)") }
            }
        } else {
            for digest in digests {
                do {
                    try await registry.deleteManifest(repository, .digest(digest))
                    done.append("Deleted image \(digest) (tags \((tagsOf[digest] ?? []).sorted(by: Formatting.naturalLess).joined(separator: ", "))).")
                    await events?.deleted(repository: repository.value, tag: nil, digest: digest.description, user: visit.user)
                } catch { failures.append("\(digest): \(error)") }
            }
        }
        logger.info("UI: \(visit.user ?? "anonymous") \(mode == "untag" ? "untagged" : "deleted") \(done.count) in \(repository)")
        let model: [String: Any] = [
            "heading": failures.isEmpty ? "Done" : "Done, with errors", "items": done, "failures": failures, "back": back, "name": repository.value,
        ]
        return page("Done", template: "done", model, visit, status: failures.isEmpty ? .ok : .internalServerError)
    }
}
