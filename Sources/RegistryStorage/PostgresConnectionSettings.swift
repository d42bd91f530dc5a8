import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO

extension PostgresSettings {
    /// The pool's configuration: libpq's `sslmode` meanings (`require` encrypts without checking
    /// the certificate, `verify-ca` checks the chain, `verify-full` the host name too;
    /// `allow`/`prefer` use TLS when the server offers it), `sslrootcert` as the trusted roots and
    /// `sslcert`/`sslkey` as the client certificate.
    func clientConfiguration() throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch (sslMode, try tlsConfiguration()) {
        case (_, nil): tls = .disable
        case (.allow, let config?), (.prefer, let config?): tls = .prefer(config)
        case (_, let config?): tls = .require(config)
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = connectTimeout
        configuration.options.maximumConnections = maxOpen
        configuration.options.connectionIdleTimeout = maxIdleTime
        return configuration
    }

    /// Opens and closes one connection with these settings. The pool retries failed connections
    /// quietly for as long as a request waits; this fails at once with what went wrong (refused,
    /// timed out, wrong password, no such database).
    /// One connection outside any pool: it shows at once whether the database can be used, and
    /// startup's migrations run on it before the pools serve anyone.
    func connect(logger: Logger) async throws -> PostgresConnection {
        let tls: PostgresConnection.Configuration.TLS
        switch (sslMode, try tlsConfiguration()) {
        case (_, nil): tls = .disable
        case (.allow, let config?), (.prefer, let config?): tls = .prefer(try NIOSSLContext(configuration: config))
        case (_, let config?): tls = .require(try NIOSSLContext(configuration: config))
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .nanoseconds(Int64(connectTimeout.components.seconds) * 1_000_000_000)
        return try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
    }

    /// The TLS settings for `sslMode`; nil for `disable`.
    private func tlsConfiguration() throws -> TLSConfiguration? {
        guard sslMode != .disable else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let sslRootCert { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(sslRootCert)) }
        if let sslCert, let sslKey {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(sslCert).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: sslKey, format: .pem))
        }
        switch sslMode {
        case .disable, .verifyFull: break
        case .allow, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        }
        return tls
    }
}
