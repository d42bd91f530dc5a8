import Foundation
import GRDB
import ObjectStorage
import PostgresNIO

/// A backend the registry needs does not answer — the database is down or restarting, object
/// storage keeps failing after the retries — so the request fails with 503 and may succeed later.
/// Distinct from a fault in the registry (500): nothing is wrong with the request or the data.
public struct StorageUnavailable: Error, CustomStringConvertible {
    public let description: String
    /// The disk is full (or the quota spent): 507, until space is freed.
    public let isFull: Bool

    init(_ description: String, full: Bool = false) {
        self.description = description
        isFull = full
    }

    /// `error` as an unavailable backend, when that is what it is.
    public init?(classifying error: any Error) {
        switch error {
        case let error as StorageUnavailable:
            self = error
        case let error as S3Error where error.isTransient:
            self.init("object storage: \(error)")
        case let error as PSQLError where Self.isConnectionFailure(error):
            self.init("database: \(PostgresMetadataStore.describe(error))")
        // The detail goes to clients: the reason, never the server's paths.
        case let error as StorageIOError where error.errno == ENOSPC || error.errno == EDQUOT:
            self.init("storage full: \(String(cString: strerror(error.errno ?? ENOSPC)).lowercased())", full: true)
        case let error as DatabaseError where error.resultCode == .SQLITE_FULL:
            self.init("storage full: the metadata database cannot grow", full: true)
        default:
            return nil
        }
    }

    /// The connection broke or could not be made, or the server is shutting down or starting up
    /// (SQLSTATE classes 08 and 57P).
    private static func isConnectionFailure(_ error: PSQLError) -> Bool {
        if let state = error.serverInfo?[.sqlState] { return state.hasPrefix("08") || state.hasPrefix("57P") }
        return [.connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection, .poolClosed].contains(error.code)
    }
}
