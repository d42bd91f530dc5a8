import ObjectStorage
import PostgresNIO

/// A backend the registry needs does not answer — the database is down or restarting, object
/// storage keeps failing after the retries — so the request fails with 503 and may succeed later.
/// Distinct from a fault in the registry (500): nothing is wrong with the request or the data.
public struct StorageUnavailable: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }

    /// `error` as an unavailable backend, when that is what it is.
    public init?(classifying error: any Error) {
        switch error {
        case let error as StorageUnavailable:
            self = error
        case let error as S3Error where error.isTransient:
            self.init("object storage: \(error)")
        case let error as PSQLError where Self.isConnectionFailure(error):
            self.init("database: \(PostgresMetadataStore.describe(error))")
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
