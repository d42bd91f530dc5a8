// RegistryClient: the distribution-spec client over AsyncHTTPClient: ping, auth (Basic and the
// Bearer token dance), manifests, blobs (streamed and verified against their digests), tags, deletes,
// retries. It knows HTTP and the spec, nothing about transports.

/// One challenge from a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"`.
public struct AuthChallenge: Equatable, Sendable {
    public let scheme: String
    public let parameters: [String: String]

    public init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme
        self.parameters = parameters
    }

    /// Parses the challenges of one header value (RFC 9110 §11.6.1: auth-params with quoted strings).
    public static func parse(_ header: String) -> [AuthChallenge] {
        var challenges: [AuthChallenge] = []
        var scanner = Scanner(Array(header.utf8))
        while true {
            scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ",") }
            let scheme = scanner.token()
            guard !scheme.isEmpty else { break }
            var parameters: [String: String] = [:]
            while true {
                let mark = scanner.index
                scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ",") }
                let name = scanner.token()
                scanner.skip { $0 == UInt8(ascii: " ") }
                guard !name.isEmpty, scanner.consume(UInt8(ascii: "=")) else {
                    scanner.index = mark
                    break
                }
                scanner.skip { $0 == UInt8(ascii: " ") }
                parameters[name.lowercased()] = scanner.peek == UInt8(ascii: "\"") ? scanner.quoted() : scanner.token()
            }
            challenges.append(AuthChallenge(scheme: scheme.lowercased(), parameters: parameters))
        }
        return challenges
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skip(while predicate: (UInt8) -> Bool) {
            while let b = peek, predicate(b) { index += 1 }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            index += 1
            return true
        }

        /// An RFC 9110 token (plus `/` and `:` that unquoted scope values carry in practice).
        mutating func token() -> String {
            let start = index
            skip { b in
                b > 32 && b < 127 && ![UInt8(ascii: ","), UInt8(ascii: "="), UInt8(ascii: "\""), UInt8(ascii: " ")].contains(b)
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        mutating func quoted() -> String {
            index += 1
            var out: [UInt8] = []
            while let b = peek {
                index += 1
                if b == UInt8(ascii: "\"") { break }
                if b == UInt8(ascii: "\\"), let next = peek {
                    out.append(next)
                    index += 1
                } else {
                    out.append(b)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
