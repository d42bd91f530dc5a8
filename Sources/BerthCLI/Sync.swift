import ArgumentParser
import Foundation
import OCI
import RegistryClient
import Transports

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Synchronize one or more images from one location to another",
        discussion: """
            Copy all the images from a SOURCE to a DESTINATION.

            Allowed SOURCE transports (specified with --src): docker, dir, yaml.
            Allowed DESTINATION transports (specified with --dest): docker, dir, oci.
            See skopeo-sync(1) for the YAML format; Berth also reads `exclude-tag-regex:` (repository → regex).

            Only what changed is copied: an unchanged tag costs one manifest HEAD on each side.

            Examples:
              berth sync --src docker --dest docker 127.0.0.1:5000/team/app 127.0.0.1:6000/mirror
              berth sync --src yaml --dest docker mirror.yaml 127.0.0.1:6000/mirror --report report.json
              berth sync --src docker --dest dir --scoped 127.0.0.1:5000/team/app:v1 /media/usb

            Exit status: 0 when everything synced, 1 when an image failed, 2 for bad arguments or YAML.
            """
    )

    @Argument(help: "SOURCE") var source: String
    @Argument(help: "DESTINATION") var destination: String
    @Option(name: [.short, .customLong("src")], help: "SOURCE transport type (docker, dir, yaml)") var sourceKind: String
    @Option(name: [.short, .customLong("dest")], help: "DESTINATION transport type (docker, dir, oci)") var destinationKind: String
    @Flag(name: [.short, .customLong("all")], help: "Copy all images if SOURCE-IMAGE is a list") var all = false
    @Option(name: .customLong("multi-arch"), help: ArgumentHelp("How to handle multi-architecture images (system, all, index-only, or os/arch,…)", valueName: "LIST"))
    var multiArch: String?
    @Flag(help: "Images at DESTINATION are prefixed with the full SOURCE image path as scope") var scoped = false
    @Option(name: .customLong("append-suffix"), help: "String to append to DESTINATION tags") var appendSuffix = ""
    @Flag(name: .customLong("dry-run"), help: "Run without actually copying data") var dryRun = false
    @Flag(name: .customLong("keep-going"), help: "Do not abort the sync if any image copy fails") var keepGoing = false
    @Flag(help: "Delete destination tags inside the synced scope that no longer exist at the source (after the copies succeed)")
    var prune = false
    @Option(name: .customLong("exclude-tag-regex"), help: ArgumentHelp("Never sync (nor prune) tags matching REGEX", valueName: "REGEX"))
    var excludeTagRegex: String?
    @Option(name: .customLong("report"), help: ArgumentHelp("Write a JSON report, one entry per image, to PATH", valueName: "PATH"))
    var report: String?
    @Option(name: .customLong("digestfile"), help: ArgumentHelp("Write '<digest> <destination>' lines for the synced images to PATH", valueName: "PATH"))
    var digestFile: String?
    @Option(name: [.short, .customLong("format")], help: ArgumentHelp("MANIFEST TYPE (oci, v2s2) to use in the destination", valueName: "MANIFEST TYPE"))
    var format: String?
    @Flag(name: .customLong("preserve-digests"), help: "Preserve digests of images and lists") var preserveDigests = false
    @Flag(name: .customLong("remove-signatures"), help: "Do not copy signatures from SOURCE images") var removeSignatures = false
    @Flag(name: .customLong("no-attachments"), help: "Do not copy OCI referrers and cosign attachments") var noAttachments = false
    @Option(name: .customLong("image-parallel-copies"), help: "Images copied at once") var imageParallelCopies = 4
    @Option(name: .customLong("blob-parallel-copies"), help: "Blobs in flight per image") var blobParallelCopies = 6
    @Flag(name: [.short, .customLong("quiet")], help: "Print only the summary") var quiet = false
    @Option(help: "path of the authentication file, for both sides") var authfile: String?
    @OptionGroup var retry: RetryFlags
    @OptionGroup var signing: SigningFlags
    @OptionGroup var policy: PolicyFlags
    @OptionGroup var registriesD: RegistriesDFlag
    @Option(name: .customLong("registries-conf"), help: ArgumentHelp("read mirrors, insecure and blocked registries from FILE (default: the registries.conf podman reads)", valueName: "FILE"))
    var registriesConf: String?
    @OptionGroup var platform: PlatformFlags
    @OptionGroup var src: SourceAccess
    @OptionGroup var dest: DestinationAccess

    func run() async throws {
        guard let sourceKind = SyncOptions.SourceKind(rawValue: self.sourceKind) else {
            throw CLIError("unknown --src '\(self.sourceKind)' (docker, dir, yaml)", status: 2)
        }
        guard let destinationKind = SyncOptions.DestinationKind(rawValue: self.destinationKind) else {
            throw CLIError("unknown --dest '\(self.destinationKind)' (docker, dir, oci)", status: 2)
        }
        var options = SyncOptions()
        do {
            options.copy = try copyOptions()
        } catch let error as CLIError {
            throw CLIError(error.description, status: 2)
        }
        options.imageParallelCopies = max(1, imageParallelCopies)
        options.scoped = scoped
        options.appendSuffix = appendSuffix
        options.dryRun = dryRun
        options.keepGoing = keepGoing
        options.prune = prune
        options.excludeTagRegex = excludeTagRegex
        let sourceFlags = src.flags(shared: authfile, retryTimes: retry.times, retryDelay: retry.delay, registriesConf: registriesConf)
        let signatureStorage = try registriesD.load()
        options.sourceAccess.registriesD = signatureStorage
        options.destinationAccess.registriesD = signatureStorage
        options.resolveSourceAccess = { host, repository in
            var access = AccessOptions()
            access.registriesD = signatureStorage
            guard let reference = try? ImageReference(parsing: "\(host)/\(repository)") else { return access }
            access = try await sourceFlags.resolve(for: .docker(reference))
            access.registriesD = signatureStorage
            return access
        }
        if destinationKind == .docker {
            guard let reference = try? ImageReference(parsing: "\(destination)/x") else {
                throw CLIError("--dest docker: '\(destination)' is not a registry[/namespace]", status: 2)
            }
            options.destinationAccess = try await dest.flags(shared: authfile, retryTimes: retry.times, retryDelay: retry.delay, registriesConf: registriesConf).resolve(for: .docker(reference))
            options.destinationAccess.registriesD = signatureStorage
        }
        if !quiet { options.progress = { line in Console.err(line + "\n") } }

        let syncer = Syncer(options: options)
        let started = ContinuousClock.now
        var stopped: (any Error)?
        do {
            try await Interrupt.cancellingOnSignal { [source, destination] in
                try await syncer.run(source: source, sourceKind: sourceKind, destination: destination, destinationKind: destinationKind)
            }
        } catch let error as SyncError {
            throw CLIError(error.description, status: 2)
        } catch {
            stopped = error
        }
        let entries = syncer.report
        try writeReport(entries)
        Console.err(Self.summary(entries, seconds: (ContinuousClock.now - started) / .seconds(1)) + "\n")
        if let stopped, entries.allSatisfy({ $0.action != .failed }) { throw stopped }
        if entries.contains(where: { $0.action == .failed }) || stopped != nil {
            throw CLIError("\(entries.filter { $0.action == .failed }.count) image(s) failed to sync", status: 1)
        }
    }

    private func copyOptions() throws -> CopyOptions {
        var copy = CopyOptions()
        copy.selection = try parseSelection(all: all, multiArch: multiArch)
        if let format {
            guard let parsed = CopyOptions.ManifestFormat(rawValue: format) else { throw CLIError("unknown --format '\(format)' (oci, v2s2)") }
            copy.format = parsed
        }
        copy.platform = platform.platform
        copy.preserveDigests = preserveDigests
        copy.removeSignatures = removeSignatures
        try signing.apply(to: &copy)
        copy.policy = try policy.load()
        copy.copyAttachments = !noAttachments
        copy.parallelBlobs = max(1, blobParallelCopies)
        return copy
    }

    private func writeReport(_ entries: [SyncEntry]) throws {
        if let report {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            do { try encoder.encode(entries).write(to: URL(fileURLWithPath: report), options: .atomic) } catch {
                throw CLIError("cannot write --report \(report): \(FileSystemFailure.reason(error))")
            }
        }
        if let digestFile {
            let lines = entries.filter { [.copied, .unchanged].contains($0.action) }.compactMap { entry in entry.digest.map { "\($0) \(entry.destination)\n" } }
            do { try Data(lines.joined().utf8).write(to: URL(fileURLWithPath: digestFile), options: .atomic) } catch {
                throw CLIError("cannot write --digestfile \(digestFile): \(FileSystemFailure.reason(error))")
            }
        }
    }

    /// `synced 12 images: 3 copied, 9 unchanged, 0 failed, 412.0 MiB sent in 8.2 s`
    static func summary(_ entries: [SyncEntry], seconds: Double) -> String {
        let images = entries.filter { ![.pruned, .wouldPrune].contains($0.action) || $0.error != nil }
        func count(_ action: SyncEntry.Action) -> Int { entries.filter { $0.action == action }.count }
        var parts = ["\(count(.copied)) copied", "\(count(.unchanged)) unchanged", "\(count(.failed)) failed"]
        if count(.wouldCopy) > 0 { parts.append("\(count(.wouldCopy)) would be copied") }
        if count(.pruned) > 0 { parts.append("\(count(.pruned)) pruned") }
        if count(.wouldPrune) > 0 { parts.append("\(count(.wouldPrune)) would be pruned") }
        let bytes = ConsoleProgress.size(entries.reduce(0) { $0 + $1.bytes })
        return "synced \(images.count) images: \(parts.joined(separator: ", ")), \(bytes) sent in \(String(format: "%.1f", seconds)) s"
    }
}
