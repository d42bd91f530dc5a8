import Foundation
import Logging
import NIOCore
import OCI
import PostgresNIO

/// Metadata in PostgreSQL (`database:`), for registries whose servers share one database. The
/// same tables and semantics as `SQLiteMetadataStore` (the shared store tests run on both); names
/// compare in byte order (`COLLATE "C"`), as SQLite's do. Writers that SQLite serialises by having
/// one writer take advisory locks here: pushes and links share `gcLock`, the collector holds it
/// alone, so a collection never deletes a blob a push is referencing in the same instant.
public final class PostgresMetadataStore: MetadataStore {
    /// Statements.
    let client: PostgresClient
    /// Connections that hold a session-level advisory lock or LISTEN while their holder works
    /// through `client`: a pool of their own, so lock holders waiting for a statement connection
    /// can never have taken all of them (with one pool, 20 concurrent commits each holding the
    /// blob lock's connection left none for their own statements).
    let coordination: PostgresClient
    let logger: Logger
    /// How long a request waits for a connection (`connecttimeout`) before answering 503.
    let connectionWait: Duration
    /// `postgres://user@host:port/dbname`, for messages.
    let location: String
    private let running: Task<Void, Never>

    /// Advisory lock keys (constants, so every server agrees).
    static let migrationLock: Int64 = 0x6265_7274_6801  // "berth" + 1
    static let gcLock: Int64 = 0x6265_7274_6802
    static let blobLock: Int64 = 0x6265_7274_6803

