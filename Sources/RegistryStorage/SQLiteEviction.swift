import Foundation
import GRDB
import OCI

/// A pull-through cache's bookkeeping over SQLite: pull times, what eviction may take, and
/// evicting one image whole (the contract is `MetadataStore`'s).
extension SQLiteMetadataStore {
    public func recordPulls(_ pulls: [ManifestPull]) async throws {
        guard !pulls.isEmpty else { return }
        try await pool.write { db in
            for pull in pulls {
                try db.execute(
                    sql: """
                        UPDATE manifests SET pulled_at = MAX(pulled_at, ?)
                        WHERE digest = ? AND repository_id = (SELECT id FROM repositories WHERE name = ?)
                        """, arguments: [pull.at.timeIntervalSince1970, pull.digest.description, pull.repository.value])
            }
        }
    }

    public func evictionCandidates(under prefixes: [String], limit: Int) async throws -> [ManifestPull] {
        let (filter, names) = Self.prefixFilter(prefixes, column: "r.name")
        return try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.name AS name, m.digest AS digest, MAX(m.pulled_at, m.created_at) AS used
                    FROM manifests m JOIN repositories r ON r.id = m.repository_id
                    WHERE \(filter)
                      AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                                      WHERE mr.is_manifest = 1 AND mr.digest = m.digest AND p.repository_id = m.repository_id)
                      AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject))
                    ORDER BY used, m.id LIMIT ?
                    """, arguments: StatementArguments(names + [String(limit)])
            ).compactMap { row in
                guard let name = try? RepositoryName(parsing: row["name"] as String), let digest = try? Digest(parsing: row["digest"] as String) else { return nil }
                return ManifestPull(repository: name, digest: digest, at: Date(timeIntervalSince1970: row["used"]))
            }
        }
    }

    public func bytesLinked(under prefixes: [String]) async throws -> Int64 {
        let (filter, names) = Self.prefixFilter(prefixes, column: "r.name")
        return try await pool.read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT COALESCE(SUM(b.size), 0) FROM blobs b
                    WHERE EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id WHERE rb.digest = b.digest AND \(filter))
                    """, arguments: StatementArguments(names)) ?? 0
        }
    }

    public func evict(_ repository: RepositoryName, _ digest: Digest, within prefixes: [String]) async throws -> GarbageReport {
        let (filter, names) = Self.prefixFilter(prefixes, column: "r.name")
        return try await pool.write { db in
            var report = GarbageReport(manifests: 0, blobs: [], repositories: [])
            guard let repo = try Self.repositoryID(db, repository) else { return report }
            // The image, its children and its referrers, transitively.
            var doomed = try Row.fetchAll(
                db,
                sql: """
                    WITH RECURSIVE doomed(id, digest) AS (
                        SELECT id, digest FROM manifests WHERE repository_id = ?1 AND digest = ?2
                        UNION
                        SELECT m.id, m.digest FROM manifests m, doomed d
                        WHERE m.repository_id = ?1
                          AND (m.subject = d.digest OR EXISTS (SELECT 1 FROM manifest_references mr
                                                               WHERE mr.manifest_id = d.id AND mr.is_manifest = 1 AND mr.digest = m.digest)))
                    SELECT id, digest FROM doomed
                    """, arguments: [repo, digest.description]
            ).map { (id: $0["id"] as Int64, digest: $0["digest"] as String) }
            guard !doomed.isEmpty else { return report }
            // A child another index of the repository still lists stays.
            let ids = doomed.map(\.id)
            let kept = Set(
                try Int64.fetchAll(
                    db,
                    sql: """
                        SELECT m.id FROM manifests m
                        WHERE m.id IN \(Self.placeholders(ids.count)) AND m.digest != ?
                          AND EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                                      WHERE p.repository_id = ? AND mr.is_manifest = 1 AND mr.digest = m.digest AND p.id NOT IN \(Self.placeholders(ids.count)))
                        """, arguments: StatementArguments(ids.map { $0 as any DatabaseValueConvertible } + [digest.description, repo] + ids)))
            doomed.removeAll { kept.contains($0.id) }
            // cosign keeps signatures, attestations and SBOMs under tags named after the digest.
            let cosignTags = doomed.flatMap { entry in
                [".sig", ".att", ".sbom"].map { entry.digest.replacingOccurrences(of: ":", with: "-") + $0 }
            }
            let tagged = try Int64.fetchAll(
                db, sql: "SELECT manifest_id FROM tags WHERE repository_id = ? AND name IN \(Self.placeholders(cosignTags.count))",
                arguments: StatementArguments([repo as any DatabaseValueConvertible] + cosignTags))
            let all = Array(Set(doomed.map(\.id) + tagged))
            let blobs = try String.fetchAll(
                db, sql: "SELECT DISTINCT digest FROM manifest_references WHERE is_manifest = 0 AND manifest_id IN \(Self.placeholders(all.count))",
                arguments: StatementArguments(all))
            try db.execute(sql: "DELETE FROM manifests WHERE id IN \(Self.placeholders(all.count))", arguments: StatementArguments(all))
            report.manifests = all.count
            report.repositories = [repository.value]
            for blob in blobs {
                let size = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT size FROM blobs WHERE digest = ?
                          AND NOT EXISTS (SELECT 1 FROM manifest_references WHERE digest = ? AND is_manifest = 0)
                          AND NOT EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                                          WHERE rb.digest = ? AND NOT \(filter))
                        """, arguments: StatementArguments([blob, blob, blob] + names))
                guard let size, let parsed = try? Digest(parsing: blob) else { continue }
                try db.execute(sql: "DELETE FROM blobs WHERE digest = ?", arguments: [blob])
                report.blobs.append(StorageBlob(digest: parsed, size: size))
            }
            return report
        }
    }

    /// A condition on `column` true for repositories under any of `prefixes` (all for ""), with its arguments.
    static func prefixFilter(_ prefixes: [String], column: String) -> (String, [String]) {
        if prefixes.contains("") { return ("1", []) }
        guard !prefixes.isEmpty else { return ("0", []) }
        let clause = prefixes.map { _ in "(\(column) = ? OR substr(\(column), 1, length(?) + 1) = ? || '/')" }.joined(separator: " OR ")
        return ("(\(clause))", prefixes.flatMap { [$0, $0, $0] })
    }

    private static func placeholders(_ count: Int) -> String { "(" + Array(repeating: "?", count: max(count, 1)).joined(separator: ", ") + ")" }
}
