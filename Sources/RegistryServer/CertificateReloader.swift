import Foundation
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// The server's certificate and key (`http.tls.certificate`/`key`), read again when either file
/// changes, so a renewed certificate is served from the next handshake without a restart. A
/// renewal that cannot be read (half-written, mismatched) is logged and the last good pair kept.
final class CertificateReloader: Sendable {
    let certificatePath: String
    let keyPath: String
    let logger: Logger

    private struct Loaded: @unchecked Sendable {
        var stamp: [Int]
        var chain: [NIOSSLCertificateSource]
        var key: NIOSSLPrivateKeySource
    }
    private let loaded: Mutex<Loaded>

    init(certificate: String, key: String, logger: Logger) throws {
        certificatePath = certificate
        keyPath = key
        self.logger = logger
        let stamp = Self.stamp(certificate, key)
        let (chain, privateKey) = try Self.read(certificate, key)
        loaded = Mutex(Loaded(stamp: stamp, chain: chain, key: privateKey))
    }

    /// The pair to present now.
    var current: (chain: [NIOSSLCertificateSource], key: NIOSSLPrivateKeySource) {
        let stamp = Self.stamp(certificatePath, keyPath)
        if let same = loaded.withLock({ $0.stamp == stamp ? ($0.chain, $0.key) : nil }) { return same }
        do {
            let (chain, key) = try Self.read(certificatePath, keyPath)
            loaded.withLock { $0 = Loaded(stamp: stamp, chain: chain, key: key) }
            logger.notice("TLS certificate reloaded from \(certificatePath)")
            return (chain, key)
        } catch {
            logger.error("TLS certificate \(certificatePath) changed but cannot be loaded (\(error)); serving the previous one")
            return loaded.withLock { ($0.chain, $0.key) }
        }
    }

    /// Applied at every handshake: the current pair overrides the configuration's.
    var callback: NIOSSLContextCallback {
        { [self] _, promise in
            var override = NIOSSLContextConfigurationOverride()
            let pair = current
            override.certificateChain = pair.chain
            override.privateKey = pair.key
            promise.succeed(override)
        }
    }

    private static func read(_ certificate: String, _ key: String) throws -> ([NIOSSLCertificateSource], NIOSSLPrivateKeySource) {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        guard !chain.isEmpty else { throw ServerError.tls("\(certificate) holds no certificate") }
        return (chain, .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
    }

    private static func stamp(_ paths: String...) -> [Int] {
        paths.flatMap { path -> [Int] in
            var info = stat()
            guard stat(path, &info) == 0 else { return [] }
            return [Int(info.st_size), info.st_mtim.tv_sec, info.st_mtim.tv_nsec, Int(info.st_ino)]
        }
    }
}
