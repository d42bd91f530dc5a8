import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import OCI
import Synchronization

/// Login for one registry.
public struct Credentials: Sendable, Equatable {
    public let username: String
    public let password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

public struct ClientOptions: Sendable {
    /// Verify TLS certificates; when false, HTTPS is tried without verification and plain HTTP after it.
    public var tlsVerify = true
    public var credentials: Credentials?
    /// How often a failed request is repeated (connection errors, 5xx, 429); never for other 4xx.
    public var retryTimes = 3
    /// The first backoff; it doubles with every retry unless the registry sends `Retry-After`.
    public var retryDelay: Duration = .milliseconds(200)
    /// A directory of `*.crt` CA certificates and `*.cert`/`*.key` client pairs (as skopeo's
    /// `--cert-dir`); when nil, `certs.d/<host[:port]>` under /etc/containers, /etc/docker and
    /// ~/.config/containers is used if it exists.
    public var certDirectory: String?
    /// A Bearer token sent as is (`--registry-token`), instead of logging in.
    public var registryToken: String?
    /// "https" or "http" when the caller knows (a URL it was configured with); nil probes as skopeo does.
    public var scheme: String?
    /// How long a request may wait for the answer's status line and headers (never the body).
    public var responseTimeout: Duration = .seconds(24 * 3600)
    /// How long a body may go without a byte before the transfer fails; nil waits for ever.
    public var idleReadTimeout: Duration?
    /// Send the credentials only to a Bearer realm on the registry's host or a sibling name of it.
    public var realmsNearRegistryOnly = false

    public init() {}
}

/// A client for one registry host (`host[:port]`), speaking the OCI distribution spec.
public final class RegistryClient: Sendable {
    public let registry: String
    public let options: ClientOptions
    private let session: AuthSession
    /// "https" or "http", settled by the first request.
    private let scheme = Mutex<String?>(nil)
    private let signatureExtension = Mutex<Bool?>(nil)

    let http: HTTPClient

    /// `registry` is the host to talk to; Docker Hub's `docker.io` is served by `registry-1.docker.io`.
    public init(registry: String, options: ClientOptions = .init()) throws {
        self.registry = registry == "docker.io" ? "registry-1.docker.io" : registry
        self.options = options
        session = AuthSession(
            registry: self.registry, credentials: options.credentials, token: options.registryToken, realmsNearRegistryOnly: options.realmsNearRegistryOnly)
        http = try HTTPClients.shared.client(
            verify: options.tlsVerify, certDirectory: options.certDirectory ?? HTTPClients.certsD(for: registry), idleReadTimeout: options.idleReadTimeout)
        scheme.withLock { $0 = options.scheme }
    }

    // MARK: operations

    /// `GET /v2/`: checks the registry is reachable and the credentials (if any) are accepted.
    public func ping() async throws {
        let response = try await send(.GET, "/v2/", scope: nil)
        try await expect(response, [200], "/v2/")
        _ = try? await response.body.collect(upTo: 1 << 20)
    }

    /// Whether `/v2/` announces the signature extension API (`X-Registry-Supports-Signatures: 1`);
    /// asked once per client.
    public func supportsSignatureExtension() async throws -> Bool {
        if let known = signatureExtension.withLock({ $0 }) { return known }
        let response = try await send(.GET, "/v2/", scope: nil)
        try await expect(response, [200], "/v2/")
        _ = try? await response.body.collect(upTo: 1 << 20)
        let supported = response.headers.first(name: "X-Registry-Supports-Signatures") == "1"
        signatureExtension.withLock { $0 = supported }
        return supported
    }

    /// Simple signatures stored through the extension API for a manifest.
    public func signatures(_ repository: RepositoryName, _ digest: Digest) async throws -> [[UInt8]] {
        let path = "/extensions/v2/\(repository)/signatures/\(digest)"
        let response = try await send(.GET, path, scope: pull(repository))
        if response.status == .notFound { return [] }
        try await expect(response, [200], path)
        let body = try await response.body.collect(upTo: 16 << 20)
        struct List: Decodable {
            struct Entry: Decodable {
                let schemaVersion: Int?
                let type: String?
                let content: String?
            }
            let signatures: [Entry]?
        }
        guard let list = try? JSONDecoder().decode(List.self, from: Data(body.readableBytesView)) else {
            throw ClientError.invalidResponse(url: url(path), "signature list is not JSON")
        }
        // Entries of other versions or types are not ours to interpret (as containers/image does).
        return (list.signatures ?? []).filter { $0.schemaVersion == 2 && $0.type == "atomic" }.compactMap { entry in
            entry.content.flatMap { Data(base64Encoded: $0) }.map(Array.init)
        }
    }

