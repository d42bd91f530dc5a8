import Foundation
import OCI
import PostgresNIO

/// A pull-through cache's bookkeeping over PostgreSQL: pull times, what eviction may take, and
/// evicting one image whole (the contract is `MetadataStore`'s).
extension PostgresMetadataStore {
    public func recordPulls(_ pulls: [ManifestPull]) async throws {
        guard !pulls.isEmpty else { return }
        try await write { db in
            for pull in pulls {
                try await db.run(
                    """
                    UPDATE manifests SET pulled_at = GREATEST(pulled_at, \(pull.at.timeIntervalSince1970))
                    WHERE digest = \(pull.digest.description) AND repository_id = (SELECT id FROM repositories WHERE name = \(pull.repository.value))
                    """)
            }
        }
    }

    public func evictionCandidates(under prefixes: [String], limit: Int) async throws -> [ManifestPull] {
        let everything = prefixes.contains("")
        return try await read { db in
            try await db.all(
                """
                SELECT r.name, m.digest, GREATEST(m.pulled_at, m.created_at) AS used
                FROM manifests m JOIN repositories r ON r.id = m.repository_id
                WHERE (\(everything) OR r.name = ANY(\(prefixes)) OR EXISTS (SELECT 1 FROM unnest(\(prefixes)::text[]) p WHERE left(r.name, length(p) + 1) = p || '/'))
                  AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                                  WHERE mr.is_manifest AND mr.digest = m.digest AND p.repository_id = m.repository_id)
                  AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject))
                ORDER BY used, m.id LIMIT \(limit)
                """, as: (String, String, Double).self
            ).compactMap { name, digest, used in
                guard let name = try? RepositoryName(parsing: name), let digest = try? Digest(parsing: digest) else { return nil }
                return ManifestPull(repository: name, digest: digest, at: Date(timeIntervalSince1970: used))
            }
        }
    }

    public func bytesLinked(under prefixes: [String]) async throws -> Int64 {
        let everything = prefixes.contains("")
        return try await read { db in
            try await db.first(
                """
                SELECT COALESCE(SUM(b.size), 0)::BIGINT FROM blobs b
                WHERE EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                              WHERE rb.digest = b.digest
                                AND (\(everything) OR r.name = ANY(\(prefixes))
                                     OR EXISTS (SELECT 1 FROM unnest(\(prefixes)::text[]) p WHERE left(r.name, length(p) + 1) = p || '/')))
                """, as: Int64.self) ?? 0
        }
    }

    public func evict(_ repository: RepositoryName, _ digest: Digest, within prefixes: [String]) async throws -> GarbageReport {
        let everything = prefixes.contains("")
        return try await write { db in
            // Serialised with pushes' reference checks and the collector, as a collection is.
            try await db.run("SELECT pg_advisory_xact_lock(\(Self.gcLock))")
            var report = GarbageReport(manifests: 0, blobs: [], repositories: [])
            guard let repo = try await Self.repositoryID(db, repository) else { return report }
            try await db.notify(repository.value)
            // The image, its children and its referrers, transitively.
            var doomed = try await db.all(
                """
                WITH RECURSIVE doomed(id, digest) AS (
                    SELECT id, digest FROM manifests WHERE repository_id = \(repo) AND digest = \(digest.description)
                    UNION
                    SELECT m.id, m.digest FROM manifests m, doomed d
                    WHERE m.repository_id = \(repo)
                      AND (m.subject = d.digest OR EXISTS (SELECT 1 FROM manifest_references mr
                                                           WHERE mr.manifest_id = d.id AND mr.is_manifest AND mr.digest = m.digest)))
                SELECT id, digest FROM doomed
                """, as: (Int64, String).self)
            guard !doomed.isEmpty else { return report }
            // A child another index of the repository still lists stays.
            let ids = doomed.map(\.0)
            let kept = Set(
                try await db.all(
                    """
                    SELECT m.id FROM manifests m
                    WHERE m.id = ANY(\(ids)) AND m.digest <> \(digest.description)
                      AND EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                                  WHERE p.repository_id = \(repo) AND mr.is_manifest AND mr.digest = m.digest AND NOT (p.id = ANY(\(ids))))
                    """, as: Int64.self))
            doomed.removeAll { kept.contains($0.0) }
            // cosign keeps signatures, attestations and SBOMs under tags named after the digest.
            let cosignTags = doomed.flatMap { entry in [".sig", ".att", ".sbom"].map { entry.1.replacingOccurrences(of: ":", with: "-") + $0 } }
            let tagged = try await db.all(
                "SELECT manifest_id FROM tags WHERE repository_id = \(repo) AND name = ANY(\(cosignTags))", as: Int64.self)
            let all = Array(Set(doomed.map(\.0) + tagged))
            let blobs = try await db.all(
                "SELECT DISTINCT digest FROM manifest_references WHERE NOT is_manifest AND manifest_id = ANY(\(all))", as: String.self)
            try await db.run("DELETE FROM manifests WHERE id = ANY(\(all))")
            report.manifests = all.count
            report.repositories = [repository.value]
            for blob in blobs {
                let size = try await db.first(
                    """
                    DELETE FROM blobs WHERE digest = \(blob)
                      AND NOT EXISTS (SELECT 1 FROM manifest_references WHERE digest = \(blob) AND NOT is_manifest)
                      AND NOT EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                                      WHERE rb.digest = \(blob)
                                        AND NOT (\(everything) OR r.name = ANY(\(prefixes))
                                                 OR EXISTS (SELECT 1 FROM unnest(\(prefixes)::text[]) p WHERE left(r.name, length(p) + 1) = p || '/')))
                    RETURNING size
                    """, as: Int64.self)
                if let size, let parsed = try? Digest(parsing: blob) { report.blobs.append(StorageBlob(digest: parsed, size: size)) }
            }
            return report
        }
    }
}
