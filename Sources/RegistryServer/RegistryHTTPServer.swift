import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL
import Logging
import RegistryStorage
import ServiceLifecycle

/// A registry server built from a `ServerConfig`: opens the stores and serves HTTP(S) until cancelled.
public struct RegistryHTTPServer: Sendable {
    public let config: ServerConfig
    public let registry: Registry
    let logger: Logger

    public init(config: ServerConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        let root = URL(fileURLWithPath: config.rootDirectory)
        let blobs = try FileSystemBlobStore(root: root)
        let metadata = try SQLiteMetadataStore(path: config.resolvedDatabasePath)
        var options = Registry.Options()
        options.deleteEnabled = config.deleteEnabled
        options.readOnly = config.readOnly
        options.maxManifestBytes = config.maxManifestBytes
        options.requireReferences = config.requireManifestReferences
        options.deleteSignatureTags = config.deleteSignatureTags
        registry = Registry(blobs: blobs, metadata: metadata, options: options)
    }

    /// Serves until the surrounding task is cancelled (or, with `handleSignals`, SIGINT/SIGTERM).
    /// `onListening` receives the bound port, which matters when the configured port is 0.
    public func run(handleSignals: Bool = false, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let authenticator = try config.htpasswd.map { htpasswd in
            try HtpasswdAuthenticator(realm: htpasswd.realm, path: htpasswd.path, failureDelay: config.authFailureDelay, logger: logger)
        }
        let responder = RegistryResponder(registry: registry, config: config, logger: logger, authenticator: authenticator)
        var serverBuilder: HTTPServerBuilder = .http1(configuration: .init(idleTimeout: .seconds(300)))
        if let certificate = config.tlsCertificate, let key = config.tlsKey {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            serverBuilder = try .tls(serverBuilder, tlsConfiguration: tls)
        }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        let app = Application(
            responder: responder,
            server: serverBuilder,
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: nil),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: quiet
        )
        // Cancellation and signals both end in a graceful shutdown: in-flight requests finish.
        let group = ServiceGroup(
            configuration: .init(
                services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: quiet))
        // The group runs in its own task so that cancelling ours asks for a graceful stop instead of
        // tearing the server down mid-request.
        let running = Task { try await group.run() }
        let purger = config.uploadPurging.map { settings in Task { await purgeUploads(settings) } }
        defer { purger?.cancel() }
        do {
            try await withTaskCancellationHandler {
                try await running.value
            } onCancel: {
                Task { await group.triggerGracefulShutdown() }
            }
        } catch let error as IOError {
            throw ServerError.cannotListen(address: "\(config.host):\(config.port)", reason: String(cString: strerror(error.errnoCode)))
        }
    }
}

extension RegistryHTTPServer {
    /// Deletes abandoned uploads at startup and then every `interval`.
    func purgeUploads(_ settings: (age: Duration, interval: Duration, dryRun: Bool)) async {
        let age = Double(settings.age.components.seconds) + Double(settings.age.components.attoseconds) / 1e18
        while !Task.isCancelled {
            do {
                let purged = try await registry.purgeUploads(olderThan: age, dryRun: settings.dryRun)
                if !purged.isEmpty {
                    logger.info("upload purging: \(settings.dryRun ? "would delete" : "deleted") \(purged.count) abandoned upload(s)")
                }
            } catch {
                logger.error("upload purging failed: \(error)")
            }
            do { try await Task.sleep(for: settings.interval) } catch { return }
        }
    }
}

/// Why the server could not serve.
public enum ServerError: Error, CustomStringConvertible {
    case cannotListen(address: String, reason: String)

    public var description: String {
        switch self {
        case .cannotListen(let address, let reason): "cannot listen on \(address): \(reason)"
        }
    }
}
