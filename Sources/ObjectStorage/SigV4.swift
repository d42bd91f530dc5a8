// ObjectStorage: a small client for the S3 REST API (the operations a registry needs: objects,
// multipart uploads, listings, presigned URLs) signed with AWS Signature Version 4. It knows S3
// and nothing about registries, the way RegistryClient knows the distribution spec and nothing
// about transports.

import Crypto
import Foundation

/// An access key pair, with the session token of temporary credentials.
public struct AWSCredentials: Sendable, Equatable {
    public let accessKey: String
    public let secretKey: String
    public let sessionToken: String?

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
    }
}

/// A request as SigV4 sees it. `path` is the URI path exactly as it goes on the wire (each
/// segment percent-encoded once): S3 signs it without normalising or encoding it again.
/// `query` holds raw, unencoded names and values.
public struct SignableRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [(name: String, value: String)]
    public var headers: [(name: String, value: String)]

    public init(method: String, path: String, query: [(name: String, value: String)] = [], headers: [(name: String, value: String)]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
    }
}

/// AWS Signature Version 4 (`AWS4-HMAC-SHA256`), in Authorization headers and presigned URLs.
public struct SigV4Signer: Sendable {
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public let credentials: AWSCredentials
    public let region: String
    public let service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Adds `X-Amz-Date`, the session token and `Authorization` to `request`. S3 also wants the
    /// payload hash as the `x-amz-content-sha256` header (`contentHashHeader`); other services
    /// only sign it.
    public func sign(_ request: inout SignableRequest, payloadHash: String, date: Date, contentHashHeader: Bool = true) {
        let stamp = Self.timestamp(date)
        request.headers.append(("X-Amz-Date", stamp))
        if contentHashHeader { request.headers.append(("x-amz-content-sha256", payloadHash)) }
        if let token = credentials.sessionToken { request.headers.append(("X-Amz-Security-Token", token)) }
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(request.headers)
        let canonical = [
            request.method, request.path, Self.canonicalQuery(request.query), canonicalHeaders, signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let signature = signature(canonicalRequest: canonical, timestamp: stamp)
        request.headers.append((
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope(stamp)), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        ))
    }

    /// The query of a presigned URL (signing only `host`), in the order it goes on the wire,
    /// values already percent-encoded; the request's own query comes first.
    public func presignedQuery(method: String, host: String, path: String, query: [(name: String, value: String)] = [], expires: Int, date: Date)
        -> String
    {
        let stamp = Self.timestamp(date)
        var parameters = query
        parameters.append(("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
        parameters.append(("X-Amz-Credential", "\(credentials.accessKey)/\(scope(stamp))"))
        parameters.append(("X-Amz-Date", stamp))
        parameters.append(("X-Amz-Expires", String(expires)))
        parameters.append(("X-Amz-SignedHeaders", "host"))
        if let token = credentials.sessionToken { parameters.append(("X-Amz-Security-Token", token)) }
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders([("host", host)])
        let canonical = [method, path, Self.canonicalQuery(parameters), canonicalHeaders, signedHeaders, Self.unsignedPayload]
            .joined(separator: "\n")
        parameters.append(("X-Amz-Signature", signature(canonicalRequest: canonical, timestamp: stamp)))
        return parameters.map { "\(Self.encode($0.name))=\(Self.encode($0.value))" }.joined(separator: "&")
    }

    func signature(canonicalRequest: String, timestamp: String) -> String {
        let stringToSign = [
            "AWS4-HMAC-SHA256", timestamp, scope(timestamp), Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        let key = signingKey(day: String(timestamp.prefix(8)))
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request").
    func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        return key
    }

    private func scope(_ timestamp: String) -> String { "\(timestamp.prefix(8))/\(region)/\(service)/aws4_request" }

    /// Names lowercased and sorted, values trimmed with inner runs of spaces folded, repeated
    /// names joined by commas; the block ends with a newline. Returns it with the signed names.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (String, String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let folded = value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
            merged[name.lowercased(), default: []].append(folded)
        }
        let names = merged.keys.sorted()
        let block = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (block, names.joined(separator: ";"))
    }

    static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        // Encoded names and values are ASCII, so String order is byte order, as SigV4 wants.
        let encoded: [(name: String, value: String)] = query.map { (name: encode($0.name), value: encode($0.value)) }
        let sorted = encoded.sorted { (a, b) -> Bool in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { pair -> String in pair.name + "=" + pair.value }.joined(separator: "&")
    }

    /// RFC 3986 encoding as SigV4 wants it: only `A-Z a-z 0-9 - . _ ~` stay literal; with
    /// `keepSlash` (object keys in paths) `/` does too.
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if unreserved[Int(byte)] || (keepSlash && byte == 0x2F) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    private static let unreserved: [Bool] = (0..<256).map { byte in
        let c = UInt8(byte)
        return (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2E || c == 0x5F || c == 0x7E
    }

    /// `yyyyMMddTHHmmssZ` in UTC (every request needs one: gmtime, not a DateFormatter).
    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { String(n).leftPadded(to: 2) }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
