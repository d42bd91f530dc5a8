import Foundation
import Logging
import ObjectStorage

/// Where blobs live, as configured (`storage.filesystem` or `storage.s3`).
public enum BlobStorageSettings: Sendable, Equatable {
    case filesystem(rootDirectory: String)
    case s3(S3StorageSettings)
}

/// `storage.s3`, resolved: the bucket's location, the credentials found, the key prefix and
/// the multipart part size.
public struct S3StorageSettings: Sendable, Equatable {
    public var location: S3Location
    public var credentials: AWSCredentials
    public var rootDirectory: String
    /// Bytes per multipart part (distribution's `chunksize`, 10 MiB by default, 5 MiB to 5 GiB).
    public var chunkSize: Int

    public static let defaultChunkSize = 10 << 20
    public static let minimumChunkSize = 5 << 20
    public static let maximumChunkSize = 5 << 30

    public init(location: S3Location, credentials: AWSCredentials, rootDirectory: String, chunkSize: Int = defaultChunkSize) {
        self.location = location
        self.credentials = credentials
        self.rootDirectory = rootDirectory
        self.chunkSize = chunkSize
    }
}

/// `database:` as GitLab's container registry spells it: PostgreSQL for the metadata.
public struct PostgresSettings: Sendable, Equatable {
    public enum SSLMode: String, Sendable, Equatable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port = 5432
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode = .prefer
    public var sslRootCert: String?
    public var sslCert: String?
    public var sslKey: String?
    public var connectTimeout: Duration = .seconds(10)
    /// `pool.maxopen`: connections per server (postgres-nio's default is 20).
    public var maxOpen = 20
    /// `pool.maxidletime`: how long an unused connection stays open.
    public var maxIdleTime: Duration = .seconds(60)

    public init(host: String, user: String, database: String) {
        self.host = host
        self.user = user
        self.database = database
    }

    /// `postgres://user@host:port/dbname`, for messages (never the password).
    public var location: String { "postgres://\(user)@\(host):\(port)/\(database)" }
}

/// The stores a registry runs on, built in one place from its settings; the HTTP server
/// receives them and never names a backend.
public struct RegistryStores: Sendable {
    public let blobs: any BlobStore
    public let metadata: any MetadataStore
    /// The bucket client, for the startup check and shutdown.
    let s3: S3Client?

    /// Opens the blob store and the metadata: PostgreSQL when `postgres` is set (its schema
    /// migrated, once, under a lock), else the SQLite database at `databasePath`.
    public init(blobs settings: BlobStorageSettings, postgres: PostgresSettings?, databasePath: String, logger: Logger) async throws {
        switch settings {
        case .filesystem(let root):
            blobs = try FileSystemBlobStore(root: URL(fileURLWithPath: root))
            s3 = nil
        case .s3(let s3Settings):
            let client = S3Client(location: s3Settings.location, credentials: s3Settings.credentials)
            blobs = S3BlobStore(client: client, rootDirectory: s3Settings.rootDirectory, chunkSize: s3Settings.chunkSize)
            s3 = client
        }
        do {
            metadata = try await Self.openMetadata(postgres: postgres, databasePath: databasePath, logger: logger)
        } catch {
            // The bucket client holds connections that must be shut down before it goes away.
            try? await s3?.shutdown()
            throw error
        }
    }

    private static func openMetadata(postgres: PostgresSettings?, databasePath: String, logger: Logger) async throws -> any MetadataStore {
        guard let postgres else {
            try FileManager.default.createDirectory(
                atPath: (databasePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            return try SQLiteMetadataStore(path: databasePath)
        }
        do {
            return try await PostgresMetadataStore(settings: postgres, logger: logger)
        } catch {
            throw StorageStartupError("database \(postgres.location): \(PostgresMetadataStore.describe(error))")
        }
    }

    /// Checks that the backends answer before the registry takes requests: a bucket that is
    /// missing or refuses these credentials stops startup, naming bucket and endpoint.
    public func checkReachable() async throws {
        guard let s3 else { return }
        do { try await s3.checkBucket() } catch let error as S3Error {
            throw StorageStartupError(
                "bucket \(s3.location.bucket) at \(s3.location.endpoint.absoluteString): "
                    + (error.status == 0 ? error.message : "\(error.status) \(error.code)"))
        }
    }

    /// Closes the metadata database and the bucket client.
    public func close() async throws {
        try metadata.close()
        try await s3?.shutdown()
    }
}

public struct StorageStartupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
