import AsyncHTTPClient
import Foundation
import NIOSSL
import Synchronization

/// The process's HTTP clients, one per TLS setup (verify or not, which certificate directory), kept
/// for the life of the process so connections are pooled across every registry operation.
final class HTTPClients: Sendable {
    static let shared = HTTPClients()
    private let clients = Mutex<[String: HTTPClient]>([:])

    func client(verify: Bool, certDirectory: String?, idleReadTimeout: Duration? = nil) throws -> HTTPClient {
        let key = "\(verify) \(certDirectory ?? "") \(idleReadTimeout.map { "\($0)" } ?? "")"
        if let existing = clients.withLock({ $0[key] }) { return existing }
        let made = try Self.make(verify: verify, certDirectory: certDirectory, idleReadTimeout: idleReadTimeout)
        return clients.withLock { clients in
            if let raced = clients[key] {
                try? made.syncShutdown()
                return raced
            }
            clients[key] = made
            return made
        }
    }

    /// The `certs.d/<host[:port]>` directory containers/image would use for `registry`, if any.
    static func certsD(for registry: String) -> String? {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        let bases = ["\(home)/.config/containers/certs.d", "/etc/containers/certs.d", "/etc/docker/certs.d"]
        return bases.map { "\($0)/\(registry)" }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Redirects are followed by `RegistryClient.send` (so credentials never cross hosts), and
    /// failed connections are retried there too: AsyncHTTPClient's own connection retries would
    /// turn the HTTPS probe of a plain-HTTP registry into a wait for the whole request deadline.
    private static func make(verify: Bool, certDirectory: String?, idleReadTimeout: Duration?) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !verify { tls.certificateVerification = .none }
        if let certDirectory {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: certDirectory))?.sorted() ?? []
            do {
                let roots = files.filter { $0.hasSuffix(".crt") }.map { "\(certDirectory)/\($0)" }
                if !roots.isEmpty { tls.additionalTrustRoots = [.certificates(try roots.flatMap { try NIOSSLCertificate.fromPEMFile($0) })] }
                if let cert = files.first(where: { $0.hasSuffix(".cert") }) {
                    let key = "\(certDirectory)/\(cert.dropLast(5)).key"
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile("\(certDirectory)/\(cert)").map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                }
            } catch {
                throw ClientError.transport(url: certDirectory, "cannot load the certificates in \(certDirectory): \(error)")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow, decompression: .disabled)
        configuration.connectionPool.retryConnectionEstablishment = false
        if let idleReadTimeout { configuration.timeout.read = .nanoseconds(Int64(idleReadTimeout / .nanoseconds(1))) }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
