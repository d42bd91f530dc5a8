import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OCI
import RegistryStorage
import Synchronization

/// The UI's entry point: the server hands it every request under `settings.basePath`.
public struct RegistryUI: Sendable {
    let registry: Registry
    public let settings: UISettings
    let access: any UIAccess
    let events: (any UIEvents)?
    let logger: Logger
    let sessions: SessionStore
    let throttle = SignInThrottle()
    let templates = Templates()
    /// Platform labels by config digest: content-addressed, so never stale.
    let platformLabels = LabelCache()

    public init(registry: Registry, settings: UISettings, access: any UIAccess, events: (any UIEvents)?, logger: Logger) {
        self.registry = registry
        self.settings = settings
        self.access = access
        self.events = events
        self.logger = logger
        sessions = SessionStore(registry: registry, idle: settings.sessionIdle, lifetime: settings.sessionLifetime)
    }

    /// Whether `path` is the UI's.
    public func handles(_ path: String) -> Bool { path == settings.basePath || path.hasPrefix(settings.basePath + "/") }

    public func respond(to request: Request) async -> Response {
        let path = String(request.uri.path.dropFirst(settings.basePath.count))
        if path.isEmpty { return redirect(to: settings.basePath + "/", status: .permanentRedirect) }
        if path.hasPrefix("/static/") { return asset(String(path.dropFirst("/static/".count)), request) }
        let visit = Visit(request)
        var response: Response
        do {
            visit.session = try await sessions.session(RequestChecks.cookie(request, SessionStore.cookieName))
            response = try await route(path, request, visit)
        } catch let failure as PageFailure {
            response = page(failure.heading, template: "message", ["heading": failure.heading, "text": failure.text, "base": settings.basePath], visit, status: failure.status)
        } catch {
            logger.error("\(request.method) \(request.uri.path): \(error)")
            response = page("Error", template: "message", ["heading": "Something went wrong", "text": "\(error)", "base": settings.basePath], visit, status: .internalServerError)
        }
        if let cookie = visit.setCookie { response.headers[values: .setCookie].append(cookie) }
        RequestChecks.secure(&response.headers, cacheable: false)
        return response
    }

    private func route(_ path: String, _ request: Request, _ visit: Visit) async throws -> Response {
        let query = FormFields(request.uri.query ?? "")
        if request.method == .post {
            if let problem = RequestChecks.crossSiteProblem(request) { throw PageFailure(.forbidden, "Refused", problem) }
            if isReadOnly, path != "/login", path != "/logout" {
                throw PageFailure(.methodNotAllowed, "Read-only", "This registry is read-only: nothing can be changed here.")
            }
        }
        switch (request.method, path) {
        case (.get, "/login"): return loginPage(visit, next: query["next"] ?? "", error: nil, username: "")
        case (.post, "/login"): return try await signIn(request, visit)
        case (.post, "/logout"): return try await signOut(request, visit)
        default: break
        }
        if access.signInRequired, visit.user == nil {
            let target = request.uri.path + (request.uri.query.map { "?\($0)" } ?? "")
            return redirect(to: "\(settings.basePath)/login?next=\(Formatting.percentEncoded(target))")
        }
        switch request.method {
        case .get, .head:
            if path == "/" { return try await repositoryList(query, visit) }
            if path == "/storage" { return try await storagePage(query, visit) }
            if path == "/search" { return try await searchPage(query, visit) }
            if path == "/webhooks" { return try await webhooksPage(visit) }
            if let name = path.suffix(after: "/repositories/") { return try await repositoryPage(try readable(name, visit), query, visit) }
            if let name = path.suffix(after: "/image/") { return try await imagePage(try readable(name, visit), query, visit) }
            if let name = path.suffix(after: "/sbom/") { return try await sbomPage(try readable(name, visit), query, visit) }
            if let name = path.suffix(after: "/download/") { return try await download(try readable(name, visit), query) }
        case .post:
            if let name = path.suffix(after: "/delete/") {
                let form = try await formBody(request)
                try checkToken(form, visit)
                return try await delete(try readable(name, visit), form, visit)
            }
        default:
            throw PageFailure(.methodNotAllowed, "Not allowed", "\(request.method) is not used here.")
        }
        throw PageFailure(.notFound, "Not found", "There is no such page.")
    }

    var isReadOnly: Bool { settings.readOnly || registry.isReadOnly }

