import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Where a bucket is and how to reach it (distribution's `storage.s3` keys, minus what the blob
/// store decides: root directory, chunk size).
public struct S3Location: Sendable, Equatable {
    /// `https://s3.<region>.amazonaws.com` for AWS, or `regionendpoint`.
    public var endpoint: URL
    public var region: String
    public var bucket: String
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`.
    public var pathStyle: Bool
    public var skipVerify: Bool
    /// `x-amz-storage-class` on new objects; nil sends none.
    public var storageClass: String?
    /// Server-side encryption: `AES256`, or `aws:kms` with `kmsKeyID`.
    public var encrypt: Bool
    public var kmsKeyID: String?

    public init(
        endpoint: URL, region: String, bucket: String, pathStyle: Bool, skipVerify: Bool = false, storageClass: String? = nil,
        encrypt: Bool = false, kmsKeyID: String? = nil
    ) {
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.pathStyle = pathStyle
        self.skipVerify = skipVerify
        self.storageClass = storageClass
        self.encrypt = encrypt
        self.kmsKeyID = kmsKeyID
    }
}

/// One listed object.
public struct S3Object: Sendable, Equatable {
    public let key: String
    public let size: Int64
    public let lastModified: Date?
}

/// One multipart upload in progress.
public struct S3MultipartUpload: Sendable, Equatable {
    public let key: String
    public let uploadID: String
    public let initiated: Date?
}

/// A stored part of a multipart upload.
public struct S3Part: Sendable, Equatable, Codable {
    public let number: Int
    public let etag: String
    public let size: Int64

    public init(number: Int, etag: String, size: Int64) {
        self.number = number
        self.etag = etag
        self.size = size
    }
}

/// The S3 REST operations a registry needs, signed with SigV4, retried with backoff on
/// throttling (`SlowDown`), server errors and failed connections. Bodies are sent with a known
/// length (S3 takes chunked bodies only in its own signed framing), so every upload is a buffer
/// of at most one part.
public final class S3Client: Sendable {
    public let location: S3Location
    let signer: SigV4Signer
    let http: HTTPClient
    let maxAttempts: Int
    /// The Host header, with the port when it is not the scheme's default (it is signed).
    let host: String
    let secure: Bool

    public init(location: S3Location, credentials: AWSCredentials, maxAttempts: Int = 6) {
        self.location = location
        self.maxAttempts = maxAttempts
        signer = SigV4Signer(credentials: credentials, region: location.region)
        secure = location.endpoint.scheme?.lowercased() != "http"
        let endpointHost = location.endpoint.host ?? "localhost"
        let port = location.endpoint.port
        let hostOnly = location.pathStyle ? endpointHost : "\(location.bucket).\(endpointHost)"
        host = port.map { "\(hostOnly):\($0)" } ?? hostOnly
        var tls = TLSConfiguration.makeClientConfiguration()
        if location.skipVerify { tls.certificateVerification = .none }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(120)))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws { try await http.shutdown() }

    // MARK: objects

    /// Whether the bucket answers to these credentials (startup and readiness checks).
    public func checkBucket() async throws {
        _ = try await send("HEAD", key: nil, operation: "HeadBucket")
    }

    public func putObject(_ key: String, _ body: ByteBuffer, ifNoneMatch: Bool = false) async throws {
        var headers = objectHeaders()
        if ifNoneMatch { headers.append(("If-None-Match", "*")) }
        _ = try await send("PUT", key: key, headers: headers, body: body, operation: "PutObject")
    }

    /// The object's size, or nil when there is no such object.
    public func headObject(_ key: String) async throws -> Int64? {
        do {
            let response = try await send("HEAD", key: key, operation: "HeadObject")
            return response.headers.first(name: "content-length").flatMap(Int64.init)
        } catch let error as S3Error where error.isNotFound {
            return nil
        }
    }

    /// The object's bytes (a `range` of them when given), streamed as they arrive.
    public func getObject(_ key: String, range: ClosedRange<Int64>? = nil) async throws -> HTTPClientResponse.Body {
        let headers = range.map { [("Range", "bytes=\($0.lowerBound)-\($0.upperBound)")] } ?? []
        return try await send("GET", key: key, headers: headers, operation: "GetObject", keepBody: true).body
    }

    /// A whole small object in memory (at most `limit` bytes).
    public func getSmallObject(_ key: String, limit: Int) async throws -> ByteBuffer {
        let body = try await getObject(key)
        return try await body.collect(upTo: limit)
    }

    /// Deletes an object; a missing one is not an error (S3 answers 204 either way).
    public func deleteObject(_ key: String) async throws {
        _ = try await send("DELETE", key: key, operation: "DeleteObject")
    }

    /// Objects under `prefix` in key order, page by page (S3 returns at most 1000 a page).
    public func listObjects(prefix: String, continuation: String? = nil) async throws -> (objects: [S3Object], next: String?) {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", prefix)]
        if let continuation { query.append(("continuation-token", continuation)) }
        let response = try await send("GET", key: nil, query: query, operation: "ListObjectsV2", keepBody: true)
        let text = try await Self.text(response)
        let objects = S3XML.elements("Contents", in: text[...]).compactMap { entry -> S3Object? in
            guard let key = S3XML.value("Key", in: entry), let size = S3XML.value("Size", in: entry).flatMap(Int64.init) else { return nil }
            return S3Object(key: key, size: size, lastModified: S3XML.value("LastModified", in: entry).flatMap(Self.parseDate))
        }
        let truncated = S3XML.value("IsTruncated", in: text[...]) == "true"
        return (objects, truncated ? S3XML.value("NextContinuationToken", in: text[...]) : nil)
    }

    // MARK: multipart uploads

    public func createMultipartUpload(_ key: String) async throws -> String {
        let response = try await send("POST", key: key, query: [("uploads", "")], headers: objectHeaders(), operation: "CreateMultipartUpload", keepBody: true)
        let text = try await Self.text(response)
        guard let id = S3XML.value("UploadId", in: text[...]) else {
            throw S3Error(operation: "CreateMultipartUpload", key: key, status: 200, code: "MalformedResponse", message: "no UploadId")
        }
        return id
    }

    /// Sends one part; returns its ETag.
    public func uploadPart(_ key: String, uploadID: String, number: Int, _ body: ByteBuffer) async throws -> S3Part {
        let response = try await send(
            "PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: body, operation: "UploadPart")
        guard let etag = response.headers.first(name: "etag") else {
            throw S3Error(operation: "UploadPart", key: key, status: 200, code: "MalformedResponse", message: "no ETag")
        }
        return S3Part(number: number, etag: etag, size: Int64(body.readableBytes))
    }

    /// Joins the parts into the object. S3 can answer 200 and still fail (an `<Error>` body):
    /// that is read and thrown (and retried when it is a transient fault).
    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [S3Part]) async throws {
        let list = parts.sorted { $0.number < $1.number }
            .map { "<Part><PartNumber>\($0.number)</PartNumber><ETag>\(S3XML.escape($0.etag))</ETag></Part>" }.joined()
        let body = ByteBuffer(string: "<CompleteMultipartUpload>\(list)</CompleteMultipartUpload>")
        _ = try await send(
            "POST", key: key, query: [("uploadId", uploadID)], body: body, operation: "CompleteMultipartUpload", errorInBody: true)
    }

    /// Abandons an upload and frees its parts; an upload that is already gone is not an error.
    public func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        do {
            _ = try await send("DELETE", key: key, query: [("uploadId", uploadID)], operation: "AbortMultipartUpload")
        } catch let error as S3Error where error.isNotFound {}
    }

    /// Multipart uploads in progress under `prefix` (every page).
    public func listMultipartUploads(prefix: String) async throws -> [S3MultipartUpload] {
        var uploads: [S3MultipartUpload] = []
        var marker: (key: String, id: String)?
        while true {
            var query: [(name: String, value: String)] = [("uploads", ""), ("prefix", prefix)]
            if let marker { query += [("key-marker", marker.key), ("upload-id-marker", marker.id)] }
            let response = try await send("GET", key: nil, query: query, operation: "ListMultipartUploads", keepBody: true)
            let text = try await Self.text(response)
            for entry in S3XML.elements("Upload", in: text[...]) {
                guard let key = S3XML.value("Key", in: entry), let id = S3XML.value("UploadId", in: entry) else { continue }
                uploads.append(S3MultipartUpload(key: key, uploadID: id, initiated: S3XML.value("Initiated", in: entry).flatMap(Self.parseDate)))
            }
            guard S3XML.value("IsTruncated", in: text[...]) == "true", let key = S3XML.value("NextKeyMarker", in: text[...]),
                let id = S3XML.value("NextUploadIdMarker", in: text[...])
            else { return uploads }
            marker = (key, id)
        }
    }

    // MARK: presigned URLs

    /// A URL anyone can GET (or HEAD, or send with `Range`) for `expires` seconds.
    public func presignedURL(_ key: String, method: String = "GET", expires: Int, date: Date = Date()) -> String {
        let path = objectPath(key)
        let query = signer.presignedQuery(method: method, host: host, path: path, expires: expires, date: date)
        return "\(secure ? "https" : "http")://\(host)\(path)?\(query)"
    }

    // MARK: the request loop

    private func objectHeaders() -> [(String, String)] {
        var headers: [(String, String)] = [("Content-Type", "application/octet-stream")]
        if let storageClass = location.storageClass { headers.append(("x-amz-storage-class", storageClass)) }
        if location.encrypt {
            if let key = location.kmsKeyID {
                headers += [("x-amz-server-side-encryption", "aws:kms"), ("x-amz-server-side-encryption-aws-kms-key-id", key)]
            } else {
                headers.append(("x-amz-server-side-encryption", "AES256"))
            }
        }
        return headers
    }

    func objectPath(_ key: String?) -> String {
        let encodedKey = key.map { SigV4Signer.encode($0, keepSlash: true) } ?? ""
        return location.pathStyle ? "/\(location.bucket)/\(encodedKey)" : "/\(encodedKey)"
    }

    /// Sends a request, retrying transient failures with exponential backoff and jitter. Bodies
    /// are buffers, so a retry sends the same bytes. Non-2xx answers become `S3Error`s.
    private func send(
        _ method: String, key: String?, query: [(name: String, value: String)] = [], headers: [(String, String)] = [],
        body: ByteBuffer? = nil, operation: String, keepBody: Bool = false, errorInBody: Bool = false
    ) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await sendOnce(
                    method, key: key, query: query, headers: headers, body: body, operation: operation, keepBody: keepBody, errorInBody: errorInBody)
            } catch let error as S3Error where error.isTransient && attempt < maxAttempts {
                let backoff = min(5.0, 0.1 * pow(2.0, Double(attempt - 1)))
                try await Task.sleep(for: .milliseconds(Int(backoff * 1000 * Double.random(in: 0.5...1.0))))
            }
        }
    }

    private func sendOnce(
        _ method: String, key: String?, query: [(name: String, value: String)], headers: [(String, String)], body: ByteBuffer?,
        operation: String, keepBody: Bool, errorInBody: Bool
    ) async throws -> HTTPClientResponse {
        let path = objectPath(key)
        var signable = SignableRequest(method: method, path: path, query: query, headers: [("Host", host)] + headers.map { ($0.0, $0.1) })
        if let body { signable.headers.append(("Content-Length", String(body.readableBytes))) }
        // Over TLS the transport protects the body; over plain HTTP S3 gets its hash to check.
        let payloadHash: String
        if let body, !secure {
            payloadHash = body.withUnsafeReadableBytes { SigV4Signer.hex(SHA256.hash(data: $0)) }
        } else if body == nil {
            payloadHash = SigV4Signer.emptyPayloadHash
        } else {
            payloadHash = SigV4Signer.unsignedPayload
        }
        signer.sign(&signable, payloadHash: payloadHash, date: Date())
        let queryString = query.map { "\(SigV4Signer.encode($0.name))=\(SigV4Signer.encode($0.value))" }.joined(separator: "&")
        var request = HTTPClientRequest(url: "\(secure ? "https" : "http")://\(host)\(path)\(queryString.isEmpty ? "" : "?" + queryString)")
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in signable.headers where name != "Content-Length" { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let what = key ?? ""
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(300))
        } catch {
            throw S3Error(operation: operation, key: what, status: 0, code: "", message: "\(location.endpoint.absoluteString): \(error)")
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let text = method == "HEAD" ? "" : String(buffer: (try? await response.body.collect(upTo: 64 << 10)) ?? ByteBuffer())
            throw S3Error(
                operation: operation, key: what, status: status,
                code: S3XML.value("Code", in: text[...]) ?? response.status.reasonPhrase, message: S3XML.value("Message", in: text[...]) ?? "")
        }
        if errorInBody {
            let text = try await Self.text(response)
            if text.contains("<Error>") {
                throw S3Error(
                    operation: operation, key: what, status: status, code: S3XML.value("Code", in: text[...]) ?? "InternalError",
                    message: S3XML.value("Message", in: text[...]) ?? "")
            }
            return response
        }
        if !keepBody, method != "HEAD" {
            // Drain so the connection goes back to the pool.
            for try await _ in response.body {}
        }
        return response
    }

    private static func text(_ response: HTTPClientResponse) async throws -> String {
        String(buffer: try await response.body.collect(upTo: 16 << 20))
    }

    static func parseDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
