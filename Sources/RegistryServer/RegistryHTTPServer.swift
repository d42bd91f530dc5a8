import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL
import Logging
import PullThroughCache
import RegistryUI
import RegistryStorage
import ServiceLifecycle
import Synchronization

/// A registry server built from a `ServerConfig`: opens the stores and serves HTTP(S) until cancelled.
public struct RegistryHTTPServer: Sendable {
    public let config: ServerConfig
    public let registry: Registry
    let stores: RegistryStores
    let logger: Logger
    /// The built-in token server, when configured (its rules follow configuration reloads).
    let issuer: TokenIssuer?
    /// The pull-through cache, when `proxy:` or `berth.cache:` configure one.
    public let cache: PullThroughCache?
    let metrics = RegistryMetrics()

    /// Opens the stores (connecting to PostgreSQL and migrating its schema when configured).
    public init(config: ServerConfig, logger: Logger) async throws {
        self.config = config
        self.logger = logger
        stores = try await RegistryStores(
            blobs: config.blobStorage, postgres: config.postgres, databasePath: config.resolvedDatabasePath, logger: logger)
        registry = Registry(blobs: stores.blobs, metadata: stores.metadata, options: config.registryOptions)
        do {
            issuer = try config.tokenServer.map { settings in
                try TokenIssuer(settings: settings, rootDirectory: config.rootDirectory, failureDelay: config.authFailureDelay, logger: logger)
            }
            cache = try config.cache.map { [registry, metrics] settings in
                var settings = settings
                if settings.spoolDirectory.isEmpty { settings.spoolDirectory = "\(config.rootDirectory)/cache-spool" }
                return try PullThroughCache(settings: settings, registry: registry, observer: metrics, logger: logger)
            }
        } catch {
            try? await stores.close()
            throw error
        }
    }

    /// Serves until the surrounding task is cancelled (or, with `handleSignals`, SIGINT/SIGTERM).
    /// `onListening` receives the bound port, which matters when the configured port is 0.
    /// `onDebugListening` receives the debug listener's port (`http.debug.addr`).
    public func run(
        handleSignals: Bool = false, onListening: @escaping @Sendable (Int) async -> Void = { _ in },
        onDebugListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        do {
            try await serve(handleSignals: handleSignals, onListening: onListening, onDebugListening: onDebugListening)
        } catch {
            // Whatever stopped the server, the stores' connections are closed before it goes away.
            try? await stores.close()
            throw error
        }
        do { try await stores.close() } catch { logger.error("closing the storage: \(error)") }
    }

    private func serve(
        handleSignals: Bool, onListening: @escaping @Sendable (Int) async -> Void, onDebugListening: @escaping @Sendable (Int) async -> Void
    ) async throws {
        do { try await stores.checkReachable() } catch { throw ServerError.storage("\(error)") }
        let authenticator = try config.htpasswd.map { htpasswd in
            try HtpasswdAuthenticator(realm: htpasswd.realm, path: htpasswd.path, failureDelay: config.authFailureDelay, logger: logger)
        }
        let notifier = config.webhooks.isEmpty
            ? nil : Notifier(endpoints: config.webhooks, metadata: registry.metadata, sourceAddress: "\(config.host):\(config.port)", logger: logger)
        let tokens = try config.token.map { token in
            try TokenAuthenticator(realm: token.realm, service: token.service, issuer: token.issuer, rootCertBundle: token.rootCertBundle, jwks: token.jwks)
        } ?? issuer.map(TokenAuthenticator.init(issuer:))
        let ui = config.ui.map { [registry = self.registry] configured in
            var settings = configured
            // The webhooks page shows where events go, without credentials or query.
            settings.webhooks = config.webhooks.map { endpoint in
                var url = URLComponents(string: endpoint.url)
                url?.user = nil
                url?.password = nil
                url?.query = nil
                return (endpoint.name, url?.string ?? "")
            }
            let mode: UIAccessAdapter.Mode = authenticator.map(UIAccessAdapter.Mode.htpasswd) ?? issuer.map(UIAccessAdapter.Mode.tokenServer) ?? .open
            return RegistryUI(
                registry: registry, settings: settings, access: UIAccessAdapter(mode: mode, admins: settings.admins),
                events: UIEventsAdapter(notifier: notifier, metrics: metrics, baseURL: config.externalURL ?? "http://\(config.host):\(config.port)"),
                logger: logger)
        }
        let slowRequests = SlowRequests(limit: config.slowRequestWarning, logger: logger)
        let responder = RegistryResponder(
            registry: registry, config: config, logger: logger, authenticator: authenticator, tokens: tokens, issuer: issuer, metrics: metrics,
            slowRequests: slowRequests, notifier: notifier, cache: cache, ui: ui)
        var serverBuilder: HTTPServerBuilder = .http1(configuration: .init(idleTimeout: .seconds(300)))
        if let certificate = config.tlsCertificate, let key = config.tlsKey {
            serverBuilder = try .tls(serverBuilder, tlsConfiguration: try tlsConfiguration(certificate: certificate, key: key))
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
        var services: [any Service] = [app]
        if let debug = config.debugAddress {
            services.append(debugApplication(debug, metrics: metrics, logger: quiet, onListening: onDebugListening))
        }
        // Cancellation and signals both end in a graceful shutdown: the listener closes, requests
        // in flight get `http.draintimeout` to finish, then their connections are closed.
        var groupConfiguration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: quiet)
        groupConfiguration.maximumGracefulShutdownDuration = config.drainTimeout
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        // The group runs in its own task so that cancelling ours asks for a graceful stop instead of
        // tearing the server down mid-request.
        let running = Task { try await group.run() }
        // Another server's writes to a shared metadata store invalidate this one's cache.
        let registry = self.registry
        let follower = Task { await registry.followChanges() }
        defer { follower.cancel() }
        let watcher = Task { await slowRequests.watch() }
        defer { watcher.cancel() }
        let purger = config.uploadPurging.map { settings in Task { await purgeUploads(settings, metrics: metrics) } }
        defer { purger?.cancel() }
        let collector = config.garbageCollection.map { settings in Task { await collectGarbage(settings, metrics: metrics) } }
        defer { collector?.cancel() }
        let cacheMaintenance = cache.map { cache in Task { await cache.maintain() } }
        defer { cacheMaintenance?.cancel() }
        let webhookClient = notifier.map { _ in HTTPClient(eventLoopGroupProvider: .singleton) }
        let deliveries = notifier.map { notifier in
            notifier.endpoints.map { endpoint in Task { await notifier.deliver(endpoint, client: webhookClient!) } }
        } ?? []
        defer {
            for delivery in deliveries { delivery.cancel() }
            if let webhookClient { Task { try? await webhookClient.shutdown() } }
        }
        do {
            try await withTaskCancellationHandler {
                try await running.value
            } onCancel: {
                Task { await group.triggerGracefulShutdown() }
            }
        } catch let error as IOError {
            throw ServerError.cannotListen(address: "\(config.host):\(config.port)", reason: String(cString: strerror(error.errnoCode)))
        }
        // Requests are done; the maintenance tasks stop before the database closes under them.
        let background = [purger, collector].compactMap { $0 } + [follower, watcher] + deliveries
        for task in background { task.cancel() }
        for task in background { await task.value }
    }
}