    /// The repository when the visitor may pull it; otherwise it does not exist for them.
    func readable(_ name: String, _ visit: Visit) throws -> RepositoryName {
        guard let repository = try? RepositoryName(parsing: name), access.actions(user: visit.user, repository: repository.value).contains("pull") else {
            throw PageFailure(.notFound, "Not found", "There is no repository \(name).")
        }
        return repository
    }

    func canDelete(_ repository: RepositoryName, _ visit: Visit) -> Bool {
        !isReadOnly && registry.options.deleteEnabled && access.actions(user: visit.user, repository: repository.value).contains("delete")
    }

    // MARK: rendering

    /// A whole page: `template` rendered with `model`, inside the layout.
    func page(_ title: String, template: String, _ model: Any, _ visit: Visit, status: HTTPResponse.Status = .ok, filter: String = "") -> Response {
        let chrome: [String: Any] = [
            "title": title, "base": settings.basePath, "css": Asset.stylesheet.name, "js": Asset.script.name,
            "userName": visit.user as Any, "signInAvailable": access.signInAvailable, "csrf": visit.session?.csrf ?? "",
            "admin": access.isAdmin(user: visit.user), "readOnly": isReadOnly, "filter": filter,
            "body": templates.render(template, model),
        ]
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: templates.render("layout", chrome))))
    }

    func redirect(to location: String, status: HTTPResponse.Status = .seeOther) -> Response {
        Response(status: status, headers: [.location: location])
    }

    private func asset(_ name: String, _ request: Request) -> Response {
        guard let asset = Asset.all.first(where: { $0.name == name }) else {
            var response = Response(status: .notFound)
            RequestChecks.secure(&response.headers)
            return response
        }
        var headers: HTTPFields = [.contentType: asset.contentType, .eTag: asset.etag, .cacheControl: "public, max-age=31536000, immutable"]
        RequestChecks.secure(&headers, cacheable: true)
        if request.headers[.ifNoneMatch]?.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag }) == true {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    /// A form as posted; no form of ours comes near 1 MiB (a delete of every tag of a
    /// 1,000-tag page is ~30 KB).
    func formBody(_ request: Request) async throws -> FormFields {
        do { return FormFields(String(buffer: try await request.body.collect(upTo: 1 << 20))) } catch is NIOTooManyBytesError {
            throw PageFailure(.contentTooLarge, "Too large", "The form is larger than 1 MiB.")
        }
    }

    func checkToken(_ form: FormFields, _ visit: Visit) throws {
        guard let session = visit.session, let token = form["csrf"], RequestChecks.tokensMatch(token, session.csrf) else {
            throw PageFailure(.forbidden, "Refused", "The form was out of date or did not come from this site. Reload the page and try again.")
        }
    }

    /// A session for a visitor about to see a form (anonymous ones included: the CSRF token lives in it).
    func ensureSession(_ visit: Visit) async throws {
        guard visit.session == nil else { return }
        let session = try await sessions.create(user: nil)
        visit.session = session
        visit.setCookie = RequestChecks.sessionCookie(session.id, maxAge: Int(settings.sessionLifetime))
    }
}

/// A bounded map from digests to what was read from their (immutable) content.
final class LabelCache: Sendable {
    private let labels = Mutex<[String: String]>([:])
    static let capacity = 50_000

    func get(_ digest: String) -> String? { labels.withLock { $0[digest] } }

    func put(_ digest: String, _ label: String) {
        labels.withLock { labels in
            if labels.count >= Self.capacity { labels.removeAll() }
            labels[digest] = label
        }
    }
}

/// What one request knows about its visitor.
final class Visit {
    var session: SessionStore.Session?
    var setCookie: String?
    /// The registry's host as the visitor reached it (for pull commands).
    let host: String

    init(_ request: Request) {
        host = request.head.authority ?? "localhost"
    }

    var user: String? { session?.user }
}

/// A page that answers with a message instead of content.
struct PageFailure: Error {
    let status: HTTPResponse.Status
    let heading: String
    let text: String

    init(_ status: HTTPResponse.Status, _ heading: String, _ text: String) {
        self.status = status
        self.heading = heading
        self.text = text
    }
}

extension String {
    /// What follows `prefix`, when the string starts with it and something follows.
    func suffix(after prefix: String) -> String? {
        guard hasPrefix(prefix), count > prefix.count else { return nil }
        return String(dropFirst(prefix.count))
    }
}
