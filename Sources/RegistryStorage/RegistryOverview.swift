import Foundation
import OCI

/// What a browsing interface lists, each in one query: repositories with their totals, and a
/// repository's tags with the manifest each names (so a page of 1,000 tags is not 1 + N reads).

/// A repository with what the list of repositories shows about it.
public struct RepositorySummary: Sendable, Equatable {
    public let name: String
    public let tagCount: Int
    /// When a tag of it was last pushed; nil when it has no tags.
    public let lastPush: Date?
    /// Bytes of the distinct blobs visible in it (compressed, as stored).
    public let bytes: Int64
    /// A tag names an index (several platforms).
    public let multiPlatform: Bool
    /// A signature is attached: a cosign `.sig` tag, a signature referrer or an extension-API one.
    public let signed: Bool
    /// An SBOM is attached: a cosign `.sbom` tag or an SBOM referrer.
    public let hasSBOM: Bool

    public init(name: String, tagCount: Int, lastPush: Date?, bytes: Int64, multiPlatform: Bool, signed: Bool, hasSBOM: Bool) {
        self.name = name
        self.tagCount = tagCount
        self.lastPush = lastPush
        self.bytes = bytes
        self.multiPlatform = multiPlatform
        self.signed = signed
        self.hasSBOM = hasSBOM
    }
}

/// A tag and the manifest it names.
public struct TagDetail: Sendable, Equatable {
    public let name: String
    public let digest: Digest
    public let mediaType: String
    public let payload: [UInt8]
    /// When the tag was last pointed at its manifest.
    public let pushedAt: Date

    public init(name: String, digest: Digest, mediaType: String, payload: [UInt8], pushedAt: Date) {
        self.name = name
        self.digest = digest
        self.mediaType = mediaType
        self.payload = payload
        self.pushedAt = pushedAt
    }
}

/// A search result: a tag whose name matched, a manifest whose digest starts with the term,
/// or a manifest whose annotations mention it.
public struct SearchHit: Sendable, Equatable {
    public enum Match: String, Sendable { case tag, digest, annotation }
    public let repository: String
    public let tag: String?
    public let digest: Digest
    public let match: Match
    /// The manifest's annotations (JSON), for an annotation match.
    public let annotations: String?

    public init(repository: String, tag: String?, digest: Digest, match: Match, annotations: String?) {
        self.repository = repository
        self.tag = tag
        self.digest = digest
        self.match = match
        self.annotations = annotations
    }
}

/// Webhook events waiting for one endpoint.
public struct NotificationBacklog: Sendable, Equatable {
    public let endpoint: String
    public let queued: Int
    /// Events whose delivery failed at least once (they are retried with backoff).
    public let failing: Int
    public let maxAttempts: Int
    public let oldestNextAttempt: Date?

    public init(endpoint: String, queued: Int, failing: Int, maxAttempts: Int, oldestNextAttempt: Date?) {
        self.endpoint = endpoint
        self.queued = queued
        self.failing = failing
        self.maxAttempts = maxAttempts
        self.oldestNextAttempt = oldestNextAttempt
    }
}

/// A web-interface session as the metadata store keeps it, so every server sharing the store
/// knows it. `key` is the SHA-256 of the cookie's value: the database never holds a usable one.
public struct StoredSession: Sendable, Equatable {
    public let key: String
    public let user: String?
    public let csrf: String
    public let created: Date
    public let lastSeen: Date

    public init(key: String, user: String?, csrf: String, created: Date, lastSeen: Date) {
        self.key = key
        self.user = user
        self.csrf = csrf
        self.created = created
        self.lastSeen = lastSeen
    }
}

/// The SQL both metadata stores share for the overview (signature and SBOM flags by
/// `ArtifactKind`'s types, indexes by `MediaType.indexTypes`).
enum OverviewSQL {
    private static func list(_ values: Set<String>) -> String { values.sorted().map { "'\($0)'" }.joined(separator: ", ") }

    /// One row per repository: name, tag count, last push, bytes, and the three flags as 0/1.
    static let repositorySummaries = """
        SELECT r.name,
          CAST((SELECT count(*) FROM tags t WHERE t.repository_id = r.id) AS BIGINT),
          (SELECT max(t.updated_at) FROM tags t WHERE t.repository_id = r.id),
          CAST((SELECT coalesce(sum(b.size), 0) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repository_id = r.id) AS BIGINT),
          CASE WHEN EXISTS(SELECT 1 FROM tags t JOIN manifests m ON m.id = t.manifest_id
                           WHERE t.repository_id = r.id AND m.media_type IN (\(list(MediaType.indexTypes)))) THEN 1 ELSE 0 END,
          CASE WHEN EXISTS(SELECT 1 FROM tags t WHERE t.repository_id = r.id AND t.name LIKE 'sha256-%.sig')
                 OR EXISTS(SELECT 1 FROM manifests m WHERE m.repository_id = r.id AND m.subject IS NOT NULL
                           AND m.artifact_type IN (\(list(ArtifactKind.signatureTypes))))
                 OR EXISTS(SELECT 1 FROM signatures s JOIN manifests m ON m.id = s.manifest_id WHERE m.repository_id = r.id) THEN 1 ELSE 0 END,
          CASE WHEN EXISTS(SELECT 1 FROM tags t WHERE t.repository_id = r.id AND t.name LIKE 'sha256-%.sbom')
                 OR EXISTS(SELECT 1 FROM manifests m WHERE m.repository_id = r.id AND m.subject IS NOT NULL
                           AND m.artifact_type IN (\(list(ArtifactKind.sbomTypes)))) THEN 1 ELSE 0 END
        FROM repositories r ORDER BY r.name
        """

    /// Portable to both stores: text, and seconds since 1970 as double precision.
    static let sessionsTable = """
        CREATE TABLE ui_sessions(
            key TEXT PRIMARY KEY,
            user_name TEXT,
            csrf TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL)
        """

    static let notificationBacklog = """
        SELECT endpoint, CAST(count(*) AS BIGINT), CAST(sum(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS BIGINT), CAST(max(attempts) AS BIGINT), min(next_attempt)
        FROM notifications GROUP BY endpoint ORDER BY endpoint
        """
}