    /// Stores one simple signature through the extension API (skipped when already there).
    public func putSignature(_ repository: RepositoryName, _ digest: Digest, _ signature: [UInt8]) async throws {
        if try await signatures(repository, digest).contains(signature) { return }
        let path = "/extensions/v2/\(repository)/signatures/\(digest)"
        let id = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let body = try JSONSerialization.data(withJSONObject: [
            "schemaVersion": 2, "type": "atomic", "name": "\(digest)@\(id)", "content": Data(signature).base64EncodedString(),
        ])
        let response = try await send(
            .PUT, path, headers: [("Content-Type", "application/json")], body: ByteBuffer(bytes: Array(body)), scope: push(repository))
        try await expect(response, [201], path)
    }

    public struct FetchedManifest: Sendable {
        public let digest: Digest
        public let mediaType: String
        public let bytes: [UInt8]
    }

    public static let manifestMediaTypes = [
        MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList,
    ]

    /// Fetches a manifest; its bytes are checked against the digest asked for, or the one the registry sent.
    public func manifest(_ repository: RepositoryName, _ reference: ManifestReference, accept: [String] = manifestMediaTypes)
        async throws -> FetchedManifest
    {
        let path = "/v2/\(repository)/manifests/\(reference)"
        let response = try await send(.GET, path, headers: [("Accept", accept.joined(separator: ", "))], scope: pull(repository))
        try await expect(response, [200], path)
        var body = try await response.body.collect(upTo: 16 << 20)
        let bytes = body.readBytes(length: body.readableBytes) ?? []
        let expected: Digest?
        switch reference {
        case .digest(let d): expected = d
        case .tag: expected = try response.headers.first(name: "Docker-Content-Digest").map { try Digest(parsing: $0) }
        }
        let digest = Digest.of(bytes, algorithm: expected?.algorithm ?? .sha256)
        if let expected, expected != digest { throw ClientError.digestMismatch(expected: expected, actual: digest) }
        let mediaType = response.headers.first(name: "Content-Type").map { String($0.split(separator: ";")[0]) } ?? MediaType.ociManifest
        return FetchedManifest(digest: digest, mediaType: mediaType, bytes: bytes)
    }

    /// The digest, media type and size of a manifest, from a HEAD (which Docker Hub does not count
    /// as a pull); nil when the repository has no such manifest.
    public func manifestDescriptor(_ repository: RepositoryName, _ reference: ManifestReference) async throws -> Descriptor? {
        let path = "/v2/\(repository)/manifests/\(reference)"
        let response = try await send(.HEAD, path, headers: [("Accept", Self.manifestMediaTypes.joined(separator: ", "))], scope: pull(repository))
        if response.status == .notFound { return nil }
        try await expect(response, [200], path)
        guard let digest = try response.headers.first(name: "Docker-Content-Digest").map({ try Digest(parsing: $0) }) else {
            throw ClientError.invalidResponse(url: url(path), "no Docker-Content-Digest on a manifest HEAD")
        }
        let mediaType = response.headers.first(name: "Content-Type").map { String($0.split(separator: ";")[0]) } ?? MediaType.ociManifest
        return Descriptor(mediaType: mediaType, digest: digest, size: response.headers.first(name: "Content-Length").flatMap(Int64.init) ?? 0)
    }

    /// The blob's size when the repository has it, nil when it does not.
    public func blobSize(_ repository: RepositoryName, _ digest: Digest) async throws -> Int64? {
        let path = "/v2/\(repository)/blobs/\(digest)"
        let response = try await send(.HEAD, path, scope: pull(repository))
        if response.status == .notFound { return nil }
        try await expect(response, [200], path)
        guard let length = response.headers.first(name: "Content-Length").flatMap(Int64.init) else {
            throw ClientError.invalidResponse(url: url(path), "no Content-Length on a blob HEAD")
        }
        return length
    }

    /// Opens a blob for streaming; the body is checked against `digest` (and `size`) as it is read,
    /// and its last step throws on a mismatch, so a consumer must not commit before the end.
    public func openBlob(_ repository: RepositoryName, _ digest: Digest, size: Int64? = nil) async throws
        -> DigestingSequence<ResumingBlobBody>
    {
        DigestingSequence(try await unverifiedBlob(repository, digest), expected: digest, expectedSize: size)
    }

