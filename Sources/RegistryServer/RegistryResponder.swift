import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OCI
import PullThroughCache
import RegistryUI
import RegistryStorage

/// Answers every request under `/v2/` by calling `Registry`, and logs one line per request.
struct RegistryResponder: HTTPResponder {
    typealias Context = RegistryRequestContext

    let registry: Registry
    let config: ServerConfig
    let logger: Logger
    /// Checks every request when `auth.htpasswd` is configured.
    let authenticator: HtpasswdAuthenticator?
    /// Checks every request's Bearer token and scope when `auth.token` or `berth.tokenserver` is configured.
    let tokens: TokenAuthenticator?
    /// Answers `/auth/token` when `berth.tokenserver` is configured.
    let issuer: TokenIssuer?
    let metrics: RegistryMetrics
    /// Names the requests that hang.
    let slowRequests: SlowRequests
    /// Queues webhook events when `notifications.endpoints` are configured.
    let notifier: Notifier?
    /// Fills the repositories of `proxy:`/`berth.cache:` upstreams on demand.
    let cache: PullThroughCache?
    /// The web interface under `berth.ui.basepath`, when enabled.
    let ui: RegistryUI?

    /// Blob bytes are read from disk in slices of this size while streaming to the client.
    /// Blobs from this size on are sent with sendfile; smaller ones are cheaper as one buffer.
    static let zeroCopyThreshold: Int64 = 64 << 10

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let token = slowRequests.begin(request)
        defer { slowRequests.end(token) }
        if let ui {
            if ui.handles(request.uri.path) {
                let response = await ui.respond(to: request)
                logger.info("\(request.method) \(request.uri.path) \(response.status.code) \(Self.milliseconds(since: started))ms")
                return response
            }
            if request.uri.path == "/" { return Response(status: .seeOther, headers: [.location: ui.settings.basePath + "/"]) }
        }
        // Parsed once: authorisation, routing, webhooks and metrics all need it.
        let parsed = Result<Route, any Error> { try Route.parse(path: request.uri.path) }
        var response: Response
        var user: String?
        do {
            if let authenticator {
                do { user = try await authenticator.authenticate(request.headers[.authorization]) } catch {
                    if request.headers[.authorization] != nil { metrics.authenticationFailed() }
                    throw error
                }
            }
            if let tokens, try parsed.get() != .token {
                let needs = TokenAuthenticator.scopes(for: try parsed.get(), method: request.method, mountSource: Self.query(request)["from"])
                do { user = try await tokens.authorize(request.headers[.authorization], needs: needs, realm: builtinRealm(request)) } catch {
                    if request.headers[.authorization] != nil { metrics.authenticationFailed() }
                    throw error
                }
            }
            response = try await Self.$forwardedBase.withValue(forwardedBase(request)) { [user] in
                try await route(try parsed.get(), request, context, user: user)
            }
        } catch {
            var spec = SpecError(from: error)
            // A tag that cannot exist is not found (distribution and zot answer so, and the
            // conformance suite asks for `.INVALID_MANIFEST_NAME`); only pushing it is invalid.
            if case Route.ParseError.tag(let invalid) = error, request.method != .put { spec = SpecError(.manifestUnknown, invalid.description) }
            if spec.code == .unknown { logger.error("\(request.method) \(request.uri.path): \(error)") }
            if spec.code == .unavailable { logger.warning("\(request.method) \(request.uri.path): \(spec.detail)") }
            response = spec.response(includeBody: request.method != .head)
        }
        response.headers[.dockerAPIVersion] = "registry/2.0"
        // What a pusher stored never renders as a page in this origin, which the UI shares.
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.contentSecurityPolicy] = "sandbox"
        if let notifier, (200..<300).contains(response.status.code), let route = try? parsed.get() {
            await notify(notifier, route, request, response, user: user)
        }
        metrics.request(
            route: Self.routeLabel(try? parsed.get()), method: request.method.rawValue, status: response.status.code,
            elapsed: ContinuousClock.now - started, bytesIn: request.headers[.contentLength].flatMap(Int64.init) ?? 0,
            bytesOut: response.headers[.contentLength].flatMap(Int64.init) ?? 0)
        // The message is an autoclosure: nothing below is computed when info is off.
        logger.info(
            "\(request.method) \(request.uri.path) \(response.status.code) \(response.headers[.contentLength] ?? "-") \(Self.milliseconds(since: started))ms"
        )
        return response
    }

    /// The webhook event a successful request makes, if any (distribution's: manifest and blob
    /// pushes, pulls and deletes).
    private func notify(_ notifier: Notifier, _ route: Route, _ request: Request, _ response: Response, user: String?) async {
        let digest = response.headers[.dockerContentDigest] ?? ""
        let base = config.externalURL ?? "http://\(request.head.authority ?? "\(config.host):\(config.port)")"
        func target(_ name: RepositoryName, kind: String, mediaType: String, digest: String, size: Int64, tag: String?) -> Notifier.Target {
            Notifier.Target(mediaType: mediaType, digest: digest, size: size, repository: name.value, tag: tag, url: "\(base)/v2/\(name)/\(kind)/\(digest)")
        }
        let requestSize = request.headers[.contentLength].flatMap(Int64.init) ?? 0
        let responseSize = response.headers[.contentLength].flatMap(Int64.init) ?? 0
        let event: (String, Notifier.Target)
        switch (route, request.method) {
        case (.manifest(let name, let reference), .put):
            event = ("push", target(name, kind: "manifests", mediaType: request.headers[.contentType] ?? "", digest: digest, size: requestSize, tag: Self.tag(reference)))
        case (.manifest(let name, let reference), .get):
            event = ("pull", target(name, kind: "manifests", mediaType: response.headers[.contentType] ?? "", digest: digest, size: responseSize, tag: Self.tag(reference)))
        case (.manifest(let name, let reference), .delete):
            event = ("delete", target(name, kind: "manifests", mediaType: "", digest: Self.tag(reference) == nil ? "\(reference)" : "", size: 0, tag: Self.tag(reference)))
        case (.blob(let name, let blob), .get):
            event = ("pull", target(name, kind: "blobs", mediaType: "application/octet-stream", digest: blob.description, size: responseSize, tag: nil))
        case (.blob(let name, let blob), .delete):
            event = ("delete", target(name, kind: "blobs", mediaType: "", digest: blob.description, size: 0, tag: nil))
        case (.uploads(let name), .post) where response.status.code == 201, (.upload(let name, _), .put):
            event = ("push", target(name, kind: "blobs", mediaType: "application/octet-stream", digest: digest, size: requestSize, tag: nil))
        default:
            return
        }
        await notifier.record(
            action: event.0, target: event.1, method: request.method.rawValue, host: request.head.authority ?? "",
            userAgent: request.headers[.userAgent] ?? "", actor: user)
    }

    static func query(_ request: Request) -> [String: String] {
        var values: [String: String] = [:]
        for item in URLComponents(string: "http://x\(request.uri.description)")?.queryItems ?? [] { values[item.name] = item.value ?? "" }
        return values
    }

    private static func tag(_ reference: ManifestReference) -> String? {
        if case .tag(let tag) = reference { return tag.value }
        return nil
    }

    /// The kind of endpoint, never the repository (which would make one series per name).
    static func routeLabel(_ route: Route?) -> String {
        switch route {
        case .base: "base"
        case .catalog: "catalog"
        case .tags: "tags"
        case .manifest: "manifest"
        case .blob: "blob"
        case .uploads, .upload: "upload"
        case .referrers: "referrers"
        case .signatures: "signatures"
        case .token: "token"
        case nil: "other"
        }
    }

    private static func milliseconds(since start: ContinuousClock.Instant) -> String {
        let elapsed = ContinuousClock.now - start
        return String(format: "%.1f", Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }

    /// `user`: who the request authenticated as (a token's subject; empty for an anonymous token).
    private func route(_ route: Route, _ request: Request, _ context: Context, user: String?) async throws -> Response {
        let method = request.method
        if let cache, let name = route.repository, let cached = cache.repository(name, namespace: request.uri.queryParameters["ns"].map(String.init)) {
            return try await cachedRoute(route, cached, request, context)
        }
        switch (route, method) {
        case (.token, _):
            guard let issuer else { throw Route.ParseError.notFound }
            do { return try await issuer.respond(to: request, context: context) } catch let error as SpecError where error.code == .unauthorized {
                metrics.authenticationFailed()
                throw error
            }
        case (.base, .get), (.base, .head):
            // Announces the signature extension API, so skopeo stores simple signatures here
            // instead of needing a lookaside directory.
            return json(Data("{}".utf8), head: method == .head, headers: [.supportsSignatures: "1"])
        case (.catalog, .get):
            return try await catalog(request, user: user)
        case (.tags(let name), .get):
            return try await tags(name, request)
        case (.manifest(let name, let reference), .get), (.manifest(let name, let reference), .head):
            return try await getManifest(name, reference, request)
        case (.manifest(let name, let reference), .put):
            return try await putManifest(name, reference, request, context)
        case (.manifest(let name, let reference), .delete):
            try await registry.deleteManifest(name, reference)
            return accepted()
        case (.blob(let name, let digest), .get), (.blob(let name, let digest), .head):
            return try await getBlob(name, digest, request, context)
        case (.blob(let name, let digest), .delete):
            try await registry.deleteBlob(name, digest)
            return accepted()
        case (.uploads(let name), .post):
            return try await startUpload(name, request, context)
        case (.upload(let name, let id), _):
            return try await upload(name, try uploadID(id), request, context)
        case (.referrers(let name, let digest), .get):
            return try await referrers(name, digest, request)
        case (.signatures(let name, let digest), .get):
            return try await signatures(name, digest)
        case (.signatures(let name, let digest), .put):
            return try await putSignature(name, digest, request, context)
        default:
            throw SpecError(.unsupported, "\(method) is not supported on this endpoint")
        }
    }

    // MARK: signature extension API

    private struct SignatureJSON: Codable {
        var schemaVersion: Int
        var name: String
        var type: String
        var content: String
    }

    private func signatures(_ name: RepositoryName, _ digest: Digest) async throws -> Response {
        try signaturesResponse(try await registry.signatures(name, digest))
    }

    func signaturesResponse(_ stored: [StoredSignature]) throws -> Response {
        let list = stored.map { SignatureJSON(schemaVersion: 2, name: $0.name, type: "atomic", content: Data($0.content).base64EncodedString()) }
        return try jsonResponse(["signatures": list])
    }

    private func putSignature(_ name: RepositoryName, _ digest: Digest, _ request: Request, _ context: Context) async throws -> Response {
        let body = try await ClientBody.collect(request, context, limit: Registry.maxSignatureBytes * 2) {
            RegistryError.signatureInvalid("larger than \(Registry.maxSignatureBytes) bytes")
        }
        guard let signature = try? JSONDecoder().decode(SignatureJSON.self, from: Data(body)) else {
            throw SpecError(.manifestInvalid, "signature invalid: expected {schemaVersion, name, type, content}")
        }
        guard signature.schemaVersion == 2, signature.type == "atomic", let content = Data(base64Encoded: signature.content) else {
            throw SpecError(.manifestInvalid, "signature invalid: only schemaVersion 2 atomic signatures with base64 content are stored")
        }
        try await registry.addSignature(name, digest, StoredSignature(name: signature.name, content: Array(content)))
        return Response(status: .created)
    }

    // MARK: listings

    /// With the built-in token server, only the repositories the caller may pull are listed.
    private func catalog(_ request: Request, user: String?) async throws -> Response {
        let query = request.uri.queryParameters
        let n = try pageSize(query["n"].map(String.init)) ?? 100
        let limit = min(n, config.catalogMaxEntries)
        let last = query["last"].map(String.init)
        var page = limit == 0 ? Page(items: [], hasMore: false) : try await registry.catalog(after: last, limit: limit)
        if let policy = issuer?.policy {
            let caller = user.flatMap { $0.isEmpty ? nil : $0 }
            var visible: [String] = []
            // Pages of the whole catalog until this page is full of visible names or none are left.
            while true {
                visible += page.items.filter { policy.actions(user: caller, repository: $0).contains("pull") }
                guard page.hasMore, visible.count < limit, let next = page.items.last else { break }
                page = try await registry.catalog(after: next, limit: limit)
            }
            page = Page(items: Array(visible.prefix(limit)), hasMore: visible.count > limit || page.hasMore)
        }
        var headers = HTTPFields()
        if page.hasMore, let next = page.items.last {
            headers[.link] = "<\(url("/v2/_catalog?last=\(escape(next))&n=\(limit)"))>; rel=\"next\""
        }
        return json(Data(ListingJSON.repositories(page.items)), head: false, headers: headers)
    }

    private func tags(_ name: RepositoryName, _ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let n = try pageSize(query["n"].map(String.init))
        let last = query["last"].map(String.init)
        return tagsResponse(name, try await registry.tags(name, after: last, limit: n), n: n)
    }

    func tagsResponse(_ name: RepositoryName, _ page: Registry.TagPage, n: Int?) -> Response {
        var headers = HTTPFields()
        if page.hasMore, let n, let next = page.last {
            headers[.link] = "<\(url("/v2/\(name)/tags/list?last=\(escape(next))&n=\(n)"))>; rel=\"next\""
        }
        return json(Data(page.json), head: false, headers: headers)
    }

    private func referrers(_ name: RepositoryName, _ digest: Digest, _ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let artifactType = query["artifactType"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let limit = min(try pageSize(query["n"].map(String.init)) ?? 1000, 1000)
        let last = query["last"].map(String.init)
        let page = try await registry.referrers(name, subject: digest, artifactType: artifactType, after: last, limit: max(limit, 1))
        var headers = HTTPFields()
        headers[.contentType] = MediaType.ociIndex
        if artifactType != nil { headers[.ociFiltersApplied] = "artifactType" }
        if page.hasMore, let next = page.items.last {
            var link = "/v2/\(name)/referrers/\(digest)?last=\(next.digest)&n=\(limit)"
            if let artifactType { link += "&artifactType=\(escape(artifactType))" }
            headers[.link] = "<\(url(link))>; rel=\"next\""
        }
        return try jsonResponse(ImageIndex(manifests: page.items), headers: headers)
    }

    // MARK: manifests

    private func getManifest(_ name: RepositoryName, _ reference: ManifestReference, _ request: Request) async throws -> Response {
        manifestResponse(try await registry.manifest(name, reference), request)
    }

    func manifestResponse(_ manifest: StoredManifest, _ request: Request) -> Response {
        var headers: HTTPFields = [
            .contentType: manifest.mediaType,
            .dockerContentDigest: manifest.digest.description,
            .eTag: "\"\(manifest.digest)\"",
            .contentLength: String(manifest.payload.count),
        ]
        if request.headers[.ifNoneMatch] == "\"\(manifest.digest)\"" {
            headers[.contentLength] = nil
            return Response(status: .notModified, headers: headers, body: ResponseBody())
        }
        let body = request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: manifest.payload))
        return Response(status: .ok, headers: headers, body: body)
    }

    private func putManifest(
        _ name: RepositoryName, _ reference: ManifestReference, _ request: Request, _ context: Context
    ) async throws -> Response {
        let limit = registry.options.maxManifestBytes
        let body = try await ClientBody.collect(request, context, limit: limit) { RegistryError.manifestTooLarge(limit: limit) }
        let extraTags = try request.uri.queryParameters.getAll("tag").map { try Tag(parsing: $0) }
        let pushed = try await registry.putManifest(
            name, reference, contentType: request.headers[.contentType], body: body, extraTags: extraTags)
        var headers: HTTPFields = [
            .location: url("/v2/\(name)/manifests/\(pushed.digest)"),
            .dockerContentDigest: pushed.digest.description,
            .contentLength: "0",
        ]
        if let subject = pushed.subject { headers[.ociSubject] = subject.description }
        for tag in extraTags { headers.append(HTTPField(name: .ociTag, value: tag.value)) }
        return Response(status: .created, headers: headers, body: ResponseBody())
    }

    // MARK: blobs

    func getBlob(_ name: RepositoryName, _ digest: Digest, _ request: Request, _ context: Context) async throws -> Response {
        let size = try await registry.blobSize(name, digest)
        let (status, headers, range) = blobHead(digest, size: size, request)
        guard let range, request.method != .head, !range.isEmpty else {
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        let length = Int64(range.count)
        // Object storage: the client fetches the bytes from the store itself (Range included).
        if config.redirect, let url = try await registry.blobRedirect(digest) {
            return Response(
                status: .temporaryRedirect,
                headers: [.location: url, .dockerContentDigest: digest.description, .contentLength: "0"], body: ResponseBody())
        }
        let start = range.lowerBound
        let channel = context.channel
        let zeroCopy = config.tlsCertificate == nil && length >= Self.zeroCopyThreshold
        let registry = self.registry
        let body = ResponseBody(contentLength: Int(length)) { writer in
            let reader = try await registry.openBlob(digest)
            defer { reader.close() }
            if zeroCopy, let descriptor = reader.duplicateDescriptor() {
                try await BelowCodecWriter.sendFile(descriptor: descriptor, range: start..<(start + length), on: channel)
                try await writer.finish(nil)
                return
            }
            for try await chunk in try await reader.bytes(start..<(start + length)) { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// The status and headers of a blob answer, and the bytes to send (nil for a 416).
    func blobHead(_ digest: Digest, size: Int64, _ request: Request) -> (HTTPResponse.Status, HTTPFields, Range<Int64>?) {
        var headers: HTTPFields = [
            .contentType: MediaType.octetStream,
            .dockerContentDigest: digest.description,
            .eTag: "\"\(digest)\"",
            .acceptRanges: "bytes",
            .cacheControl: "max-age=31536000",
        ]
        var status = HTTPResponse.Status.ok
        var range: Range<Int64> = 0..<size
        switch ByteRange(header: request.headers[.range], size: size) {
        case .whole:
            break
        case .partial(let r):
            status = .partialContent
            range = r.lowerBound..<(r.upperBound + 1)
            headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound)/\(size)"
        case .unsatisfiable:
            // HTTP's answer, with no error body: the spec's table has no code for a range, and
            // a body is optional for a 4xx.
            return (.rangeNotSatisfiable, [.contentRange: "bytes */\(size)", .contentLength: "0"], nil)
        }
        headers[.contentLength] = String(range.count)
        return (status, headers, range)
    }

    // MARK: uploads

    private func startUpload(_ name: RepositoryName, _ request: Request, _ context: Context) async throws -> Response {
        let query = request.uri.queryParameters
        if let mount = query["mount"] {
            let digest = try Digest(parsing: mount)
            let source = try query["from"].map { try RepositoryName(parsing: $0) }
            if try await registry.mount(digest, into: name, from: source) {
                return blobCreated(name, digest)
            }
        } else if let digestParam = query["digest"] {
            let digest = try Digest(parsing: digestParam)
            let length = request.headers[.contentLength].flatMap(Int64.init)
            // A POST with a digest but no body is an old-style session start; a body makes it a monolithic push.
            if length != 0 || digest == Digest.of([], algorithm: digest.algorithm) {
                _ = try await registry.putBlob(name, digest: digest, length: length, body: ClientBody(request, context))
                return blobCreated(name, digest)
            }
        }
        var algorithm = Digest.Algorithm.sha256
        if let requested = query["digest-algorithm"] {
            guard let parsed = Digest.Algorithm(rawValue: String(requested)) else {
                throw SpecError(.digestInvalid, "unsupported digest algorithm '\(requested.prefix(50))'")
            }
            algorithm = parsed
        }
        let upload = try await registry.startUpload(name, algorithm: algorithm)
        return uploadResponse(.accepted, name, upload.id, offset: 0)
    }

    private func upload(_ name: RepositoryName, _ id: UUID, _ request: Request, _ context: Context) async throws -> Response {
        switch request.method {
        case .get:
            let upload = try await registry.uploadStatus(name, id)
            return uploadResponse(.noContent, name, id, offset: upload.offset)
        case .patch:
            let (start, length) = try chunkBounds(request)
            do {
                let offset = try await registry.appendChunk(name, id, start: start, length: length, body: ClientBody(request, context))
                return uploadResponse(.accepted, name, id, offset: offset)
            } catch RegistryError.rangeInvalid(let offset, let detail) {
                throw rangeError(name, id, offset: offset, detail: detail)
            }
        case .put:
            guard let digestParam = request.uri.queryParameters["digest"] else {
                throw SpecError(.digestInvalid, "the closing PUT needs a digest parameter")
            }
            let digest = try Digest(parsing: digestParam)
            let (start, length) = try chunkBounds(request)
            do {
                _ = try await registry.finishUpload(name, id, digest: digest, start: start, length: length, body: ClientBody(request, context))
            } catch RegistryError.rangeInvalid(let offset, let detail) {
                throw rangeError(name, id, offset: offset, detail: detail)
            }
            return blobCreated(name, digest)
        case .delete:
            try await registry.cancelUpload(name, id)
            return Response(status: .noContent, headers: [.contentLength: "0"], body: ResponseBody())
        default:
            throw SpecError(.unsupported, "\(request.method) is not supported on an upload")
        }
    }

    private func chunkBounds(_ request: Request) throws -> (Int64?, Int64?) {
        try ChunkRange.bounds(contentRange: request.headers[.contentRange], contentLength: request.headers[.contentLength])
    }

    private func uploadID(_ string: String) throws -> UUID {
        guard let id = UUID(uuidString: string) else { throw RegistryError.uploadUnknown(string) }
        return id
    }

    private func rangeError(_ name: RepositoryName, _ id: UUID, offset: Int64, detail: String) -> SpecError {
        var error = SpecError(.blobUploadInvalid, detail, status: 416)
        error.headers = uploadHeaders(name, id, offset: offset)
        error.headers[.contentLength] = nil
        return error
    }

    private func uploadHeaders(_ name: RepositoryName, _ id: UUID, offset: Int64) -> HTTPFields {
        [
            .location: url("/v2/\(name)/blobs/uploads/\(id.uuidString.lowercased())"),
            .range: "0-\(max(offset - 1, 0))",
            .dockerUploadUUID: id.uuidString.lowercased(),
            .contentLength: "0",
        ]
    }

    private func uploadResponse(_ status: HTTPResponse.Status, _ name: RepositoryName, _ id: UUID, offset: Int64) -> Response {
        Response(status: status, headers: uploadHeaders(name, id, offset: offset), body: ResponseBody())
    }

    private func blobCreated(_ name: RepositoryName, _ digest: Digest) -> Response {
        Response(
            status: .created,
            headers: [
                .location: url("/v2/\(name)/blobs/\(digest)"), .dockerContentDigest: digest.description, .contentLength: "0",
            ],
            body: ResponseBody())
    }

    // MARK: helpers

    private func accepted() -> Response {
        Response(status: .accepted, headers: [.contentLength: "0"], body: ResponseBody())
    }

    func pageSize(_ value: String?) throws -> Int? {
        guard let value else { return nil }
        // The spec's table has no code for a bad query parameter: UNSUPPORTED (this `n` is not one
        // the registry can serve) with 400, the detail saying what is wrong.
        guard let n = Int(value), n >= 0 else { throw SpecError(.unsupported, "n must be a non-negative integer, not '\(value.prefix(40))'", status: 400) }
        return n
    }

    /// Absolute with `http.host`; from a trusted proxy's `X-Forwarded-*` headers; else relative.
    private func url(_ path: String) -> String { (config.externalURL ?? Self.forwardedBase ?? "") + path }

    /// The built-in token server's URL as this client reaches the registry.
    private func builtinRealm(_ request: Request) -> String {
        let scheme = config.tlsCertificate == nil ? "http" : "https"
        let base = config.externalURL ?? forwardedBase(request) ?? "\(scheme)://\(request.head.authority ?? "\(config.host):\(config.port)")"
        return base + TokenIssuer.path
    }

    /// The scheme and host a trusted proxy says the client used, for this request.
    @TaskLocal static var forwardedBase: String?

    func forwardedBase(_ request: Request) -> String? {
        guard config.trustForwardedHeaders, config.externalURL == nil,
            let host = request.headers[HTTPField.Name("X-Forwarded-Host")!]?.split(separator: ",").first.map({ $0.trimmingCharacters(in: .whitespaces) }),
            !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || ".-:[]".contains($0) })
        else { return nil }
        let proto = request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return "\(proto == "https" ? "https" : "http")://\(host)"
    }

    /// RFC 3986 unreserved characters: everything else in a query value is percent-encoded.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    private func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? s
    }

    private func json(_ data: Data, head: Bool, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        headers[.contentLength] = String(data.count)
        return Response(status: .ok, headers: headers, body: head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    func jsonResponse(_ value: some Encodable, headers: HTTPFields = [:]) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return json(try encoder.encode(value), head: false, headers: headers)
    }
}
