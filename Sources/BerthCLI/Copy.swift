import ArgumentParser
import Foundation
import OCI
import Transports

struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy an IMAGE-NAME from one location to another",
        discussion: """
            Container "IMAGE-NAME" uses a "transport":"details" format.

            Supported transports:
            docker, oci, oci-archive, dir, docker-archive

            Examples:
              berth copy docker://127.0.0.1:5000/team/app:v1 docker://127.0.0.1:6000/mirror/app:v1
              berth copy --all docker://127.0.0.1:5000/team/app:v1 oci:./layout:v1
              berth copy docker://127.0.0.1:5000/team/app:v1 docker-archive:app.tar:app:v1

            Exit status: 0 on success, 2 when the source image does not exist, 1 for other failures.
            """
    )

    @Argument(help: "SOURCE-IMAGE") var source: String
    @Argument(help: "DESTINATION-IMAGE") var destination: String

    @Flag(name: [.short, .customLong("all")], help: "Copy all images if SOURCE-IMAGE is a list")
    var all = false
    @Option(name: .customLong("multi-arch"), help: ArgumentHelp("How to handle multi-architecture images (system, all, index-only, or a list such as linux/amd64,linux/arm64)", valueName: "LIST"))
    var multiArch: String?
    @Option(name: [.short, .customLong("format")], help: ArgumentHelp("MANIFEST TYPE (oci, v2s2) to use in the destination (default is manifest type of source, with fallbacks)", valueName: "MANIFEST TYPE"))
    var format: String?
    @Flag(name: .customLong("preserve-digests"), help: "Preserve digests of images and lists")
    var preserveDigests = false
    @Option(name: .customLong("dest-compress-format"), help: ArgumentHelp("FORMAT to use for the compression (gzip, zstd)", valueName: "FORMAT"))
    var compressFormat: String?
    @Option(name: .customLong("dest-compress-level"), help: ArgumentHelp("LEVEL to use for the compression (gzip: 1-9, zstd: 1-22)", valueName: "LEVEL"))
    var compressLevel: Int32?
    @Flag(name: .customLong("dest-decompress"), help: "Decompress tarballs saved to the destination (dir: only)")
    var decompress = false
    @Option(name: .customLong("additional-tag"), help: ArgumentHelp("additional tags (supports docker-archive)", valueName: "NAME:TAG"))
    var additionalTags: [String] = []
    @Option(name: .customLong("digestfile"), help: ArgumentHelp("Write the digest of the pushed image to the specified file", valueName: "PATH"))
    var digestFile: String?
    @Flag(name: .customLong("remove-signatures"), help: "Do not copy signatures from SOURCE-IMAGE")
    var removeSignatures = false
    @Flag(name: .customLong("no-attachments"), help: "Do not copy the image's OCI referrers and cosign attachments (sha256-<hex>.sig/.att/.sbom) between registries")
    var noAttachments = false
    @Flag(name: [.short, .customLong("quiet")], help: "Suppress output information when copying images")
    var quiet = false
    @Option(name: .customLong("image-parallel-copies"), help: "Maximum number of image layers to be copied (pulled/pushed) simultaneously")
    var parallelCopies = 6
    @Option(name: .customLong("progress-interval"), help: ArgumentHelp("On a non-terminal, print an aggregate progress line this often (0 disables)", valueName: "DURATION"))
    var progressInterval = "5s"
    @Option(help: "path of the authentication file, for both sides")
    var authfile: String?
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
        let sourceName = try parseName(source)
        let destinationName = try parseName(destination)
        var options = CopyOptions()
        options.selection = try parseSelection(all: all, multiArch: multiArch)
        options.platform = platform.platform
        options.preserveDigests = preserveDigests
        options.parallelBlobs = max(1, parallelCopies)
        options.copyAttachments = !noAttachments
        options.removeSignatures = removeSignatures
        try signing.apply(to: &options)
        options.policy = try policy.load()
        if let format {
            guard let parsed = CopyOptions.ManifestFormat(rawValue: format) else {
                throw CLIError("unknown --format '\(format)' (oci, v2s2)")
            }
            options.format = parsed
        }
        if let compressFormat {
            guard let format = MediaType.Compression(rawValue: compressFormat), format != .none else {
                throw CLIError("unsupported --dest-compress-format '\(compressFormat)' (gzip, zstd)")
            }
            options.compressFormat = format
        }
        if let compressLevel {
            let range: ClosedRange<Int32> = options.compressFormat == .zstd ? 1...22 : 1...9
            guard range.contains(compressLevel) else {
                throw CLIError("--dest-compress-level must be \(range.lowerBound)-\(range.upperBound) for \(options.compressFormat ?? .gzip)")
            }
            options.compressLevel = compressLevel
        }
        if decompress, case .dir = destinationName {} else if decompress {
            throw CLIError("--dest-decompress is only for dir: destinations")
        }
        guard let interval = AccessFlags.seconds(progressInterval) else { throw CLIError("invalid --progress-interval '\(progressInterval)'") }
        var sourceAccess = try await src.flags(shared: authfile, retryTimes: retry.times, retryDelay: retry.delay, registriesConf: registriesConf).resolve(for: sourceName)
        sourceAccess.decompress = false
        sourceAccess.registriesD = try registriesD.load()
        var destinationAccess = try await dest.flags(shared: authfile, retryTimes: retry.times, retryDelay: retry.delay, registriesConf: registriesConf).resolve(for: destinationName)
        destinationAccess.decompress = decompress
        destinationAccess.registriesD = sourceAccess.registriesD
        destinationAccess.additionalTags = try additionalTags.map { tag in
            do { return try ImageReference(parsing: tag) } catch { throw CLIError("--additional-tag: \(error)") }
        }

        let source = try sourceName.openSource(sourceAccess)
        let console = quiet ? nil : ConsoleProgress(interval: interval)
        options.progress = console
        let result = try await Interrupt.cancellingOnSignal { [options, destinationAccess] in
            try await console.withReporting {
                try await Copier.copy(from: source, to: { try destinationName.openDestination(destinationAccess) }, options: options)
            }
        }
        if !quiet, let docker = source as? DockerSource, let served = docker.servedFrom, served != sourceName.dockerReference {
            Console.err("Pulled through \(docker.servedFromMirror ? "mirror" : "location") \(served)\n")
        }
        if let digestFile {
            do { try Data(result.digest.description.utf8).write(to: URL(fileURLWithPath: digestFile)) } catch {
                throw CLIError("cannot write --digestfile \(digestFile): \(FileSystemFailure.reason(error))")
            }
        }
    }
}

extension Optional where Wrapped == ConsoleProgress {
    func withReporting<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        guard let console = self else { return try await body() }
        return try await console.reporting(body)
    }
}

/// Turns SIGINT and SIGTERM into cancellation of the running work, so streams stop, temporary
/// files are removed and no manifest is written.
enum Interrupt {
    static func cancellingOnSignal<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        let sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { task.cancel() }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        do {
            return try await task.value
        } catch {
            if task.isCancelled { throw CancellationError() }
            throw error
        }
    }
}
