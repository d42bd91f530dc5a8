import ArgumentParser
import Foundation
import Logging
import RegistryServer
import RegistryStorage

/// `berth storage migrate|import-distribution`: move a registry's data between backends (files +
/// SQLite, S3 + PostgreSQL) or off a CNCF distribution filesystem tree. Both are offline copies
/// that can be run again: a second run copies only what the first did not finish.
struct StorageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage", abstract: "Copy a registry's data between storage backends, or import a CNCF distribution tree",
        subcommands: [StorageMigrate.self, StorageImportDistribution.self])
}

struct StorageMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy every repository of one berth serve configuration's storage into another's",
        discussion: """
            Blobs are streamed and checked against their digests, manifests copied byte for byte with their tags, \
            signatures and referrers. Stop the registry (or make it read-only) first; run again to resume. \
            REGISTRY_* environment variables are not applied (they would apply to both files). Exit status 1 on any failure.
            """)
    @Option(name: .customLong("from"), help: ArgumentHelp("config.yml of the registry to copy from", valueName: "OLD.yml"))
    var from: String
    @Option(name: .customLong("to"), help: ArgumentHelp("config.yml of the registry to copy into", valueName: "NEW.yml"))
    var to: String

    func run() async throws {
        let source = try loadWithoutOverrides(from)
        let destination = try loadWithoutOverrides(to)
        guard source.storageDescription != destination.storageDescription else {
            throw CLIError("--from and --to name the same storage (\(source.storageDescription))")
        }
        try await withOfflineRegistry(source, role: "source") { old in
            try await copy(from: old, into: destination)
        }
    }

    private func loadWithoutOverrides(_ path: String) throws -> ServerConfig {
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("REGISTRY_") }
        do { return try ServerConfig.load(file: path, environment: environment) } catch { throw CLIError(error.description) }
    }
}

struct StorageImportDistribution: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-distribution",
        abstract: "Import a CNCF distribution filesystem storage tree into the storage of --config",
        discussion: """
            ROOT is distribution's storage.filesystem.rootdirectory (holding docker/registry/v2). Nothing in it changes. \
            Schema 1 manifests are skipped and named. Run again to resume. Exit status 1 on any failure.
            """)
    @Argument(help: ArgumentHelp("distribution's rootdirectory", valueName: "ROOT"))
    var root: String
    @OptionGroup var configuration: ServerConfigFlags

    func run() async throws {
        let tree: DistributionTree
        do { tree = try DistributionTree(root: URL(fileURLWithPath: root)) } catch { throw CLIError(error.description) }
        let destination: ServerConfig
        do { destination = try configuration.load() } catch { throw CLIError(error.description) }
        try await copy(from: tree, into: destination)
    }
}

/// Copies `source` into the registry `destination` configures, printing a line per repository.
private func copy(from source: any RegistrySource, into destination: ServerConfig) async throws {
    try await withOfflineRegistry(destination, role: "destination") { registry in
        let copier = RegistryCopier(from: source, to: registry) { line in print(line) }
        let report: RegistryCopier.Report
        do { report = try await copier.run() } catch let error as CLIError { throw error } catch {
            throw CLIError("\(error)")
        }
        print(
            "copied \(report.repositories) repositories: \(report.blobsCopied) blob(s) (\(report.bytesCopied) bytes) copied, "
                + "\(report.blobsPresent) already there, \(report.manifests) manifest(s), \(report.tags) tag(s), \(report.signatures) signature(s)"
                + (report.skipped.isEmpty ? "" : ", \(report.skipped.count) manifest(s) skipped"))
    }
}

/// The registry `config` describes, opened without serving; a storage that cannot be opened is one line.
private func withOfflineRegistry<T: Sendable>(_ config: ServerConfig, role: String, _ body: (Registry) async throws -> T) async throws -> T {
    var logger = Logger(label: "berth.storage")
    logger.logLevel = .error
    do {
        return try await config.withRegistry(logger: logger, body)
    } catch let error as CLIError {
        throw error
    } catch {
        throw CLIError("\(role) \(config.storageDescription): \(error)")
    }
}
