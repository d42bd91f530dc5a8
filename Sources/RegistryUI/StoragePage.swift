import Foundation
import Hummingbird
import RegistryStorage

extension RegistryUI {
    /// Administrators: what the store holds, usage per repository, and what a garbage
    /// collection would delete now (a dry run: nothing changes).
    func storagePage(_ query: FormFields, _ visit: Visit) async throws -> Response {
        guard access.isAdmin(user: visit.user) else { throw PageFailure(.notFound, "Not found", "There is no such page.") }
        let statistics = try await registry.statistics()
        let usage = try await registry.repositorySummaries().sorted { ($0.bytes, $1.name) > ($1.bytes, $0.name) }
        var model: [String: Any] = [
            "base": settings.basePath, "blobs": statistics.blobs, "bytes": Formatting.bytes(statistics.bytes), "uploads": statistics.uploads,
            "repositories": usage.prefix(200).map { ["name": $0.name, "size": Formatting.bytes($0.bytes), "tags": $0.tagCount] },
            "dryRun": query["dryrun"] == "1",
            "lastCollection": registry.lastGarbageCollection.map { last in
                "The last collection by this server, \(Formatting.ago(last.at)) (\(Formatting.iso(last.at))), deleted \(last.report.manifests) manifest(s) and \(last.report.blobs.count) blob(s), \(Formatting.bytes(last.report.bytesFreed))."
            } ?? "No collection has run in this server since it started.",
        ]
        if query["dryrun"] == "1" {
            let report = try await registry.collectGarbage(grace: settings.collectionGrace, dryRun: true)
            model["summary"] = "A collection now (grace \(Int(settings.collectionGrace)) s) would delete \(report.manifests) manifest(s) and \(report.blobs.count) blob(s), \(Formatting.bytes(report.bytesFreed))."
            model["blobs"] = report.blobs.prefix(500).map { ["digest": $0.digest.description, "size": Formatting.bytes($0.size)] }
        }
        return page("Storage", template: "storage", model, visit)
    }
}
