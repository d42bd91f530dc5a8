import Foundation
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

/// The stores a registry runs on, built in one place from its settings; the HTTP server
/// receives them and never names a backend.
public struct RegistryStores: Sendable {
    public let blobs: any BlobStore
    public let metadata: any MetadataStore
    /// The bucket client, for the startup check and shutdown.
    let s3: S3Client?

    /// Opens the blob store and the SQLite metadata database at `databasePath`.
    public init(blobs settings: BlobStorageSettings, databasePath: String) throws {
        switch settings {
        case .filesystem(let root):
            blobs = try FileSystemBlobStore(root: URL(fileURLWithPath: root))
            s3 = nil
        case .s3(let s3Settings):
            let client = S3Client(location: s3Settings.location, credentials: s3Settings.credentials)
            blobs = S3BlobStore(client: client, rootDirectory: s3Settings.rootDirectory, chunkSize: s3Settings.chunkSize)
            s3 = client
        }
        try FileManager.default.createDirectory(
            atPath: (databasePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        metadata = try SQLiteMetadataStore(path: databasePath)
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
