// BerthCLI: the `berth` executable. Commands parse flags, call an engine and print; errors become
// one line on stderr and a non-zero exit status (2 when the image asked for does not exist).

import ArgumentParser
import Foundation
import OCI
import RegistryClient
import Signing
import Runtime
import Transports

struct Berth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Copy, inspect, serve and run OCI container images.",
        subcommands: [
            Copy.self, Sync.self, Inspect.self, ListTags.self, Delete.self, Login.self, Logout.self, ManifestDigest.self,
            StandaloneSign.self, StandaloneVerify.self, GenerateSigstoreKey.self, Serve.self, GarbageCollect.self, DatabaseCommand.self, StorageCommand.self,
            Pull.self, Images.self, Rmi.self, Run.self, Ps.self, Rm.self, Unpack.self, Logs.self, Stop.self, Kill.self, Start.self, Restart.self,
            Wait.self, Exec.self, ContainerCommand.self,
        ]
    )
}

@main
enum Entry {
    /// The commands that work on the local store and containers: without root they run inside
    /// the user's rootless namespace (`Rootless`).
    static func main() async {
        let raw = Array(CommandLine.arguments.dropFirst())
        // Still outside the namespace (the holder was not running to be joined before main).
        if geteuid() != 0, let command = raw.first, Rootless.isLocalCommand(command) {
            do {
                try Rootless.reexecute(arguments: raw, environment: ProcessInfo.processInfo.environment) { Console.err("berth: warning: \($0)\n") }
            } catch {
                exit(reporting: CLIError("\(error)", status: 125))
            }
        }
        if let monitor = ContainerMonitorCommand.started(raw) {
            Foundation.exit(ContainerMonitor(store: LocalStore(root: monitor.root), id: monitor.id).run())
        }
        let arguments = BoolFlags.normalize(raw)
        do {
            var command = try Berth.parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(reporting: error, usageStatus: arguments.first == "sync" ? 2 : nil)
        }
    }

    /// `usageStatus` replaces ArgumentParser's 64 for a bad command line (sync promises 2).
    static func exit(reporting error: any Error, usageStatus: Int32? = nil) -> Never {
        let status: Int32
        let message: String
        switch error {
        case let code as ExitCode:
            // A status passed through (a container's), with nothing to say.
            Foundation.exit(code.rawValue)
        case let failure as CLIError:
            (status, message) = (failure.status, failure.description)
        case let error as TransportError:
            (status, message) = (error.isNotFound ? 2 : 1, error.description)
        case let error as ClientError:
            (status, message) = (error.isNotFound ? 2 : 1, error.description)
        case let error as AuthFileError:
            (status, message) = (1, error.description)
        case let error as SignatureError:
            (status, message) = (1, error.description)
        case let error as PolicyError:
            (status, message) = (1, error.description)
        case let error as RuntimeError:
            (status, message) = (1, error.description)
        case is CancellationError:
            (status, message) = (130, "interrupted")
        case let error where FileSystemFailure.matches(error):
            // A file operation no layer wrapped (the local store's directories, say).
            let reason = FileSystemFailure.reason(error)
            (status, message) = (1, FileSystemFailure.path(error).map { "\($0): \(reason)" } ?? reason)
        default:
            let code = Berth.exitCode(for: error)
            let text = Berth.fullMessage(for: error)
            if code == .success {
                print(text)
                Foundation.exit(0)
            }
            Console.err(text.hasSuffix("\n") ? text : text + "\n")
            Foundation.exit(usageStatus ?? code.rawValue)
        }
        let line = message.replacingOccurrences(of: "\n", with: " ")
        Console.err("berth: \(line)\n")
        Foundation.exit(status)
    }
}

/// A failure reported as one line on stderr.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    let status: Int32
    init(_ description: String, status: Int32 = 1) {
        self.description = description
        self.status = status
    }
}

/// skopeo's boolean flags are Go flags: `--tls-verify` alone means true, `--tls-verify=false` false.
enum BoolFlags {
    static let names: Set<String> = [
        "--tls-verify", "--src-tls-verify", "--dest-tls-verify",
    ]

    static func normalize(_ arguments: [String]) -> [String] {
        arguments.enumerated().map { position, argument in
            guard names.contains(argument) else { return argument }
            let next = position + 1 < arguments.count ? arguments[position + 1] : ""
            return ["true", "false"].contains(next) ? argument : argument + "=true"
        }
    }
}
