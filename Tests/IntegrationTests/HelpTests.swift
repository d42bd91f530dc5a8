import Foundation
import Testing

/// `--help` on every command: its usage on stdout and status 0 — including `run` and `exec`, whose
/// pass-through argument (`berth run IMAGE --help` is the container's) once took it for an image.
struct HelpTests {
    @Test func everyCommandPrintsItsHelp() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let top = try await berth.succeed(["--help"]).stdout
        let commands = top.components(separatedBy: "SUBCOMMANDS:").last?.split(separator: "\n")
            .compactMap { line -> String? in
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let word = line.split(separator: " ").first else { return nil }
                return String(word)
            } ?? []
        #expect(commands.contains("run") && commands.contains("exec") && commands.contains("inspect") && commands.count > 25, "\(commands)")
        let nested = [["container", "inspect"], ["container", "prune"], ["database", "migrate"], ["storage", "migrate"]]
        for command in commands.filter({ $0 != "See" }).map({ [$0] }) + nested {
            let result = try await berth.run(command + ["--help"])
            #expect(result.status == 0 && result.stdout.contains("USAGE: berth \(command.joined(separator: " "))"),
                    "\(command): \(result.status) \(result.stderr.prefix(200))")
        }
    }
}
