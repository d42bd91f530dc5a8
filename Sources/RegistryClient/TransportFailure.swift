import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// What a network or TLS failure means, in words a user can act on: no type names, error numbers
/// or source paths (NIO's own descriptions carry all three).
enum TransportFailure {
    static func describe(_ error: any Error, url: String) -> String {
        let host = URL(string: url).map { url in url.port.map { "\(url.host ?? ""):\($0)" } ?? url.host ?? "" } ?? url
        switch error {
        case let error as NIOSSLError:
            if case .handshakeFailed(let reason) = error { return handshake(String(describing: reason), host: host) }
            return "TLS with \(host) failed"
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return "the TLS certificate of \(host) is not for that name: use the name it was issued for, or --tls-verify=false"
        case let error as NIOConnectionError:
            if error.connectionErrors.isEmpty { return "cannot resolve \(error.host): no such host" }
            return describe(error.connectionErrors[0].error, url: url)
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED: return "connection refused by \(host) (is a registry listening there?)"
            case ECONNRESET: return "\(host) reset the connection"
            case ENETUNREACH, EHOSTUNREACH: return "\(host) is unreachable from here"
            case ETIMEDOUT: return "\(host) did not answer (timed out)"
            default: return "\(host): \(String(cString: strerror(error.errnoCode)))"
            }
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout: return "no connection to \(host) within the connect timeout"
            case .readTimeout, .deadlineExceeded: return "\(host) stopped answering (timed out)"
            case .remoteConnectionClosed: return "\(host) closed the connection before answering"
            case .cancelled: return "cancelled"
            default: return "talking to \(host) failed (\(error.shortDescription))"
            }
        default:
            return "talking to \(host) failed: \(error)"
        }
    }

    /// A failed TLS handshake: the commonest cause by far is a registry that speaks plain HTTP.
    private static func handshake(_ reason: String, host: String) -> String {
        if reason.contains("WRONG_VERSION_NUMBER") || reason.contains("HTTP_REQUEST") {
            return "\(host) answered in plain HTTP, not HTTPS: use --tls-verify=false for a registry without TLS"
        }
        if reason.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the TLS certificate of \(host) is not trusted: put its CA in /etc/containers/certs.d/\(host)/ca.crt (or --cert-dir), or use --tls-verify=false"
        }
        return "the TLS handshake with \(host) failed"
    }
}

extension HTTPClientError {
    /// The case's name, as the error's description starts with it.
    var shortDescription: String { String(describing: self).replacingOccurrences(of: "HTTPClientError.", with: "") }
}