    /// A blob's body as it arrives, for callers that verify it themselves. A connection that
    /// breaks mid-body is resumed with `Range` from the byte reached (up to `retryTimes` times).
    public func unverifiedBlob(_ repository: RepositoryName, _ digest: Digest) async throws -> ResumingBlobBody {
        let path = "/v2/\(repository)/blobs/\(digest)"
        let response = try await send(.GET, path, scope: pull(repository))
        try await expect(response, [200], path)
        return ResumingBlobBody(
            first: response.body, declaredLength: response.headers.first(name: "Content-Length").flatMap(Int64.init), client: self, path: path,
            scope: pull(repository))
    }

    /// The rest of a blob from `offset`: a 206 answer's body, or nil when the registry cannot resume.
    func blobRemainder(_ path: String, from offset: Int64, scope: String) async throws -> HTTPClientResponse.Body? {
        let response = try await send(.GET, path, headers: [("Range", "bytes=\(offset)-")], scope: scope)
        guard response.status == .partialContent,
            response.headers.first(name: "Content-Range")?.hasPrefix("bytes \(offset)-") == true
        else {
            _ = try? await response.body.collect(upTo: 1 << 20)
            return nil
        }
        return response.body
    }

    /// Streams a blob to `consume`, verified as `openBlob` does.
    public func fetchBlob(
        _ repository: RepositoryName, _ digest: Digest, size: Int64? = nil, into consume: (ByteBuffer) async throws -> Void
    ) async throws {
        for try await chunk in try await openBlob(repository, digest, size: size) { try await consume(chunk) }
    }

    /// The manifests whose `subject` is `digest` (OCI 1.1): from the referrers API, or where the
    /// registry lacks it (404), from the referrers tag schema's index (`sha256-<hex>`).
    public func referrers(_ repository: RepositoryName, _ digest: Digest) async throws -> [Descriptor] {
        var all: [Descriptor] = []
        var next: String? = "/v2/\(repository)/referrers/\(digest)"
        var pages = 0
        while let path = next, pages < 1000 {
            pages += 1
            let response = try await send(.GET, path, headers: [("Accept", MediaType.ociIndex)], scope: pull(repository))
            if response.status == .notFound, pages == 1 {
                _ = try? await response.body.collect(upTo: 1 << 20)
                let tag = try Tag(parsing: "\(digest.algorithm.rawValue)-\(digest.encoded.prefix(64))")
                guard try await manifestDescriptor(repository, .tag(tag)) != nil else { return [] }
                let index = try await manifest(repository, .tag(tag), accept: [MediaType.ociIndex])
                return (try? JSONDecoder().decode(ImageIndex.self, from: Data(index.bytes)))?.manifests ?? []
            }
            try await expect(response, [200], path)
            let body = try await response.body.collect(upTo: 16 << 20)
            guard let index = try? JSONDecoder().decode(ImageIndex.self, from: Data(body.readableBytesView)) else {
                throw ClientError.invalidResponse(url: url(path), "referrers answer is not an image index")
            }
            all += index.manifests
            next = response.headers.first(name: "Link").flatMap(Self.nextLink)
        }
        return all
    }

    /// Every tag of a repository, following `Link` pages.
    public func tags(_ repository: RepositoryName) async throws -> [String] {
        var all: [String] = []
        var next: String? = "/v2/\(repository)/tags/list"
        var pages = 0
        while let path = next {
            pages += 1
            guard pages <= 100_000 else { throw ClientError.invalidResponse(url: url(path), "tag pages do not end") }
            let response = try await send(.GET, path, scope: pull(repository))
            try await expect(response, [200], path)
            let body = try await response.body.collect(upTo: 64 << 20)
            struct TagList: Decodable { let tags: [String]? }
            do {
                all += try JSONDecoder().decode(TagList.self, from: Data(body.readableBytesView)).tags ?? []
            } catch {
                throw ClientError.invalidResponse(url: url(path), "tag list is not JSON")
            }
            next = response.headers.first(name: "Link").flatMap(Self.nextLink)
        }
        return all
    }

    /// Deletes a manifest by digest; like skopeo, only 202 counts as success.
    public func deleteManifest(_ repository: RepositoryName, _ digest: Digest) async throws {
        let path = "/v2/\(repository)/manifests/\(digest)"
        let response = try await send(.DELETE, path, scope: "repository:\(repository):delete")
        try await expect(response, [202], path)
    }

    /// Removes a tag (the manifest stays while other tags or digests name it). Registries that
    /// only delete by digest answer 400 or 405 with `UNSUPPORTED`.
    public func deleteManifest(_ repository: RepositoryName, tag: Tag) async throws {
        let path = "/v2/\(repository)/manifests/\(tag)"
        let response = try await send(.DELETE, path, scope: "repository:\(repository):delete")
        try await expect(response, [202], path)
    }