    /// Connects (one connection first, so a database that cannot be used fails at once with the
    /// reason), with `migrating` brings the schema up to date on that connection under the
    /// migration lock (servers starting together migrate once), then starts the pools
    /// (postgres-nio warns about every lease from a pool whose `run()` has not begun).
    public init(settings: PostgresSettings, logger: Logger, migrating: Bool = true) async throws {
        let first = try await settings.connect(logger: logger)
        do {
            let db = Statements(connection: first, logger: logger)
            if migrating { _ = try await Self.inTransaction(db) { try await Self.applyMigrations($0) } } else { _ = try await Self.appliedVersions(db) }
        } catch {
            try? await first.close()
            throw error
        }
        try? await first.close()
        client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
        coordination = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
        self.logger = logger
        connectionWait = settings.connectTimeout
        location = settings.location
        let (client, coordination) = (self.client, self.coordination)
        let (starting, started) = AsyncStream<Void>.makeStream()
        running = Task {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    started.yield()
                    await client.run()
                }
                group.addTask {
                    started.yield()
                    await coordination.run()
                }
            }
        }
        // Back to the caller once both tasks are about to call run(), so a first request does
        // not lease from a pool that has not begun.
        var begun = 0
        for await _ in starting {
            begun += 1
            if begun == 2 { break }
        }
    }


    public func close() throws { running.cancel() }

    public var isShared: Bool { true }

    public func withBlobLock<T: Sendable>(exclusive: Bool, _ body: () async throws -> T) async throws -> T {
        let mode = exclusive ? "" : "_shared"
        // pg_advisory_lock waits and returns void: selected FROM it, it is one row of `true`.
        let result = try await holdingSessionLock(
            acquire: "SELECT true FROM \(unescaped: "pg_advisory_lock\(mode)")(\(Self.blobLock))",
            release: "SELECT \(unescaped: "pg_advisory_unlock\(mode)")(\(Self.blobLock))", body)
        guard let result else { throw PostgresStoreError.lockNotTaken }
        return result
    }

    public func asSoleRunner<T: Sendable>(_ job: String, _ body: () async throws -> T) async throws -> T? {
        let key = "berth job \(job)"
        return try await holdingSessionLock(
            acquire: "SELECT pg_try_advisory_lock(hashtextextended(\(key), 0))", release: "SELECT pg_advisory_unlock(hashtextextended(\(key), 0))",
            body)
    }

    /// Runs `body` holding a session-level advisory lock on one `coordination` connection,
    /// released however `body` ends; when the release itself fails (a cancelled task, a broken
    /// connection) the connection is closed, which releases the lock: a lock never outlives its
    /// holder on a pooled connection. Returns nil when `acquire` answers false (a `try` lock
    /// someone else holds).
    private func holdingSessionLock<T: Sendable>(
        acquire: PostgresQuery, release: PostgresQuery, _ body: () async throws -> T
    ) async throws -> T? {
        try await leased(coordination) { connection in
            let db = Statements(connection: connection, logger: logger)
            guard try await db.first(acquire, as: Bool.self) == true else { return nil }
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            do { try await db.run(release) } catch { try? await connection.close() }
            return try result.get()
        }
    }

    /// The channel every write notifies with the repository it changed (delivered at commit).
    static let changesChannel = "berth_changes"

    /// LISTEN on one pooled connection for as long as the stream is consumed; when the
    /// connection breaks, `.lost`, then a new connection a second later.
    public func changeFeed() -> AsyncStream<MetadataChange>? {
        let client = self.coordination
        let logger = self.logger
        return AsyncStream { continuation in
            let task = Task {
                while !Task.isCancelled {
                    do {
                        try await client.withConnection { connection in
                            try await connection.listen(on: Self.changesChannel) { notifications in
                                continuation.yield(.listening)
                                for try await notification in notifications { continuation.yield(.repository(notification.payload)) }
                            }
                        }
                    } catch {
                        if !Task.isCancelled { logger.warning("metadata change feed: \(Self.describe(error)); caching off until it is back") }
                    }
                    continuation.yield(.lost)
                    try? await Task.sleep(for: .seconds(1))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// One line for a PostgreSQL failure: the server's message and SQLSTATE, or what broke the
    /// connection (postgres-nio's own description hides both).
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return message + (error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
        }
        if let underlying = error.underlying { return "\(underlying)" }
        return "\(error.code)"
    }

    // MARK: schema

    static let migrations: [(version: Int, sql: String)] = [
        (1, """
            CREATE TABLE repositories(
                id BIGSERIAL PRIMARY KEY,
                name TEXT COLLATE "C" NOT NULL UNIQUE,
                created_at DOUBLE PRECISION NOT NULL);
            CREATE TABLE blobs(
                digest TEXT COLLATE "C" PRIMARY KEY,
                size BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                linked_at DOUBLE PRECISION NOT NULL);
            CREATE TABLE repository_blobs(
                repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                digest TEXT COLLATE "C" NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,
                PRIMARY KEY(repository_id, digest));
            CREATE INDEX repository_blobs_by_digest ON repository_blobs(digest);
            CREATE TABLE manifests(
                id BIGSERIAL PRIMARY KEY,
                repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                digest TEXT COLLATE "C" NOT NULL,
                media_type TEXT NOT NULL,
                artifact_type TEXT,
                subject TEXT COLLATE "C",
                annotations TEXT,
                payload BYTEA NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                UNIQUE(repository_id, digest));
            CREATE INDEX manifests_by_subject ON manifests(repository_id, subject, digest) WHERE subject IS NOT NULL;
            CREATE TABLE manifest_references(
                manifest_id BIGINT NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                digest TEXT COLLATE "C" NOT NULL,
                is_manifest BOOLEAN NOT NULL,
                PRIMARY KEY(manifest_id, digest));
            CREATE INDEX manifest_references_by_digest ON manifest_references(digest);
            CREATE TABLE tags(
                repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
                name TEXT COLLATE "C" NOT NULL,
                manifest_id BIGINT NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                updated_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY(repository_id, name));
            CREATE INDEX tags_by_manifest ON tags(manifest_id);
            CREATE TABLE signatures(
                manifest_id BIGINT NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
                name TEXT COLLATE "C" NOT NULL,
                content BYTEA NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY(manifest_id, name));
            CREATE TABLE uploads(
                id UUID PRIMARY KEY,
                repository TEXT NOT NULL,
                algorithm TEXT NOT NULL,
                byte_offset BIGINT NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                hash_state BYTEA,
                storage_state BYTEA NOT NULL);
            CREATE INDEX uploads_by_start ON uploads(started_at);
            CREATE TABLE notifications(
                id BIGSERIAL PRIMARY KEY,
                endpoint TEXT NOT NULL,
                event BYTEA NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt DOUBLE PRECISION NOT NULL);
            CREATE INDEX notifications_due ON notifications(endpoint, next_attempt);
            """),
        // Which server's request is writing an upload, and until when unless renewed: a PATCH
        // for a session another replica is still writing is refused (a crashed holder's mark runs out).
        (2, """
            ALTER TABLE uploads ADD COLUMN busy_by TEXT;
            ALTER TABLE uploads ADD COLUMN busy_until DOUBLE PRECISION;
            """),
        // When a manifest was last pulled: a pull-through cache evicts the least recently used.
        (3, "ALTER TABLE manifests ADD COLUMN pulled_at DOUBLE PRECISION NOT NULL DEFAULT 0;"),
        // The web interface's sessions, so a visitor stays signed in whichever replica answers.
        (4, OverviewSQL.sessionsTable),
    ]

    /// Applies the migrations not applied yet, in one transaction holding the migration lock.
    /// Returns the versions applied.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await write(bounded: false) { db in try await Self.applyMigrations(db) }
    }

    /// Every migration and whether it is applied.
    public func migrationStatus() async throws -> [(version: Int, applied: Bool)] {
        let applied = try await read(bounded: false) { db in try await Self.appliedVersions(db) }
        return Self.migrations.map { ($0.version, applied.contains($0.version)) }
    }

    /// The migrations not applied yet, applied under the migration lock (`db` is in a transaction).
    private static func applyMigrations(_ db: Statements) async throws -> [Int] {
        try await db.run("SELECT pg_advisory_xact_lock(\(migrationLock))")
        try await db.run("CREATE TABLE IF NOT EXISTS berth_schema_migrations(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        let applied = Set(try await db.all("SELECT version FROM berth_schema_migrations", as: Int.self))
        var done: [Int] = []
        for migration in migrations where !applied.contains(migration.version) {
            // One statement per query: the extended protocol takes no more.
            for statement in migration.sql.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) where !statement.isEmpty {
                try await db.run(PostgresQuery(unsafeSQL: statement))
            }
            try await db.run("INSERT INTO berth_schema_migrations(version) VALUES (\(migration.version))")
            done.append(migration.version)
        }
        return done
    }

    /// The versions applied; read only (a database no server has migrated yet has no table of them).
    private static func appliedVersions(_ db: Statements) async throws -> Set<Int> {
        guard try await db.first("SELECT to_regclass('berth_schema_migrations') IS NOT NULL", as: Bool.self) == true else { return [] }
        return Set(try await db.all("SELECT version FROM berth_schema_migrations", as: Int.self))
    }

    // MARK: units of work

    /// `bounded`: wait at most `connecttimeout` for a connection (else as long as it takes).
    func read<T: Sendable>(bounded: Bool = true, _ body: (Statements) async throws -> T) async throws -> T {
        try await leased(client, bounded: bounded) { connection in try await body(Statements(connection: connection, logger: logger)) }
    }

    /// `body` in a transaction: committed when it returns, rolled back when it throws (its own
    /// error thrown, a `RegistryError` say). BEGIN and COMMIT go through `Statements` rather than
    /// postgres-nio's `withTransaction` so that they too refuse a connection already closed.
    func write<T: Sendable>(bounded: Bool = true, _ body: (Statements) async throws -> T) async throws -> T {
        try await leased(client, bounded: bounded) { connection in
            try await Self.inTransaction(Statements(connection: connection, logger: logger), body)
        }
    }

    /// `body` between BEGIN and COMMIT on `db`'s connection; ROLLBACK when it throws.
    private static func inTransaction<T: Sendable>(_ db: Statements, _ body: (Statements) async throws -> T) async throws -> T {
        try await db.run("BEGIN")
        do {
            let result = try await body(db)
            try await db.run("COMMIT")
            return result
        } catch {
            // On a broken connection the server has rolled back already.
            if !db.connection.isClosed { try? await db.run("ROLLBACK") }
            throw error
        }
    }

    /// A connection of `pool` within `connecttimeout`, or 503.
    private func leased<T: Sendable>(
        _ pool: PostgresClient, bounded: Bool = true, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        guard bounded else { return try await pool.withConnection(body) }
        let (limit, location) = (connectionWait, self.location)
        return try await pool.withConnection(
            within: limit, unavailable: { StorageUnavailable("database \(location): no connection within \(limit) (is PostgreSQL up?)") }, body)
    }

    // MARK: repositories and blobs

    public func repositoryExists(_ repository: RepositoryName) async throws -> Bool {
        try await read { db in try await Self.repositoryID(db, repository) != nil }
    }

    public func linkedBlobSize(_ repository: RepositoryName, _ digest: Digest) async throws -> Int64? {
        try await read { db in
            try await db.first(
                """
                SELECT b.size FROM blobs b JOIN repository_blobs rb ON rb.digest = b.digest
                JOIN repositories r ON r.id = rb.repository_id WHERE r.name = \(repository.value) AND b.digest = \(digest.description)
                """, as: Int64.self)
        }
    }

    public func anyRepositoryHolding(_ digest: Digest, excluding: RepositoryName) async throws -> RepositoryName? {
        let name = try await read { db in
            try await db.first(
                """
                SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                WHERE rb.digest = \(digest.description) AND r.name != \(excluding.value) LIMIT 1
                """, as: String.self)
        }
        return try name.map { try RepositoryName(parsing: $0) }
    }

    public func linkBlob(_ repository: RepositoryName, _ digest: Digest, size: Int64) async throws {
        try await write { db in try await Self.link(db, repository, digest, size) }
    }

    public func unlinkBlob(_ repository: RepositoryName, _ digest: Digest) async throws -> Bool {
        try await write { db in
            guard let repo = try await Self.repositoryID(db, repository) else { return false }
            try await db.notify(repository.value)
            return try await db.first(
                "DELETE FROM repository_blobs WHERE repository_id = \(repo) AND digest = \(digest.description) RETURNING 1", as: Int.self) != nil
        }
    }

    // MARK: manifests and tags

    public func manifest(_ repository: RepositoryName, _ reference: ManifestReference) async throws -> StoredManifest? {
        let found = try await read { db -> (String, String, ByteBuffer)? in
            switch reference {
            case .digest(let digest):
                return try await db.first(
                    """
                    SELECT m.digest, m.media_type, m.payload FROM manifests m JOIN repositories r ON r.id = m.repository_id
                    WHERE r.name = \(repository.value) AND m.digest = \(digest.description)
                    """, as: (String, String, ByteBuffer).self)
            case .tag(let tag):
                return try await db.first(
                    """
                    SELECT m.digest, m.media_type, m.payload FROM tags t JOIN repositories r ON r.id = t.repository_id
                    JOIN manifests m ON m.id = t.manifest_id WHERE r.name = \(repository.value) AND t.name = \(tag.value)
                    """, as: (String, String, ByteBuffer).self)
            }
        }
        guard let (digest, mediaType, payload) = found else { return nil }
        return StoredManifest(digest: try Digest(parsing: digest), mediaType: mediaType, payload: Array(buffer: payload))
    }

    public func putManifest(_ repository: RepositoryName, _ record: ManifestRecord, tags: [Tag]) async throws {
        try await write { db in
            try await db.run("SELECT pg_advisory_xact_lock_shared(\(Self.gcLock))")
            let repo = try await Self.ensureRepository(db, repository)
            try await db.notify(repository.value)
            for digest in record.requiredBlobs where record.checkReferences {
                let visible = try await db.first(
                    "SELECT 1 FROM repository_blobs WHERE repository_id = \(repo) AND digest = \(digest.description)", as: Int.self)
                if visible == nil { throw RegistryError.manifestBlobUnknown(digest) }
            }
            for digest in record.requiredManifests where record.checkReferences {
                let present = try await db.first(
                    "SELECT 1 FROM manifests WHERE repository_id = \(repo) AND digest = \(digest.description)", as: Int.self)
                if present == nil { throw RegistryError.manifestBlobUnknown(digest) }
            }
            let now = Date().timeIntervalSince1970
            var annotations: String?
            if let values = record.summary.annotations, !values.isEmpty {
                annotations = String(decoding: try JSONEncoder().encode(values), as: UTF8.self)
            }
            let manifestID = try await db.first(
                """
                INSERT INTO manifests(repository_id, digest, media_type, artifact_type, subject, annotations, payload, created_at)
                VALUES (\(repo), \(record.digest.description), \(record.summary.mediaType), \(record.summary.effectiveArtifactType),
                        \(record.summary.subject?.digest.description), \(annotations), \(ByteBuffer(bytes: record.payload)), \(now))
                ON CONFLICT(repository_id, digest) DO UPDATE SET created_at = excluded.created_at
                RETURNING id
                """, as: Int64.self)
            guard let manifestID else { throw PostgresStoreError.noRow("INSERT INTO manifests … RETURNING id") }
            for (digests, isManifest) in [(record.requiredBlobs, false), (record.requiredManifests, true)] {
                for digest in digests {
                    try await db.run(
                        """
                        INSERT INTO manifest_references(manifest_id, digest, is_manifest) VALUES (\(manifestID), \(digest.description), \(isManifest))
                        ON CONFLICT DO NOTHING
                        """)
                }
            }
            for tag in tags {
                try await db.run(
                    """
                    INSERT INTO tags(repository_id, name, manifest_id, updated_at) VALUES (\(repo), \(tag.value), \(manifestID), \(now))
                    ON CONFLICT(repository_id, name) DO UPDATE SET manifest_id = excluded.manifest_id, updated_at = excluded.updated_at
                    """)
            }
        }
    }

    public func deleteManifest(_ repository: RepositoryName, _ digest: Digest) async throws -> Bool {
        try await write { db in
            guard let repo = try await Self.repositoryID(db, repository) else { return false }
            try await db.notify(repository.value)
            // Tags, references and signatures go with it through ON DELETE CASCADE.
            return try await db.first(
                "DELETE FROM manifests WHERE repository_id = \(repo) AND digest = \(digest.description) RETURNING 1", as: Int.self) != nil
        }
    }

    public func deleteTag(_ repository: RepositoryName, _ tag: Tag) async throws -> Bool {
        try await write { db in
            guard let repo = try await Self.repositoryID(db, repository) else { return false }
            try await db.notify(repository.value)
            return try await db.first("DELETE FROM tags WHERE repository_id = \(repo) AND name = \(tag.value) RETURNING 1", as: Int.self) != nil
        }
    }

    public func signatures(_ repository: RepositoryName, _ digest: Digest) async throws -> [StoredSignature]? {
        try await read { db in
            guard let manifestID = try await Self.manifestID(db, repository, digest) else { return nil }
            return try await db.all(
                "SELECT name, content FROM signatures WHERE manifest_id = \(manifestID) ORDER BY created_at, name", as: (String, ByteBuffer).self
            ).map { StoredSignature(name: $0.0, content: Array(buffer: $0.1)) }
        }
    }

    public func addSignature(_ repository: RepositoryName, _ digest: Digest, _ signature: StoredSignature) async throws -> Bool {
        try await write { db in
            guard let manifestID = try await Self.manifestID(db, repository, digest) else { return false }
            try await db.run(
                """
                INSERT INTO signatures(manifest_id, name, content, created_at)
                VALUES (\(manifestID), \(signature.name), \(ByteBuffer(bytes: signature.content)), \(Date().timeIntervalSince1970))
                ON CONFLICT DO NOTHING
                """)
            return true
        }
    }

    public func tags(_ repository: RepositoryName, after last: String?, limit: Int?) async throws -> Page<String>? {
        try await read { db in
            guard let repo = try await Self.repositoryID(db, repository) else { return nil }
            let names = try await db.all(
                """
                SELECT name FROM tags WHERE repository_id = \(repo) AND name > \(last ?? "") ORDER BY name
                LIMIT \(limit.map { Int64($0) + 1 })
                """, as: String.self)
            return Page(prefixOf: names, limit: limit)
        }
    }

    public func repositories(after last: String?, limit: Int) async throws -> Page<String> {
        try await read { db in
            let names = try await db.all(
                "SELECT name FROM repositories WHERE name > \(last ?? "") ORDER BY name LIMIT \(Int64(limit) + 1)", as: String.self)
            return Page(prefixOf: names, limit: limit)
        }
    }

    public func referrers(
        _ repository: RepositoryName, subject: Digest, artifactType: String?, after last: String?, limit: Int
    ) async throws -> Page<Descriptor> {
        let rows = try await read { db in
            try await db.all(
                """
                SELECT m.digest, m.media_type, m.artifact_type, m.annotations, octet_length(m.payload)::BIGINT FROM manifests m
                JOIN repositories r ON r.id = m.repository_id
                WHERE r.name = \(repository.value) AND m.subject = \(subject.description) AND m.digest > \(last ?? "")
                  AND (\(artifactType)::TEXT IS NULL OR m.artifact_type = \(artifactType))
                ORDER BY m.digest LIMIT \(Int64(limit) + 1)
                """, as: (String, String, String?, String?, Int64).self)
        }
        let descriptors = try rows.prefix(limit).map { row in
            Descriptor(
                mediaType: row.1, digest: try Digest(parsing: row.0), size: row.4,
                annotations: try row.3.map { try JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }, artifactType: row.2)
        }
        return Page(items: descriptors, hasMore: rows.count > limit)
    }

    // MARK: overview (a browsing interface's listings)

    public func repositorySummaries() async throws -> [RepositorySummary] {
        typealias Columns = (String, Int64, Double?, Int64, Int32, Int32, Int32)
        let rows: [Columns] = try await read { db in
            try await db.all(PostgresQuery(unsafeSQL: OverviewSQL.repositorySummaries), as: Columns.self)
        }
        return rows.map { (row: Columns) -> RepositorySummary in
            let lastPush: Date? = row.2.map { Date(timeIntervalSince1970: $0) }
            return RepositorySummary(
                name: row.0, tagCount: Int(row.1), lastPush: lastPush, bytes: row.3, multiPlatform: row.4 == 1, signed: row.5 == 1, hasSBOM: row.6 == 1)
        }
    }

    public func tagDetails(_ repository: RepositoryName) async throws -> [TagDetail]? {
        let rows = try await read { db -> [(String, String, String, ByteBuffer, Double)]? in
            guard let repo = try await Self.repositoryID(db, repository) else { return nil }
            return try await db.all(
                """
                SELECT t.name, m.digest, m.media_type, m.payload, t.updated_at FROM tags t
                JOIN manifests m ON m.id = t.manifest_id WHERE t.repository_id = \(repo) ORDER BY t.name
                """, as: (String, String, String, ByteBuffer, Double).self)
        }
        return try rows?.map { row in
            TagDetail(
                name: row.0, digest: try Digest(parsing: row.1), mediaType: row.2, payload: Array(buffer: row.3),
                pushedAt: Date(timeIntervalSince1970: row.4))
        }
    }

    public func search(_ term: String, digestPrefix: String?, limit: Int) async throws -> [SearchHit] {
        let count = Int64(limit)
        let (tags, digests, annotated) = try await read { db in
            let tags = try await db.all(
                """
                SELECT r.name, t.name, m.digest FROM tags t JOIN repositories r ON r.id = t.repository_id JOIN manifests m ON m.id = t.manifest_id
                WHERE strpos(t.name, \(term)) > 0 ORDER BY r.name, t.name LIMIT \(count)
                """, as: (String, String, String).self)
            let digests = digestPrefix == nil ? [] : try await db.all(
                """
                SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
                WHERE m.digest LIKE \((digestPrefix ?? "") + "%") ORDER BY r.name, m.digest LIMIT \(count)
                """, as: (String, String).self)
            let annotated = try await db.all(
                """
                SELECT r.name, m.digest, m.annotations FROM manifests m JOIN repositories r ON r.id = m.repository_id
                WHERE m.annotations IS NOT NULL AND strpos(lower(m.annotations), lower(\(term))) > 0 ORDER BY r.name, m.digest LIMIT \(count)
                """, as: (String, String, String).self)
            return (tags, digests, annotated)
        }
        return try tags.map { SearchHit(repository: $0.0, tag: $0.1, digest: try Digest(parsing: $0.2), match: .tag, annotations: nil) }
            + digests.map { SearchHit(repository: $0.0, tag: nil, digest: try Digest(parsing: $0.1), match: .digest, annotations: nil) }
            + annotated.map { SearchHit(repository: $0.0, tag: nil, digest: try Digest(parsing: $0.1), match: .annotation, annotations: $0.2) }
    }

    public func notificationBacklog() async throws -> [NotificationBacklog] {
        typealias Columns = (String, Int64, Int64, Int64, Double?)
        let rows: [Columns] = try await read { db in
            try await db.all(PostgresQuery(unsafeSQL: OverviewSQL.notificationBacklog), as: Columns.self)
        }
        return rows.map { (row: Columns) -> NotificationBacklog in
            let oldest: Date? = row.4.map { Date(timeIntervalSince1970: $0) }
            return NotificationBacklog(endpoint: row.0, queued: Int(row.1), failing: Int(row.2), maxAttempts: Int(row.3), oldestNextAttempt: oldest)
        }
    }

    public func createSession(_ session: StoredSession, expiredBefore: Date, startedBefore: Date) async throws {
        try await write { db in
            try await db.run(
                "DELETE FROM ui_sessions WHERE last_seen < \(expiredBefore.timeIntervalSince1970) OR created_at < \(startedBefore.timeIntervalSince1970)")
            try await db.run(
                """
                INSERT INTO ui_sessions(key, user_name, csrf, created_at, last_seen)
                VALUES (\(session.key), \(session.user), \(session.csrf), \(session.created.timeIntervalSince1970), \(session.lastSeen.timeIntervalSince1970))
                """)
        }
    }

    public func session(_ key: String, now: Date, expiredBefore: Date, startedBefore: Date, touchAfter: Date) async throws -> StoredSession? {
        let row = try await read { db in
            try await db.all("SELECT user_name, csrf, created_at, last_seen FROM ui_sessions WHERE key = \(key)", as: (String?, String, Double, Double).self).first
        }
        guard let row else { return nil }
        let found = StoredSession(
            key: key, user: row.0, csrf: row.1, created: Date(timeIntervalSince1970: row.2), lastSeen: Date(timeIntervalSince1970: row.3))
        if found.lastSeen < expiredBefore || found.created < startedBefore {
            try await deleteSession(key)
            return nil
        }
        if found.lastSeen < touchAfter {
            try await write { db in try await db.run("UPDATE ui_sessions SET last_seen = \(now.timeIntervalSince1970) WHERE key = \(key)") }
        }
        return found
    }

    public func deleteSession(_ key: String) async throws {
        try await write { db in try await db.run("DELETE FROM ui_sessions WHERE key = \(key)") }
    }

    public func referrerTypes(_ repository: RepositoryName) async throws -> [(subject: String, artifactType: String?)] {
        let rows = try await read { db -> [(String, String?)] in
            guard let repo = try await Self.repositoryID(db, repository) else { return [] }
            return try await db.all(
                "SELECT subject, artifact_type FROM manifests WHERE repository_id = \(repo) AND subject IS NOT NULL", as: (String, String?).self)
        }
        return rows.map { (subject: $0.0, artifactType: $0.1) }
    }

    // MARK: notifications

    public func enqueueNotifications(_ events: [QueuedNotification]) async throws {
        guard !events.isEmpty else { return }
        try await write { db in
            for event in events {
                try await db.run(
                    """
                    INSERT INTO notifications(endpoint, event, next_attempt)
                    VALUES (\(event.endpoint), \(ByteBuffer(bytes: event.event)), \(Date().timeIntervalSince1970))
                    """)
            }
        }
    }

    public func dueNotifications(endpoint: String, now: Date, limit: Int) async throws -> [QueuedNotification] {
        try await read { db in
            try await db.all(
                """
                SELECT id, event, attempts FROM notifications WHERE endpoint = \(endpoint) AND next_attempt <= \(now.timeIntervalSince1970)
                ORDER BY id LIMIT \(Int64(limit))
                """, as: (Int64, ByteBuffer, Int).self
            ).map { QueuedNotification(id: $0.0, endpoint: endpoint, event: Array(buffer: $0.1), attempts: $0.2) }
        }
    }

    public func finishNotifications(_ ids: [Int64], retryAt: Date?) async throws {
        guard !ids.isEmpty else { return }
        try await write { db in
            for id in ids {
                if let retryAt {
                    try await db.run(
                        "UPDATE notifications SET attempts = attempts + 1, next_attempt = \(retryAt.timeIntervalSince1970) WHERE id = \(id)")
                } else {
                    try await db.run("DELETE FROM notifications WHERE id = \(id)")
                }
            }
        }
    }

    // MARK: garbage collection

    /// A dry run does the same work in a transaction it then rolls back.
    public func collectGarbage(before cutoff: Date, untaggedManifests: Bool, dryRun: Bool) async throws -> GarbageReport {
        do {
            return try await write { db in
                try await db.run("SELECT pg_advisory_xact_lock(\(Self.gcLock))")
                let report = try await Self.collect(db, before: cutoff.timeIntervalSince1970, untaggedManifests: untaggedManifests)
                if dryRun { throw DryRun(report: report) }
                for repository in report.repositories { try await db.notify(repository) }
                return report
            }
        } catch let dry as DryRun {
            return dry.report
        }
    }

    private struct DryRun: Error {
        let report: GarbageReport
    }

    private static func collect(_ db: Statements, before time: Double, untaggedManifests: Bool) async throws -> GarbageReport {
        var manifests = 0
        var repositories: Set<String> = []
        // Untagged, unreferenced manifests; an index going frees its children for the next round.
        for _ in 0..<64 where untaggedManifests {
            let rows = try await db.all(
                """
                DELETE FROM manifests m USING repositories r
                WHERE r.id = m.repository_id AND m.created_at < \(time)
                  AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
                  AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN manifests p ON p.id = mr.manifest_id
                                  WHERE mr.digest = m.digest AND mr.is_manifest AND p.repository_id = m.repository_id)
                  AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s
                                                        WHERE s.repository_id = m.repository_id AND s.digest = m.subject))
                RETURNING r.name
                """, as: String.self)
            guard !rows.isEmpty else { break }
            repositories.formUnion(rows)
            manifests += rows.count
        }
        let candidates = try await db.all(
            """
            SELECT b.digest, b.size FROM blobs b
            WHERE GREATEST(b.created_at, b.linked_at) < \(time)
              AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.digest = b.digest AND NOT mr.is_manifest)
            """, as: (String, Int64).self)
        var blobs: [StorageBlob] = []
        for (digest, size) in candidates {
            repositories.formUnion(
                try await db.all(
                    "SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id WHERE rb.digest = \(digest)",
                    as: String.self))
            try await db.run("DELETE FROM blobs WHERE digest = \(digest)")
            if let parsed = try? Digest(parsing: digest) { blobs.append(StorageBlob(digest: parsed, size: size)) }
        }
        return GarbageReport(manifests: manifests, blobs: blobs, repositories: repositories.sorted())
    }

    // MARK: uploads

    public func createUpload(_ upload: UploadRecord) async throws {
        try await write { db in
            try await db.run(
                """
                INSERT INTO uploads(id, repository, algorithm, byte_offset, started_at, hash_state, storage_state)
                VALUES (\(upload.id), \(upload.repository.value), \(upload.algorithm.rawValue), \(upload.offset),
                        \(upload.startedAt.timeIntervalSince1970), \(upload.hashState.map { ByteBuffer(bytes: $0) }),
                        \(ByteBuffer(bytes: upload.checkpoint.storageState)))
                """)
        }
    }

    static let uploadColumns = "id, repository, algorithm, byte_offset, started_at, hash_state, storage_state"
    typealias UploadRow = (UUID, String, String, Int64, Double, ByteBuffer?, ByteBuffer)

    public func upload(_ id: UUID) async throws -> UploadRecord? {
        try await read { db in
            try await db.first("SELECT \(unescaped: Self.uploadColumns) FROM uploads WHERE id = \(id)", as: UploadRow.self)
        }.flatMap(Self.uploadRecord)
    }

    public func uploads(startedBefore date: Date) async throws -> [UploadRecord] {
        try await read { db in
            try await db.all(
                "SELECT \(unescaped: Self.uploadColumns) FROM uploads WHERE started_at < \(date.timeIntervalSince1970) ORDER BY started_at",
                as: UploadRow.self)
        }.compactMap(Self.uploadRecord)
    }

    private static func uploadRecord(_ row: UploadRow) -> UploadRecord? {
        guard let algorithm = Digest.Algorithm(rawValue: row.2), let repository = try? RepositoryName(parsing: row.1) else { return nil }
        return UploadRecord(
            id: row.0, repository: repository, algorithm: algorithm,
            checkpoint: UploadCheckpoint(offset: row.3, storageState: Array(buffer: row.6)), hashState: row.5.map { Array(buffer: $0) },
            startedAt: Date(timeIntervalSince1970: row.4))
    }

    public func saveUploadProgress(_ id: UUID, _ checkpoint: UploadCheckpoint, hashState: [UInt8]) async throws {
        try await write { db in
            try await db.run(
                """
                UPDATE uploads SET byte_offset = \(checkpoint.offset), storage_state = \(ByteBuffer(bytes: checkpoint.storageState)),
                hash_state = \(ByteBuffer(bytes: hashState)) WHERE id = \(id)
                """)
        }
    }

    public func claimUpload(_ id: UUID, holder: String, until: Date, now: Date) async throws -> Bool {
        try await read { db in
            let claimed = try await db.first(
                """
                UPDATE uploads SET busy_by = \(holder), busy_until = \(until.timeIntervalSince1970)
                WHERE id = \(id) AND (busy_until IS NULL OR busy_until < \(now.timeIntervalSince1970) OR busy_by = \(holder)) RETURNING true
                """, as: Bool.self)
            if claimed == true { return true }
            return try await db.first("SELECT true FROM uploads WHERE id = \(id)", as: Bool.self) == nil
        }
    }

    public func releaseUpload(_ id: UUID, holder: String) async throws {
        try await read { db in try await db.run("UPDATE uploads SET busy_until = NULL WHERE id = \(id) AND busy_by = \(holder)") }
    }

    public func deleteUpload(_ id: UUID) async throws {
        try await write { db in try await db.run("DELETE FROM uploads WHERE id = \(id)") }
    }

    public func finishUpload(_ id: UUID, repository: RepositoryName, digest: Digest, size: Int64) async throws {
        try await write { db in
            try await db.run("DELETE FROM uploads WHERE id = \(id)")
            try await Self.link(db, repository, digest, size)
        }
    }

    public func allBlobs() async throws -> [StorageBlob] {
        try await read { db in
            try await db.all("SELECT digest, size FROM blobs ORDER BY digest", as: (String, Int64).self)
        }.compactMap { row in (try? Digest(parsing: row.0)).map { StorageBlob(digest: $0, size: row.1) } }
    }

    /// PostgreSQL checks its own pages and keys (a crash is recovered from its WAL at startup).
    public func integrityProblems() async throws -> [String] { [] }

    public func inventory(_ repository: RepositoryName) async throws -> RepositoryInventory? {
        try await read { db -> RepositoryInventory? in
            guard let repo = try await Self.repositoryID(db, repository) else { return nil }
            let blobs = try await db.all(
                "SELECT b.digest, b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repository_id = \(repo) ORDER BY b.digest",
                as: (String, Int64).self)
            let manifests = try await db.all("SELECT digest FROM manifests WHERE repository_id = \(repo) ORDER BY id", as: String.self)
            let tags = try await db.all(
                "SELECT t.name, m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id WHERE t.repository_id = \(repo)", as: (String, String).self)
            return RepositoryInventory(
                blobs: blobs.compactMap { row in (try? Digest(parsing: row.0)).map { StorageBlob(digest: $0, size: row.1) } },
                manifests: manifests.compactMap { try? Digest(parsing: $0) },
                tags: Dictionary(uniqueKeysWithValues: tags.compactMap { row in (try? Digest(parsing: row.1)).map { (row.0, $0) } }))
        }
    }

    public func statistics() async throws -> StorageStatistics {
        try await read { db in
            let totals: (Int64, Int64)? = try await db.first("SELECT COUNT(*), COALESCE(SUM(size), 0)::BIGINT FROM blobs", as: (Int64, Int64).self)
            let (count, bytes) = totals ?? (0, 0)
            let uploads = try await db.first("SELECT COUNT(*) FROM uploads", as: Int64.self) ?? 0
            return StorageStatistics(blobs: Int(count), bytes: bytes, uploads: Int(uploads))
        }
    }

    // MARK: helpers

    static func repositoryID(_ db: Statements, _ repository: RepositoryName) async throws -> Int64? {
        try await db.first("SELECT id FROM repositories WHERE name = \(repository.value)", as: Int64.self)
    }

    private static func manifestID(_ db: Statements, _ repository: RepositoryName, _ digest: Digest) async throws -> Int64? {
        try await db.first(
            """
            SELECT m.id FROM manifests m JOIN repositories r ON r.id = m.repository_id
            WHERE r.name = \(repository.value) AND m.digest = \(digest.description)
            """, as: Int64.self)
    }

    private static func ensureRepository(_ db: Statements, _ repository: RepositoryName) async throws -> Int64 {
        if let id = try await repositoryID(db, repository) { return id }
        // Concurrent first pushes to one repository: DO UPDATE waits for the other insert and
        // returns its row (DO NOTHING would return nothing, and a SELECT in the same statement
        // does not see a row committed after the statement began).
        guard
            let id = try await db.first(
                """
                INSERT INTO repositories(name, created_at) VALUES (\(repository.value), \(Date().timeIntervalSince1970))
                ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id
                """, as: Int64.self)
        else { throw PostgresStoreError.noRow("INSERT INTO repositories … RETURNING id") }
        return id
    }

    private static func link(_ db: Statements, _ repository: RepositoryName, _ digest: Digest, _ size: Int64) async throws {
        try await db.run("SELECT pg_advisory_xact_lock_shared(\(gcLock))")
        let repo = try await ensureRepository(db, repository)
        try await db.notify(repository.value)
        let now = Date().timeIntervalSince1970
        try await db.run(
            """
            INSERT INTO blobs(digest, size, created_at, linked_at) VALUES (\(digest.description), \(size), \(now), \(now))
            ON CONFLICT(digest) DO UPDATE SET linked_at = excluded.linked_at
            """)
        try await db.run(
            "INSERT INTO repository_blobs(repository_id, digest) VALUES (\(repo), \(digest.description)) ON CONFLICT DO NOTHING")
    }
}

/// Statements on one leased connection (inside a transaction for writes).
struct Statements {
    let connection: PostgresConnection
    let logger: Logger

    /// Runs a statement and reads its result to the end (the connection is then free for the next).
    func run(_ query: PostgresQuery) async throws {
        for try await _ in try await rows(query) {}
    }

    /// Tells every server listening that `repository` changed, when this transaction commits.
    func notify(_ repository: String) async throws {
        try await run("SELECT pg_notify(\(PostgresMetadataStore.changesChannel), \(repository))")
    }

    func rows(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        // postgres-nio drops a query written to a channel that has closed (the server went away
        // mid-transaction, say) and its caller then waits forever: refuse it here instead.
        guard !connection.isClosed else { throw StorageUnavailable("database: the connection closed (PostgreSQL restarting?)") }
        return try await connection.query(query, logger: logger)
    }

    /// Rows of several columns, decoded as a tuple.
    func all<each Column: PostgresDecodable & Sendable>(_ query: PostgresQuery, as: (repeat each Column).Type) async throws
        -> [(repeat each Column)]
    {
        var result: [(repeat each Column)] = []
        for try await row in try await rows(query).decode((repeat each Column).self) { result.append(row) }
        return result
    }

    func first<each Column: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: (repeat each Column).Type) async throws
        -> (repeat each Column)?
    {
        try await all(query, as: type).first
    }

    /// The values of a one-column result.
    func all<Value: PostgresDecodable & Sendable>(_ query: PostgresQuery, as: Value.Type) async throws -> [Value] {
        var values: [Value] = []
        for try await value in try await rows(query).decode(Value.self) { values.append(value) }
        return values
    }

    func first<Value: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: Value.Type) async throws -> Value? {
        try await all(query, as: type).first
    }
}

/// What PostgreSQL should always answer and did not.
enum PostgresStoreError: Error, CustomStringConvertible {
    case noRow(String)
    case lockNotTaken

    var description: String {
        switch self {
        case .noRow(let statement): "PostgreSQL returned no row for \(statement)"
        case .lockNotTaken: "the blob lock could not be taken"
        }
    }
}