extension RegistryHTTPServer {
    /// Applies what a configuration reload (SIGHUP) may change while serving: read-only mode and
    /// the token server's access rules. Everything else needs a restart, and is reported when it differs.
    public func apply(reloaded: ServerConfig) -> [String] {
        registry.setReadOnly(reloaded.readOnly)
        var ignored = issuer?.reload(reloaded.tokenServer) ?? (reloaded.tokenServer == nil ? [] : ["berth.tokenserver"])
        if reloaded.host != config.host || reloaded.port != config.port { ignored.append("http.addr") }
        if reloaded.rootDirectory != config.rootDirectory { ignored.append("storage.filesystem.rootdirectory") }
        if reloaded.s3 != config.s3 { ignored.append("storage.s3") }
        if reloaded.redirect != config.redirect { ignored.append("storage.redirect") }
        if reloaded.htpasswd?.path != config.htpasswd?.path { ignored.append("auth.htpasswd") }
        return ignored
    }

    /// Deletes abandoned uploads at startup and then every `interval`.
    func purgeUploads(_ settings: (age: Duration, interval: Duration, dryRun: Bool), metrics: RegistryMetrics) async {
        let age = Double(settings.age.components.seconds) + Double(settings.age.components.attoseconds) / 1e18
        while !Task.isCancelled {
            do {
                // One server at a time purges a shared store; the others skip this round.
                let purged = try await registry.metadata.asSoleRunner("upload purging") {
                    try await registry.purgeUploads(olderThan: age, dryRun: settings.dryRun)
                } ?? []
                if !purged.isEmpty, !settings.dryRun { metrics.uploadsPurged(purged.count) }
                if !purged.isEmpty {
                    logger.info("upload purging: \(settings.dryRun ? "would delete" : "deleted") \(purged.count) abandoned upload(s)")
                }
            } catch is CancellationError {
                return  // the server is stopping
            } catch {
                logger.error("upload purging failed: \(error)")
            }
            do { try await Task.sleep(for: settings.interval) } catch { return }
        }
    }
}

extension RegistryHTTPServer {
    /// `http.debug.addr`: `/healthz` (the process answers), `/readyz` (storage writable and the
    /// database answering, else 503 saying which), `/metrics` (Prometheus).
    func debugApplication(
        _ address: (host: String, port: Int), metrics: RegistryMetrics, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void
    ) -> some Service {
        let router = Router()
        let registry = self.registry
        // Named in the answer, so an operator sees which backend is down (S3 or PostgreSQL).
        let blobs = config.s3.map { "S3 bucket \($0.location.bucket) at \($0.location.endpoint.absoluteString)" } ?? config.rootDirectory
        let metadata = config.postgres.map { "PostgreSQL \($0.location)" } ?? "SQLite \(config.resolvedDatabasePath)"
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            var problems: [String] = []
            do { try await answering(within: .seconds(3)) { try await registry.probeStorage() } } catch {
                problems.append("storage not writable (\(blobs)): \(error)")
            }
            do { try await answering(within: .seconds(3)) { _ = try await registry.statistics() } } catch {
                problems.append("database not answering (\(metadata)): \(PostgresMetadataStore.describe(error))")
            }
            let text = problems.isEmpty ? "ok\n" : problems.joined(separator: "\n") + "\n"
            return Response(status: problems.isEmpty ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/metrics") { _, _ -> Response in
            let statistics = try? await registry.statistics()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.render(statistics))))
        }
        return Application(
            router: router, configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) }, logger: logger)
    }
}

