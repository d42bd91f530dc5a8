import Foundation
import Logging
import OCI
import TestSupport
import Testing

@testable import RegistryStorage

/// What only the PostgreSQL store has: migrations shared by servers starting together, and
/// startup failures as one line.
@Suite(.enabled(if: MetadataKind.available.contains(.postgres), "PostgreSQL 15 is not installed (apt-get install postgresql-15)"))
struct PostgresMetadataStoreTests {
    func settings(_ database: PostgresCluster.Database) -> PostgresSettings {
        var settings = PostgresSettings(host: database.host, user: database.user, database: database.name)
        settings.port = database.port
        settings.sslMode = .disable
        return settings
    }

    @Test func serversStartingTogetherMigrateOnce() async throws {
        let database = try await PostgresCluster.shared.database()
        let configuration = settings(database)
        // Six servers at once on an empty database: without the migration lock, all but one
        // would fail creating tables that another just created.
        let stores = try await withThrowingTaskGroup(of: PostgresMetadataStore.self) { group in
            for _ in 0..<6 { group.addTask { try await PostgresMetadataStore(settings: configuration, logger: Logger(label: "test")) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 6)
        #expect(try await stores[0].migrate().isEmpty)
        #expect(try await stores[1].migrationStatus().allSatisfy(\.applied))
        for store in stores { try store.close() }
    }

    @Test func concurrentFirstWritesToOneRepositoryAllSucceed() async throws {
        // Found with three replicas: two transactions creating the same repository at once.
        let store = try await PostgresMetadataStore.forTests()
        defer { try? store.close() }
        let repository = try RepositoryName(parsing: "team/new")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<16 {
                group.addTask {
                    let digest = Digest.of(Array("blob \(n)".utf8))
                    try await store.linkBlob(repository, digest, size: 6)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.statistics().blobs == 16)
        #expect(try await store.repositories(after: nil, limit: 10).items == ["team/new"])
    }

    @Test func anUnreachableServerOrAMissingDatabaseIsOneLine() async throws {
        var closed = PostgresSettings(host: "127.0.0.1", user: "berth", database: "berth")
        closed.port = try await PostgresCluster.shared.database().port + 1
        closed.sslMode = .disable
        closed.connectTimeout = .seconds(2)
        let started = ContinuousClock.now
        // Blob roots the refused stores may have made.
        let roots = (0..<2).map { _ in NSTemporaryDirectory() + "berth-pg-\(UUID())" }
        defer { for root in roots { try? FileManager.default.removeItem(atPath: root) } }
        do {
            _ = try await RegistryStores(blobs: .filesystem(rootDirectory: roots[0]), postgres: closed, databasePath: "", logger: Logger(label: "test"))
            Issue.record("opened a database nobody serves")
        } catch let error as StorageStartupError {
            #expect(error.description.hasPrefix("database postgres://berth@127.0.0.1:\(closed.port)/berth: "))
            #expect(!error.description.contains("\n"))
        }
        #expect(ContinuousClock.now - started < .seconds(30))

        var missing = settings(try await PostgresCluster.shared.database())
        missing.database = "no_such_database"
        do {
            _ = try await RegistryStores(blobs: .filesystem(rootDirectory: roots[1]), postgres: missing, databasePath: "", logger: Logger(label: "test"))
            Issue.record("opened a database that does not exist")
        } catch let error as StorageStartupError {
            #expect(error.description.contains("database \"no_such_database\" does not exist"))
        }
    }
}