    /// Stores a manifest under a tag or digest and returns the digest the registry reports.
    @discardableResult
    public func putManifest(_ repository: RepositoryName, _ reference: ManifestReference, mediaType: String, bytes: [UInt8])
        async throws -> Digest
    {
        let path = "/v2/\(repository)/manifests/\(reference)"
        let response = try await send(
            .PUT, path, headers: [("Content-Type", mediaType)], body: ByteBuffer(bytes: bytes), scope: push(repository))
        try await expect(response, [201], path)
        let local = Digest.of(bytes)
        return try response.headers.first(name: "Docker-Content-Digest").map { try Digest(parsing: $0) } ?? local
    }

    /// Links a blob from `source` into `repository` without sending it; false when the registry
    /// would rather receive it (a started session is cancelled).
    public func mount(_ digest: Digest, into repository: RepositoryName, from source: RepositoryName) async throws -> Bool {
        let path = "/v2/\(repository)/blobs/uploads/?mount=\(digest)&from=\(source)"
        let response = try await send(.POST, path, scope: "\(push(repository)) \(pull(source))")
        if response.status == .created { return true }
        try await expect(response, [202], path)
        if let location = response.headers.first(name: "Location") {
            _ = try? await send(.DELETE, location, scope: push(repository))
        }
        return false
    }

    /// Uploads a blob in one streamed PUT (POST for a session, then `PUT ?digest=` with the body).
    public func pushBlob(
        _ repository: RepositoryName, _ digest: Digest, size: Int64,
        body: @escaping @Sendable () -> some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws {
        let start = "/v2/\(repository)/blobs/uploads/"
        let session = try await send(.POST, start, scope: push(repository))
        try await expect(session, [202], start)
        guard let location = session.headers.first(name: "Location") else {
            throw ClientError.invalidResponse(url: url(start), "no Location for the upload session")
        }
        let separator = location.contains("?") ? "&" : "?"
        let put = location + separator + "digest=\(digest)"
        let response = try await send(
            .PUT, put, headers: [("Content-Type", MediaType.octetStream)], streaming: (size, body), scope: push(repository))
        try await expect(response, [201], put)
    }

    /// Uploads a blob whose digest is known only at its end (compressed on the fly): one streamed
    /// PATCH, then `PUT ?digest=` with what was hashed, as skopeo does. Returns the digest and size.
    public func pushBlob(_ repository: RepositoryName, streaming body: some AsyncSequence<ByteBuffer, any Error> & Sendable)
        async throws -> (digest: Digest, size: Int64)
    {
        let start = "/v2/\(repository)/blobs/uploads/"
        let session = try await send(.POST, start, scope: push(repository))
        try await expect(session, [202], start)
        guard let location = session.headers.first(name: "Location") else {
            throw ClientError.invalidResponse(url: url(start), "no Location for the upload session")
        }
        let result = DigestResult()
        let hashed = DigestingSequence(body, result: result)
        let patched = try await send(
            .PATCH, location, headers: [("Content-Type", MediaType.octetStream)], streaming: (nil, { hashed }), scope: push(repository))
        try await expect(patched, [202], location)
        guard let (digest, size) = result.value, let next = patched.headers.first(name: "Location") else {
            throw ClientError.invalidResponse(url: url(location), "upload session ended without a Location")
        }
        let put = next + (next.contains("?") ? "&" : "?") + "digest=\(digest)"
        let response = try await send(.PUT, put, scope: push(repository))
        try await expect(response, [201], put)
        return (digest, size)
    }

    // MARK: HTTP

    func pull(_ repository: RepositoryName) -> String { "repository:\(repository):pull" }
    func push(_ repository: RepositoryName) -> String { "repository:\(repository):pull,push" }

    func url(_ pathOrURL: String) -> String {
        pathOrURL.hasPrefix("http://") || pathOrURL.hasPrefix("https://") ? pathOrURL : "\(scheme.withLock { $0 } ?? "https")://\(registry)\(pathOrURL)"
    }

    /// Sends a request with authentication, retries and redirects handled.
    func send(
        _ method: HTTPMethod, _ pathOrURL: String, headers: [(String, String)] = [], body: ByteBuffer? = nil,
        streaming: (Int64?, @Sendable () -> any AsyncSequence<ByteBuffer, any Error> & Sendable)? = nil, scope: String?
    ) async throws -> HTTPClientResponse {
        var attempt = 0
        var authenticated = false
        var target = try await resolve(pathOrURL)
        var redirects = 0
        while true {
            var request = HTTPClientRequest(url: target)
            request.method = method
            request.headers.add(name: "User-Agent", value: "berth")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            let sameHost = URL(string: target)?.host == URL(string: url("/"))?.host
            if sameHost, let authorization = try await session.authorization(for: scope, using: http) {
                request.headers.add(name: "Authorization", value: authorization)
            }
            if let body { request.body = .bytes(body) }
            if let (length, makeBody) = streaming { request.body = .stream(makeBody(), length: length.map { .known($0) } ?? .unknown) }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .nanoseconds(Int64(options.responseTimeout / .nanoseconds(1))))
            } catch {
                if attempt < options.retryTimes, streaming == nil {
                    attempt += 1
                    try await Task.sleep(for: options.retryDelay * (1 << (attempt - 1)))
                    continue
                }
                throw ClientError.transport(url: target, TransportFailure.describe(error, url: target))
            }
            switch response.status.code {
            case 401 where !authenticated && sameHost:
                authenticated = true
                let challenges = response.headers[canonicalForm: "WWW-Authenticate"].flatMap { AuthChallenge.parse(String($0)) }
                _ = try? await response.body.collect(upTo: 1 << 20)
                try await session.answer(challenges, scope: scope, using: http, registryURL: url("/"))
                continue
            case 301, 302, 303, 307, 308:
                guard [HTTPMethod.GET, .HEAD].contains(method) else { return response }
                guard redirects < 5, let location = response.headers.first(name: "Location"),
                    let next = URL(string: location, relativeTo: URL(string: target))?.absoluteString
                else { throw ClientError.invalidResponse(url: target, "bad redirect") }
                redirects += 1
                target = next
                continue
            case 429, 500...599:
                guard attempt < options.retryTimes, streaming == nil else { return response }
                attempt += 1
                let retryAfter = response.headers.first(name: "Retry-After").flatMap(Self.retryAfterSeconds).map { Duration.seconds($0) }
                _ = try? await response.body.collect(upTo: 1 << 20)
                try await Task.sleep(for: retryAfter ?? options.retryDelay * (1 << (attempt - 1)))
                continue
            default:
                return response
            }
        }
    }

