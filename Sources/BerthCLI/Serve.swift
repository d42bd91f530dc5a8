import ArgumentParser
import Foundation
import Logging
import RegistryServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a private OCI registry (distribution spec v1.1).",
        discussion: """
            Reads a distribution-style config.yml: --config, else registry-config/config.yml in the current \
            directory, else the embedded default (127.0.0.1:5000, data under ./berth-data). REGISTRY_* \
            environment variables override keys as distribution's do, e.g. REGISTRY_HTTP_ADDR=0.0.0.0:5000.
            """
    )

    @Option(name: .long, help: "Path to config.yml.")
    var config: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let serverConfig: ServerConfig
        do {
            if let config {
                serverConfig = try ServerConfig.load(file: config, environment: environment)
            } else if FileManager.default.fileExists(atPath: "registry-config/config.yml") {
                serverConfig = try ServerConfig.load(file: "registry-config/config.yml", environment: environment)
            } else {
                serverConfig = try ServerConfig.load(yaml: ServerConfig.embeddedDefault, environment: environment)
            }
        } catch {
            throw CLIError(error.description)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = serverConfig.logLevel
            return handler
        }
        let logger = Logger(label: "berth.serve")
        for warning in serverConfig.warnings { logger.warning("config: \(warning)") }
        let server: RegistryHTTPServer
        do {
            server = try RegistryHTTPServer(config: serverConfig, logger: logger)
        } catch {
            throw CLIError("cannot open storage under \(serverConfig.rootDirectory): \(error)")
        }
        try await server.run(handleSignals: true) { port in
            logger.notice("berth serve listening on \(serverConfig.host):\(port), storing under \(serverConfig.rootDirectory)")
        }
    }
}

