import ArgumentParser
import Logging
import RegistryServer
import RegistryStorage

/// `berth database migrate|status`: the PostgreSQL schema of `database:`, for operators who
/// migrate ahead of a rollout (servers also migrate at startup, once, under a lock).
struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "database", abstract: "Manage the PostgreSQL metadata schema of berth serve's database: section",
        subcommands: [DatabaseMigrate.self, DatabaseStatus.self])
}

struct DatabaseMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply the schema migrations not applied yet (exit status 1 when the database cannot be used)")
    @OptionGroup var configuration: ServerConfigFlags

    func run() async throws {
        let (store, settings) = try await openDatabase(configuration, migrating: false)
        defer { try? store.close() }
        let applied: [Int]
        do { applied = try await store.migrate() } catch {
            throw CLIError("database \(settings.location): \(PostgresMetadataStore.describe(error))")
        }
        print(applied.isEmpty ? "the schema is up to date" : "applied migration(s) \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct DatabaseStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "List the schema migrations and whether each is applied (exit status 2 when some are pending)")
    @OptionGroup var configuration: ServerConfigFlags

    func run() async throws {
        let (store, settings) = try await openDatabase(configuration, migrating: false)
        defer { try? store.close() }
        let status: [(version: Int, applied: Bool)]
        do { status = try await store.migrationStatus() } catch {
            throw CLIError("database \(settings.location): \(PostgresMetadataStore.describe(error))")
        }
        for migration in status { print("\(migration.version)\t\(migration.applied ? "applied" : "pending")") }
        if status.contains(where: { !$0.applied }) { throw ExitCode(2) }
    }
}

/// The configured database, without migrating it.
private func openDatabase(_ flags: ServerConfigFlags, migrating: Bool) async throws -> (PostgresMetadataStore, PostgresSettings) {
    let config: ServerConfig
    do { config = try flags.load() } catch { throw CLIError(error.description) }
    guard let settings = config.postgres else { throw CLIError("no database: section is enabled in the configuration (metadata is in SQLite)") }
    var logger = Logger(label: "berth.database")
    logger.logLevel = .error
    do {
        return (try await PostgresMetadataStore(settings: settings, logger: logger, migrating: migrating), settings)
    } catch {
        throw CLIError("database \(settings.location): \(PostgresMetadataStore.describe(error))")
    }
}