    private func resolve(_ pathOrURL: String) async throws -> String {
        if pathOrURL.hasPrefix("http://") || pathOrURL.hasPrefix("https://") { return pathOrURL }
        if scheme.withLock({ $0 }) == nil {
            let probed = try await probeScheme()
            scheme.withLock { $0 = $0 ?? probed }
        }
        return url(pathOrURL)
    }

    /// HTTPS, or with `tlsVerify` off and HTTPS unreachable, plain HTTP (as skopeo does).
    private func probeScheme() async throws -> String {
        if options.tlsVerify { return "https" }
        var request = HTTPClientRequest(url: "https://\(registry)/v2/")
        request.method = .GET
        if let response = try? await http.execute(request, timeout: .seconds(10)) {
            _ = try? await response.body.collect(upTo: 1 << 20)
            return "https"
        }
        return "http"
    }

    func expect(_ response: HTTPClientResponse, _ statuses: Set<Int>, _ path: String) async throws {
        guard !statuses.contains(Int(response.status.code)) else { return }
        var code: String?
        var message: String?
        if let body = try? await response.body.collect(upTo: 1 << 20) {
            struct ErrorBody: Decodable {
                struct Entry: Decodable {
                    let code: String?
                    let message: String?
                }
                let errors: [Entry]?
            }
            let first = (try? JSONDecoder().decode(ErrorBody.self, from: Data(body.readableBytesView)))?.errors?.first
            code = first?.code
            message = first?.message
        }
        if response.status == .unauthorized {
            throw ClientError.authentication(registry: registry, message ?? "credentials were refused")
        }
        if response.status == .tooManyRequests {
            throw ClientError.rateLimited(url: url(path), retryAfter: response.headers.first(name: "Retry-After").flatMap(Self.retryAfterSeconds))
        }
        throw ClientError.status(url: url(path), status: Int(response.status.code), code: code, message: message)
    }

    /// `Retry-After` in seconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
    static func retryAfterSeconds(_ value: String) -> Int? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(text) { return max(seconds, 0) }
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "GMT")
        format.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = format.date(from: text) else { return nil }
        return max(Int(date.timeIntervalSinceNow.rounded(.up)), 0)
    }

    /// The target of `Link: <…>; rel="next"`.
    static func nextLink(_ header: String) -> String? {
        for part in header.split(separator: ",") where part.contains("rel=\"next\"") || part.contains("rel=next") {
            guard let open = part.firstIndex(of: "<"), let close = part.firstIndex(of: ">"), open < close else { continue }
            return String(part[part.index(after: open)..<close])
        }
        return nil
    }
}
