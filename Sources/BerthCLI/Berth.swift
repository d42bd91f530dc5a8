// BerthCLI: the `berth` executable. Commands parse flags, call an engine and print; errors become
// one line on stderr and a non-zero exit status.

import ArgumentParser

@main
struct Berth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Copy, serve and run OCI container images.",
        subcommands: [Serve.self]
    )
}
