import ArgumentParser
import Foundation
import Logging
import RegistryServer
import RegistryStorage

/// distribution's offline `garbage-collect`, for operators who stop the registry to collect:
/// the same rules as the online collector, with no grace period unless asked for.
struct GarbageCollect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "garbage-collect",
        abstract: "Delete blobs no manifest references (and with --delete-untagged, untagged manifests) from a stopped registry's storage",
        discussion: "Exit status: 0, or 1 when --verify finds corrupt blobs or the storage cannot be opened.")

    @OptionGroup var configuration: ServerConfigFlags
    @Flag(name: [.customShort("d"), .customLong("dry-run")], help: "Report what would be deleted without deleting it")
    var dryRun = false
    @Flag(name: [.customShort("m"), .customLong("delete-untagged")], help: "Also delete manifests that are not tagged and not referenced")
    var deleteUntagged = false
    @Flag(name: .customLong("verify"), help: "Check the metadata database's consistency and every blob's bytes against its digest")
    var verify = false
    @Option(name: .customLong("grace"), help: ArgumentHelp("Keep what changed more recently than this (e.g. 1h)", valueName: "DURATION"))
    var grace = "0s"

    func run() async throws {
        let config: ServerConfig
        do { config = try configuration.load() } catch { throw CLIError(error.description) }
        guard let seconds = AccessFlags.seconds(grace) else { throw CLIError("invalid --grace '\(grace)' (e.g. 30m, 1h)") }
        var logger = Logger(label: "berth.gc")
        logger.logLevel = .error
        let problems: [String]
        do {
            problems = try await config.withRegistry(logger: logger) { registry in
                let report = try await registry.collectGarbage(grace: seconds, untaggedManifests: deleteUntagged, dryRun: dryRun)
                if dryRun { for blob in report.blobs { print("blob eligible for deletion: \(blob.digest)") } }
                print("\(dryRun ? "would delete" : "deleted") \(report.manifests) manifest(s) and \(report.blobs.count) blob(s), \(report.bytesFreed) bytes")
                guard verify else { return [] }
                return try await registry.metadataProblems().map { "metadata: \($0)" } + registry.verifyBlobs().map { "corrupt blob \($0)" }
            }
        } catch let error as StorageStartupError {
            throw CLIError("cannot open storage \(config.storageDescription): \(error)")
        }
        guard verify else { return }
        for problem in problems { Console.err("berth: \(problem)\n") }
        if !problems.isEmpty { throw ExitCode(1) }
        print("verified: the metadata database is consistent and every blob matches its digest")
    }
}
