import ArgumentParser
import Foundation
import Logging
import RegistryServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a private OCI registry (distribution spec v1.1).",
        discussion: """
            Reads a distribution-style config.yml: --config, else registry-config/config.yml in the current \
            directory, else the embedded default (127.0.0.1:5000, data under ./berth-data). REGISTRY_* \
            environment variables override keys as distribution's do, e.g. REGISTRY_HTTP_ADDR=0.0.0.0:5000.
            """
    )

    @OptionGroup var configuration: ServerConfigFlags

    func loadConfig() throws(ConfigError) -> ServerConfig { try configuration.load() }

    func run() async throws {
        let serverConfig: ServerConfig
        do { serverConfig = try loadConfig() } catch { throw CLIError(error.description) }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = serverConfig.logLevel
            return handler
        }
        let logger = Logger(label: "berth.serve")
        for warning in serverConfig.warnings { logger.warning("config: \(warning)") }
        let server: RegistryHTTPServer
        do {
            server = try await RegistryHTTPServer(config: serverConfig, logger: logger)
        } catch let error as ConfigError {
            throw CLIError(error.description)
        } catch {
            throw CLIError("cannot open storage \(serverConfig.storageDescription): \(error)")
        }
        // SIGHUP reloads the file: read-only mode switches without a restart.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP)
        hangup.setEventHandler { [self] in
            do {
                let reloaded = try loadConfig()
                let ignored = server.apply(reloaded: reloaded)
                logger.notice("configuration reloaded: read-only \(reloaded.readOnly ? "on" : "off")")
                if !ignored.isEmpty { logger.warning("configuration reload: \(ignored.joined(separator: ", ")) changed and needs a restart") }
            } catch {
                logger.error("configuration reload failed, keeping the current one: \(error)")
            }
        }
        hangup.resume()
        defer { hangup.cancel() }
        do {
            try await server.run(handleSignals: true) { port in
                logger.notice("berth serve listening on \(serverConfig.host):\(port), storing in \(serverConfig.storageDescription)")
            }
        } catch let error as ConfigError {
            throw CLIError(error.description)
        } catch let error as ServerError {
            throw CLIError(error.description)
        }
    }
}


/// `--config`, else `registry-config/config.yml` here, else the embedded default; `REGISTRY_*`
/// variables override keys.
struct ServerConfigFlags: ParsableArguments {
    @Option(name: .long, help: "Path to config.yml.")
    var config: String?

    /// The configuration file in use (nil: the embedded default).
    var file: String? {
        config ?? (FileManager.default.fileExists(atPath: "registry-config/config.yml") ? "registry-config/config.yml" : nil)
    }

    func load() throws(ConfigError) -> ServerConfig {
        let environment = ProcessInfo.processInfo.environment
        guard let file else { return try ServerConfig.load(yaml: ServerConfig.embeddedDefault, environment: environment) }
        return try ServerConfig.load(file: file, environment: environment)
    }
}