extension RegistryHTTPServer {
    /// `http.tls`: the certificate (reloaded when its files change), the minimum version, and
    /// with `clientcas` mutual TLS: clients must present a certificate those CAs signed.
    func tlsConfiguration(certificate: String, key: String) throws -> TLSConfiguration {
        let reloader: CertificateReloader
        do { reloader = try CertificateReloader(certificate: certificate, key: key, logger: logger) } catch {
            throw ServerError.tls(Self.pemProblem(certificate, "certificate") ?? Self.pemProblem(key, "private key")
                ?? "\(certificate) and \(key) are not a certificate and its private key")
        }
        let pair = reloader.current
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: pair.chain, privateKey: pair.key)
        tls.minimumTLSVersion = config.minimumTLS
        tls.sslContextCallback = reloader.callback
        if !config.clientCAs.isEmpty {
            var roots: [NIOSSLCertificate] = []
            for file in config.clientCAs {
                do { roots += try NIOSSLCertificate.fromPEMFile(file) } catch {
                    throw ServerError.tls("client CAs: " + (Self.pemProblem(file, "certificate") ?? "\(file) is not usable"))
                }
            }
            tls.trustRoots = .certificates(roots)
            tls.certificateVerification = .noHostnameVerification
        }
        return tls
    }

    /// Why a PEM file cannot be used, in words (NIOSSL says `failedToLoadCertificate`): it cannot
    /// be read, or it holds no `what`. Nil when it reads and parses as one.
    static func pemProblem(_ path: String, _ what: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = access(path, F_OK) != 0 ? "no such file" : "permission denied"
            return "cannot read \(path): \(reason)"
        }
        let parses = what == "certificate" ? (try? NIOSSLCertificate.fromPEMBytes(Array(data))).map { !$0.isEmpty } ?? false
            : (try? NIOSSLPrivateKey(bytes: Array(data), format: .pem)) != nil
        return parses ? nil : "\(path) holds no PEM \(what)"
    }
}

/// Why the server could not serve.
public enum ServerError: Error, CustomStringConvertible {
    case cannotListen(address: String, reason: String)
    case tls(String)
    case storage(String)

    public var description: String {
        switch self {
        case .cannotListen(let address, let reason): "cannot listen on \(address): \(reason)"
        case .tls(let why): "TLS: \(why)"
        case .storage(let why): "cannot use storage: \(why)"
        }
    }
}

extension RegistryHTTPServer {
    /// Online garbage collection every `interval`, while the registry serves.
    func collectGarbage(_ settings: (grace: Duration, interval: Duration, untagged: Bool), metrics: RegistryMetrics) async {
        let grace = Double(settings.grace.components.seconds) + Double(settings.grace.components.attoseconds) / 1e18
        while !Task.isCancelled {
            do { try await Task.sleep(for: settings.interval) } catch { return }
            do {
                guard let report = try await registry.metadata.asSoleRunner("garbage collection", {
                    try await registry.collectGarbage(grace: grace, untaggedManifests: settings.untagged)
                }) else { continue }
                metrics.garbageCollected(report)
                if report.manifests > 0 || !report.blobs.isEmpty {
                    logger.info("garbage collection: \(report.manifests) manifest(s), \(report.blobs.count) blob(s), \(report.bytesFreed) bytes freed")
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("garbage collection failed: \(error)")
            }
        }
    }
}

/// `body`, or a `ReadinessTimeout` once `limit` has passed: a backend that is down can keep a
/// request waiting for a connection far longer than a load balancer's health check does. The
/// answer does not wait for `body` to notice its cancellation (a task group would: a pool
/// waiting for a connection does not stop at once).
func answering(within limit: Duration, _ body: @escaping @Sendable () async throws -> Void) async throws {
    let finished = Once()
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let work = Task {
            let result: Result<Void, any Error>
            do { try await body(); result = .success(()) } catch { result = .failure(error) }
            if finished.claim() { continuation.resume(with: result) }
        }
        Task {
            try? await Task.sleep(for: limit)
            if finished.claim() {
                work.cancel()
                continuation.resume(throwing: ReadinessTimeout(limit: limit))
            }
        }
    }
}

/// True for the first caller only.
final class Once: Sendable {
    private let done = Mutex(false)

    func claim() -> Bool {
        done.withLock { done in
            defer { done = true }
            return !done
        }
    }
}

struct ReadinessTimeout: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "no answer within \(limit.components.seconds) s" }
}
