import Foundation
import GRDB
import OCI

/// Metadata in one SQLite database (WAL, one writer, a pool of readers) through GRDB.
/// Every listing is an indexed range scan, so a page costs O(page) whatever the repository's size.
public final class SQLiteMetadataStore: MetadataStore {
    let pool: DatabasePool

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// One server per SQLite file: its own writes invalidate its caches, `Registry`'s gate is
    /// the blob lock and every job has this server as its sole runner.
    public func changeFeed() -> AsyncStream<MetadataChange>? { nil }
    public var isShared: Bool { false }

    public func withBlobLock<T: Sendable>(exclusive: Bool, _ body: () async throws -> T) async throws -> T { try await body() }

    public func asSoleRunner<T: Sendable>(_ job: String, _ body: () async throws -> T) async throws -> T? { try await body() }

    /// Folds the write-ahead log into the database file (so the file alone is complete, for a
    /// backup or a copy) and closes every connection. GRDB closes the writer before the
    /// read-only readers, so the last connection to close cannot checkpoint: it is done here first.
    public func close() throws {
        _ = try pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        try pool.close()
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE repositories(
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        created_at REAL NOT NULL);
                    CREATE TABLE blobs(
                        digest TEXT PRIMARY KEY,
                        size INTEGER NOT NULL,
                        created_at REAL NOT NULL) WITHOUT ROWID;
                    CREATE TABLE repository_blobs(
                        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                        digest TEXT NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,
                        PRIMARY KEY(repository_id, digest)) WITHOUT ROWID;
                    CREATE INDEX repository_blobs_by_digest ON repository_blobs(digest);
                    CREATE TABLE manifests(
                        id INTEGER PRIMARY KEY,
                        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                        digest TEXT NOT NULL,
                        media_type TEXT NOT NULL,
                        artifact_type TEXT,
                        subject TEXT,
                        annotations TEXT,
                        payload BLOB NOT NULL,
                        created_at REAL NOT NULL,
                        UNIQUE(repository_id, digest));
                    CREATE INDEX manifests_by_subject ON manifests(repository_id, subject, digest) WHERE subject IS NOT NULL;
                    CREATE TABLE manifest_references(
                        manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                        digest TEXT NOT NULL,
                        is_manifest INTEGER NOT NULL,
                        PRIMARY KEY(manifest_id, digest)) WITHOUT ROWID;
                    CREATE INDEX manifest_references_by_digest ON manifest_references(digest);
                    CREATE TABLE tags(
                        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                        updated_at REAL NOT NULL,
                        PRIMARY KEY(repository_id, name)) WITHOUT ROWID;
                    CREATE INDEX tags_by_manifest ON tags(manifest_id);
                    CREATE TABLE uploads(
                        id TEXT PRIMARY KEY,
                        repository TEXT NOT NULL,
                        algorithm TEXT NOT NULL,
                        byte_offset INTEGER NOT NULL,
                        started_at REAL NOT NULL) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2 signatures") { db in
            // Simple-signing signatures of the extension API; they go with their manifest.
            try db.execute(
                sql: """
                    CREATE TABLE signatures(
                        manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        content BLOB NOT NULL,
                        created_at REAL NOT NULL,
                        PRIMARY KEY(manifest_id, name)) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v3 garbage collection") { db in
            // When a blob was last uploaded or mounted: a fresh upload waits out the grace period
            // before it needs a manifest, even when its bytes were stored long before.
            try db.execute(sql: "ALTER TABLE blobs ADD COLUMN linked_at REAL NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v4 notifications") { db in
            // Webhook events waiting for delivery, so they survive a restart.
            try db.execute(
                sql: """
                    CREATE TABLE notifications(
                        id INTEGER PRIMARY KEY,
                        endpoint TEXT NOT NULL,
                        event BLOB NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt REAL NOT NULL);
                    CREATE INDEX notifications_due ON notifications(endpoint, next_attempt);
                    """)
        }
        migrator.registerMigration("v5 resumable uploads") { db in
            // What an upload needs to continue without reading its bytes back: the running hash
            // and the blob store's own state (an S3 multipart upload's id, parts and tail).
            try db.execute(sql: "ALTER TABLE uploads ADD COLUMN hash_state BLOB")
            try db.execute(sql: "ALTER TABLE uploads ADD COLUMN storage_state BLOB NOT NULL DEFAULT x''")
        }
        migrator.registerMigration("v6 pulls") { db in
            // When a manifest was last pulled: a pull-through cache evicts the least recently used.
            try db.execute(sql: "ALTER TABLE manifests ADD COLUMN pulled_at REAL NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v7 ui sessions") { db in
            // The web interface's sessions, by the SHA-256 of the cookie's value.
            try db.execute(sql: OverviewSQL.sessionsTable)
        }
        return migrator
    }

    // MARK: repositories and blobs

    public func repositoryExists(_ repository: RepositoryName) async throws -> Bool {
        try await pool.read { db in try Self.repositoryID(db, repository) != nil }
    }

    public func linkedBlobSize(_ repository: RepositoryName, _ digest: Digest) async throws -> Int64? {
        try await pool.read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT b.size FROM blobs b
                    JOIN repository_blobs rb ON rb.digest = b.digest
                    JOIN repositories r ON r.id = rb.repository_id
                    WHERE r.name = ? AND b.digest = ?
                    """, arguments: [repository.value, digest.description])
        }
    }

    public func anyRepositoryHolding(_ digest: Digest, excluding: RepositoryName) async throws -> RepositoryName? {
        let name = try await pool.read { db in
            try String.fetchOne(
                db,
                sql: """
                    SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                    WHERE rb.digest = ? AND r.name != ? LIMIT 1
                    """, arguments: [digest.description, excluding.value])
        }
        return try name.map { try RepositoryName(parsing: $0) }
    }

    public func linkBlob(_ repository: RepositoryName, _ digest: Digest, size: Int64) async throws {
        try await pool.write { db in try Self.link(db, repository, digest, size) }
    }

    public func unlinkBlob(_ repository: RepositoryName, _ digest: Digest) async throws -> Bool {
        try await pool.write { db in
            guard let repo = try Self.repositoryID(db, repository) else { return false }
            try db.execute(
                sql: "DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?",
                arguments: [repo, digest.description])
            return db.changesCount > 0
        }
    }

    // MARK: manifests and tags

    public func manifest(_ repository: RepositoryName, _ reference: ManifestReference) async throws -> StoredManifest? {
        let found = try await pool.read { db -> (String, String, Data)? in
            let row: Row?
            switch reference {
            case .digest(let digest):
                row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT m.digest, m.media_type, m.payload FROM manifests m
                        JOIN repositories r ON r.id = m.repository_id
                        WHERE r.name = ? AND m.digest = ?
                        """, arguments: [repository.value, digest.description])
            case .tag(let tag):
                row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT m.digest, m.media_type, m.payload FROM tags t
                        JOIN repositories r ON r.id = t.repository_id
                        JOIN manifests m ON m.id = t.manifest_id
                        WHERE r.name = ? AND t.name = ?
                        """, arguments: [repository.value, tag.value])
            }
            return row.map { ($0["digest"], $0["media_type"], $0["payload"]) }
        }
        guard let (digest, mediaType, payload) = found else { return nil }
        return StoredManifest(digest: try Digest(parsing: digest), mediaType: mediaType, payload: Array(payload))
    }

    public func putManifest(_ repository: RepositoryName, _ record: ManifestRecord, tags: [Tag]) async throws {
        try await pool.write { db in
            let repo = try Self.ensureRepository(db, repository)
            for digest in record.requiredBlobs where record.checkReferences {
                let visible = try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM repository_blobs WHERE repository_id = ? AND digest = ?",
                    arguments: [repo, digest.description]) ?? false
                if !visible { throw RegistryError.manifestBlobUnknown(digest) }
            }
            for digest in record.requiredManifests where record.checkReferences {
                let present = try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?",
                    arguments: [repo, digest.description]) ?? false
                if !present { throw RegistryError.manifestBlobUnknown(digest) }
            }
            let now = Date().timeIntervalSince1970
            var annotationsJSON: String?
            if let annotations = record.summary.annotations, !annotations.isEmpty {
                annotationsJSON = String(decoding: try JSONEncoder().encode(annotations), as: UTF8.self)
            }
            try db.execute(
                sql: """
                    INSERT INTO manifests(repository_id, digest, media_type, artifact_type, subject, annotations, payload, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(repository_id, digest) DO UPDATE SET created_at = excluded.created_at
                    """,
                arguments: [
                    repo, record.digest.description, record.summary.mediaType, record.summary.effectiveArtifactType,
                    record.summary.subject?.digest.description, annotationsJSON, Data(record.payload), now,
                ])
            let manifestID = try Int64.fetchOne(
                db, sql: "SELECT id FROM manifests WHERE repository_id = ? AND digest = ?",
                arguments: [repo, record.digest.description])!
            for digest in record.requiredBlobs {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO manifest_references(manifest_id, digest, is_manifest) VALUES (?, ?, 0)",
                    arguments: [manifestID, digest.description])
            }
            for digest in record.requiredManifests {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO manifest_references(manifest_id, digest, is_manifest) VALUES (?, ?, 1)",
                    arguments: [manifestID, digest.description])
            }
            for tag in tags {
                try db.execute(
                    sql: """
                        INSERT INTO tags(repository_id, name, manifest_id, updated_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT(repository_id, name) DO UPDATE SET manifest_id = excluded.manifest_id, updated_at = excluded.updated_at
                        """, arguments: [repo, tag.value, manifestID, now])
            }
        }
    }

    public func deleteManifest(_ repository: RepositoryName, _ digest: Digest) async throws -> Bool {
        try await pool.write { db in
            guard let repo = try Self.repositoryID(db, repository) else { return false }
            // Tags and references go with it through ON DELETE CASCADE.
            try db.execute(
                sql: "DELETE FROM manifests WHERE repository_id = ? AND digest = ?", arguments: [repo, digest.description])
            return db.changesCount > 0
        }
    }

    public func signatures(_ repository: RepositoryName, _ digest: Digest) async throws -> [StoredSignature]? {
        try await pool.read { db in
            guard let repo = try Self.repositoryID(db, repository),
                let manifestID = try Int64.fetchOne(
                    db, sql: "SELECT id FROM manifests WHERE repository_id = ? AND digest = ?", arguments: [repo, digest.description])
            else { return nil }
            return try Row.fetchAll(
                db, sql: "SELECT name, content FROM signatures WHERE manifest_id = ? ORDER BY created_at, name", arguments: [manifestID]
            ).map { StoredSignature(name: $0["name"], content: Array($0["content"] as Data)) }
        }
    }

    public func addSignature(_ repository: RepositoryName, _ digest: Digest, _ signature: StoredSignature) async throws -> Bool {
        try await pool.write { db in
            guard let repo = try Self.repositoryID(db, repository),
                let manifestID = try Int64.fetchOne(
                    db, sql: "SELECT id FROM manifests WHERE repository_id = ? AND digest = ?", arguments: [repo, digest.description])
            else { return false }
            try db.execute(
                sql: "INSERT OR IGNORE INTO signatures(manifest_id, name, content, created_at) VALUES (?, ?, ?, ?)",
                arguments: [manifestID, signature.name, Data(signature.content), Date().timeIntervalSince1970])
            return true
        }
    }

    public func deleteTag(_ repository: RepositoryName, _ tag: Tag) async throws -> Bool {
        try await pool.write { db in
            guard let repo = try Self.repositoryID(db, repository) else { return false }
            try db.execute(sql: "DELETE FROM tags WHERE repository_id = ? AND name = ?", arguments: [repo, tag.value])
            return db.changesCount > 0
        }
    }

    public func tags(_ repository: RepositoryName, after last: String?, limit: Int?) async throws -> Page<String>? {
        try await pool.read { db in
            guard let repo = try Self.repositoryID(db, repository) else { return nil }
            let fetchLimit = limit.map { $0 + 1 } ?? -1
            let names = try String.fetchAll(
                db, sql: "SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?",
                arguments: [repo, last ?? "", fetchLimit])
            return Page(prefixOf: names, limit: limit)
        }
    }

    public func repositories(after last: String?, limit: Int) async throws -> Page<String> {
        try await pool.read { db in
            let names = try String.fetchAll(
                db, sql: "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?",
                arguments: [last ?? "", limit + 1])
            return Page(prefixOf: names, limit: limit)
        }
    }

    public func referrers(
        _ repository: RepositoryName, subject: Digest, artifactType: String?, after last: String?, limit: Int
    ) async throws -> Page<Descriptor> {
        let rows = try await pool.read { db -> [ReferrerRow] in
            var sql = """
                SELECT m.digest, m.media_type, m.artifact_type, m.annotations, length(m.payload) AS size FROM manifests m
                JOIN repositories r ON r.id = m.repository_id
                WHERE r.name = ? AND m.subject = ? AND m.digest > ?
                """
            var arguments: StatementArguments = [repository.value, subject.description, last ?? ""]
            if let artifactType {
                sql += " AND m.artifact_type = ?"
                arguments += [artifactType]
            }
            sql += " ORDER BY m.digest LIMIT ?"
            arguments += [limit + 1]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map {
                ReferrerRow(
                    digest: $0["digest"], mediaType: $0["media_type"], artifactType: $0["artifact_type"],
                    annotations: $0["annotations"], size: $0["size"])
            }
        }
        let descriptors = try rows.prefix(limit).map { row in
            var annotations: [String: String]?
            if let json = row.annotations {
                annotations = try JSONDecoder().decode([String: String].self, from: Data(json.utf8))
            }
            return Descriptor(
                mediaType: row.mediaType, digest: try Digest(parsing: row.digest), size: row.size,
                annotations: annotations, artifactType: row.artifactType)
        }
        return Page(items: descriptors, hasMore: rows.count > limit)
    }

    private struct ReferrerRow: Sendable {
        let digest: String
        let mediaType: String
        let artifactType: String?
        let annotations: String?
        let size: Int64
    }

    // MARK: overview (a browsing interface's listings)

    public func repositorySummaries() async throws -> [RepositorySummary] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: OverviewSQL.repositorySummaries).map { row in
                RepositorySummary(
                    name: row[0], tagCount: row[1], lastPush: (row[2] as Double?).map(Date.init(timeIntervalSince1970:)), bytes: row[3],
                    multiPlatform: row[4] as Int == 1, signed: row[5] as Int == 1, hasSBOM: row[6] as Int == 1)
            }
        }
    }

    public func tagDetails(_ repository: RepositoryName) async throws -> [TagDetail]? {
        try await pool.read { db in
            guard let repo = try Self.repositoryID(db, repository) else { return nil }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT t.name, m.digest, m.media_type, m.payload, t.updated_at FROM tags t
                    JOIN manifests m ON m.id = t.manifest_id WHERE t.repository_id = ? ORDER BY t.name
                    """, arguments: [repo]
            ).map { row in
                TagDetail(
                    name: row[0], digest: try Digest(parsing: row[1] as String), mediaType: row[2], payload: Array(row[3] as Data),
                    pushedAt: Date(timeIntervalSince1970: row[4]))
            }
        }
    }

    public func search(_ term: String, digestPrefix: String?, limit: Int) async throws -> [SearchHit] {
        try await pool.read { db in
            var hits: [SearchHit] = []
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT r.name, t.name, m.digest FROM tags t JOIN repositories r ON r.id = t.repository_id JOIN manifests m ON m.id = t.manifest_id
                    WHERE instr(t.name, ?) > 0 ORDER BY r.name, t.name LIMIT ?
                    """, arguments: [term, limit])
            {
                hits.append(SearchHit(repository: row[0], tag: row[1], digest: try Digest(parsing: row[2] as String), match: .tag, annotations: nil))
            }
            if let digestPrefix {
                for row in try Row.fetchAll(
                    db,
                    sql: """
                        SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
                        WHERE m.digest LIKE ? ORDER BY r.name, m.digest LIMIT ?
                        """, arguments: [digestPrefix + "%", limit])
                {
                    hits.append(SearchHit(repository: row[0], tag: nil, digest: try Digest(parsing: row[1] as String), match: .digest, annotations: nil))
                }
            }
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT r.name, m.digest, m.annotations FROM manifests m JOIN repositories r ON r.id = m.repository_id
                    WHERE m.annotations IS NOT NULL AND instr(lower(m.annotations), lower(?)) > 0 ORDER BY r.name, m.digest LIMIT ?
                    """, arguments: [term, limit])
            {
                hits.append(SearchHit(repository: row[0], tag: nil, digest: try Digest(parsing: row[1] as String), match: .annotation, annotations: row[2]))
            }
            return hits
        }
    }

    public func notificationBacklog() async throws -> [NotificationBacklog] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: OverviewSQL.notificationBacklog).map { row in
                NotificationBacklog(
                    endpoint: row[0], queued: row[1], failing: row[2], maxAttempts: row[3],
                    oldestNextAttempt: (row[4] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    public func createSession(_ session: StoredSession, expiredBefore: Date, startedBefore: Date) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "DELETE FROM ui_sessions WHERE last_seen < ? OR created_at < ?",
                arguments: [expiredBefore.timeIntervalSince1970, startedBefore.timeIntervalSince1970])
            try db.execute(
                sql: "INSERT INTO ui_sessions(key, user_name, csrf, created_at, last_seen) VALUES (?, ?, ?, ?, ?)",
                arguments: [session.key, session.user, session.csrf, session.created.timeIntervalSince1970, session.lastSeen.timeIntervalSince1970])
        }
    }

    public func session(_ key: String, now: Date, expiredBefore: Date, startedBefore: Date, touchAfter: Date) async throws -> StoredSession? {
        let found = try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT user_name, csrf, created_at, last_seen FROM ui_sessions WHERE key = ?", arguments: [key]).map {
                StoredSession(
                    key: key, user: $0[0], csrf: $0[1], created: Date(timeIntervalSince1970: $0[2]), lastSeen: Date(timeIntervalSince1970: $0[3]))
            }
        }
        guard let found else { return nil }
        if found.lastSeen < expiredBefore || found.created < startedBefore {
            try await deleteSession(key)
            return nil
        }
        if found.lastSeen < touchAfter {
            try await pool.write { db in
                try db.execute(sql: "UPDATE ui_sessions SET last_seen = ? WHERE key = ?", arguments: [now.timeIntervalSince1970, key])
            }
        }
        return found
    }

    public func deleteSession(_ key: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM ui_sessions WHERE key = ?", arguments: [key]) }
    }

    public func referrerTypes(_ repository: RepositoryName) async throws -> [(subject: String, artifactType: String?)] {
        try await pool.read { db in
            guard let repo = try Self.repositoryID(db, repository) else { return [] }
            return try Row.fetchAll(db, sql: "SELECT subject, artifact_type FROM manifests WHERE repository_id = ? AND subject IS NOT NULL", arguments: [repo])
                .map { (subject: $0[0], artifactType: $0[1]) }
        }
    }

    // MARK: notifications

    public func enqueueNotifications(_ events: [QueuedNotification]) async throws {
        guard !events.isEmpty else { return }
        try await pool.write { db in
            for event in events {
                try db.execute(
                    sql: "INSERT INTO notifications(endpoint, event, next_attempt) VALUES (?, ?, ?)",
                    arguments: [event.endpoint, Data(event.event), Date().timeIntervalSince1970])
            }
        }
    }

    public func dueNotifications(endpoint: String, now: Date, limit: Int) async throws -> [QueuedNotification] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, event, attempts FROM notifications WHERE endpoint = ? AND next_attempt <= ? ORDER BY id LIMIT ?",
                arguments: [endpoint, now.timeIntervalSince1970, limit]
            ).map { row in
                QueuedNotification(id: row["id"], endpoint: endpoint, event: Array(row["event"] as Data), attempts: row["attempts"])
            }
        }
    }

    public func finishNotifications(_ ids: [Int64], retryAt: Date?) async throws {
        guard !ids.isEmpty else { return }
        try await pool.write { db in
            for id in ids {
                if let retryAt {
                    try db.execute(
                        sql: "UPDATE notifications SET attempts = attempts + 1, next_attempt = ? WHERE id = ?",
                        arguments: [retryAt.timeIntervalSince1970, id])
                } else {
                    try db.execute(sql: "DELETE FROM notifications WHERE id = ?", arguments: [id])
                }
            }
        }
    }

    // MARK: garbage collection

    public func collectGarbage(before cutoff: Date, untaggedManifests: Bool, dryRun: Bool) async throws -> GarbageReport {
        try await pool.write { db in
            var report = GarbageReport(manifests: 0, blobs: [], repositories: [])
            // A dry run does the same work in a savepoint it then rolls back.
            try db.inSavepoint {
                report = try Self.collect(db, before: cutoff, untaggedManifests: untaggedManifests)
                return dryRun ? .rollback : .commit
            }
            return report
        }
    }

    private static func collect(_ db: Database, before cutoff: Date, untaggedManifests: Bool) throws -> GarbageReport {
        let time = cutoff.timeIntervalSince1970
        var manifests = 0
        var repositories: Set<String> = []
        // Untagged, unreferenced manifests; an index going frees its children for the next round.
        for _ in 0..<64 where untaggedManifests {
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT m.id AS id, r.name AS name FROM manifests m JOIN repositories r ON r.id = m.repository_id
                    WHERE m.created_at < ?
                      AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
                      AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                                      WHERE mr.digest = m.digest AND mr.is_manifest = 1 AND p.repository_id = m.repository_id)
                      AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s
                                                            WHERE s.repository_id = m.repository_id AND s.digest = m.subject))
                    """, arguments: [time])
            guard !rows.isEmpty else { break }
            for row in rows {
                try db.execute(sql: "DELETE FROM manifests WHERE id = ?", arguments: [row["id"] as Int64])
                repositories.insert(row["name"])
            }
            manifests += rows.count
        }
        let blobRows = try Row.fetchAll(
            db,
            sql: """
                SELECT b.digest AS digest, b.size AS size FROM blobs b
                WHERE MAX(b.created_at, b.linked_at) < ?
                  AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.digest = b.digest AND mr.is_manifest = 0)
                """, arguments: [time])
        var blobs: [StorageBlob] = []
        for row in blobRows {
            let digest: String = row["digest"]
            for name in try String.fetchAll(
                db, sql: "SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id WHERE rb.digest = ?",
                arguments: [digest])
            {
                repositories.insert(name)
            }
            try db.execute(sql: "DELETE FROM blobs WHERE digest = ?", arguments: [digest])
            if let parsed = try? Digest(parsing: digest) { blobs.append(StorageBlob(digest: parsed, size: row["size"])) }
        }
        return GarbageReport(manifests: manifests, blobs: blobs, repositories: repositories.sorted())
    }

    // MARK: uploads

    public func createUpload(_ upload: UploadRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO uploads(id, repository, algorithm, byte_offset, started_at, hash_state, storage_state)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    upload.id.uuidString.lowercased(), upload.repository.value, upload.algorithm.rawValue, upload.offset,
                    upload.startedAt.timeIntervalSince1970, upload.hashState.map { Data($0) }, Data(upload.checkpoint.storageState),
                ])
        }
    }

    public func upload(_ id: UUID) async throws -> UploadRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM uploads WHERE id = ?", arguments: [id.uuidString.lowercased()]).flatMap(Self.uploadRecord)
        }
    }

    public func allBlobs() async throws -> [StorageBlob] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT digest, size FROM blobs ORDER BY digest").compactMap { row in
                (try? Digest(parsing: row["digest"] as String)).map { StorageBlob(digest: $0, size: row["size"]) }
            }
        }
    }

    public func integrityProblems() async throws -> [String] {
        try await pool.read { db in
            let pages = try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
            let keys = try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").map { row in "a row of \(row[0] as String? ?? "?") names a missing \(row[2] as String? ?? "?") row" }
            return pages + keys
        }
    }

    public func inventory(_ repository: RepositoryName) async throws -> RepositoryInventory? {
        try await pool.read { db in
            guard let repo = try Self.repositoryID(db, repository) else { return nil }
            let blobs = try Row.fetchAll(
                db, sql: "SELECT b.digest, b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repository_id = ? ORDER BY b.digest",
                arguments: [repo]
            ).compactMap { row in (try? Digest(parsing: row["digest"] as String)).map { StorageBlob(digest: $0, size: row["size"]) } }
            let manifests = try String.fetchAll(db, sql: "SELECT digest FROM manifests WHERE repository_id = ? ORDER BY id", arguments: [repo])
            let tags = try Row.fetchAll(
                db, sql: "SELECT t.name, m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id WHERE t.repository_id = ?", arguments: [repo])
            return RepositoryInventory(
                blobs: blobs, manifests: manifests.compactMap { try? Digest(parsing: $0) },
                tags: Dictionary(uniqueKeysWithValues: tags.compactMap { row in (try? Digest(parsing: row["digest"] as String)).map { (row["name"], $0) } }))
        }
    }

    public func statistics() async throws -> StorageStatistics {
        try await pool.read { db in
            let blobs = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM blobs")
            let uploads = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM uploads") ?? 0
            return StorageStatistics(blobs: blobs?["n"] ?? 0, bytes: blobs?["bytes"] ?? 0, uploads: uploads)
        }
    }

    public func uploads(startedBefore date: Date) async throws -> [UploadRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM uploads WHERE started_at < ? ORDER BY started_at", arguments: [date.timeIntervalSince1970])
                .compactMap(Self.uploadRecord)
        }
    }

    private static func uploadRecord(_ row: Row) throws -> UploadRecord? {
        let (id, repository, algorithmName, offset, started): (String, String, String, Int64, Double) =
            (row["id"], row["repository"], row["algorithm"], row["byte_offset"], row["started_at"])
        guard let uuid = UUID(uuidString: id), let algorithm = Digest.Algorithm(rawValue: algorithmName) else { return nil }
        let hashState: Data? = row["hash_state"]
        let storageState: Data = row["storage_state"]
        return UploadRecord(
            id: uuid, repository: try RepositoryName(parsing: repository), algorithm: algorithm,
            checkpoint: UploadCheckpoint(offset: offset, storageState: Array(storageState)), hashState: hashState.map(Array.init),
            startedAt: Date(timeIntervalSince1970: started))
    }

    public func saveUploadProgress(_ id: UUID, _ checkpoint: UploadCheckpoint, hashState: [UInt8]) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE uploads SET byte_offset = ?, storage_state = ?, hash_state = ? WHERE id = ?",
                arguments: [checkpoint.offset, Data(checkpoint.storageState), Data(hashState), id.uuidString.lowercased()])
        }
    }

    /// Never asked (not shared): one server per SQLite file, whose own set of sessions in use is the whole truth.
    public func claimUpload(_ id: UUID, holder: String, until: Date, now: Date) async throws -> Bool { true }
    public func releaseUpload(_ id: UUID, holder: String) async throws {}

    public func deleteUpload(_ id: UUID) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM uploads WHERE id = ?", arguments: [id.uuidString.lowercased()])
        }
    }

    public func finishUpload(_ id: UUID, repository: RepositoryName, digest: Digest, size: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM uploads WHERE id = ?", arguments: [id.uuidString.lowercased()])
            try Self.link(db, repository, digest, size)
        }
    }

    // MARK: helpers

    static func repositoryID(_ db: Database, _ repository: RepositoryName) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM repositories WHERE name = ?", arguments: [repository.value])
    }

    private static func ensureRepository(_ db: Database, _ repository: RepositoryName) throws -> Int64 {
        if let id = try repositoryID(db, repository) { return id }
        try db.execute(
            sql: "INSERT INTO repositories(name, created_at) VALUES (?, ?)",
            arguments: [repository.value, Date().timeIntervalSince1970])
        return db.lastInsertedRowID
    }

    private static func link(_ db: Database, _ repository: RepositoryName, _ digest: Digest, _ size: Int64) throws {
        let repo = try ensureRepository(db, repository)
        let now = Date().timeIntervalSince1970
        try db.execute(
            sql: "INSERT INTO blobs(digest, size, created_at, linked_at) VALUES (?, ?, ?, ?) ON CONFLICT(digest) DO UPDATE SET linked_at = excluded.linked_at",
            arguments: [digest.description, size, now, now])
        try db.execute(
            sql: "INSERT OR IGNORE INTO repository_blobs(repository_id, digest) VALUES (?, ?)",
            arguments: [repo, digest.description])
    }
}
