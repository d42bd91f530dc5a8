import Foundation
import Hummingbird

extension RegistryUI {
    func loginPage(_ visit: Visit, next: String, error: String?, username: String, status: HTTPResponse.Status = .ok) -> Response {
        page("Sign in", template: "login", ["base": settings.basePath, "next": next, "error": error as Any, "username": username], visit, status: status)
    }

    /// Checks the password against the registry's users. The answer never says whether the
    /// user exists; five failures for one name within a minute make the next attempts wait.
    func signIn(_ request: Request, _ visit: Visit) async throws -> Response {
        guard access.signInAvailable else { throw PageFailure(.notFound, "Not found", "This registry has no users to sign in as.") }
        let form = try await formBody(request)
        let user = form["username"] ?? "", password = form["password"] ?? "", next = form["next"] ?? ""
        let key = user.lowercased()
        if let wait = throttle.retryAfter(key) {
            var response = loginPage(visit, next: next, error: "Too many failed attempts. Try again in \(wait) seconds.", username: user, status: .tooManyRequests)
            response.headers[.retryAfter] = "\(wait)"
            return response
        }
        guard !user.isEmpty, await access.checkPassword(user: user, password: password) else {
            throttle.failed(key)
            logger.notice("UI sign-in failed for a user name of \(user.count) characters")
            return loginPage(visit, next: next, error: "The user name or password is wrong.", username: user, status: .unauthorized)
        }
        throttle.succeeded(key)
        let session = try await sessions.create(user: user, replacing: visit.session?.id)
        visit.session = session
        visit.setCookie = RequestChecks.sessionCookie(session.id, maxAge: Int(settings.sessionLifetime))
        // Only a path of ours: an absolute URL in `next` would make the form an open redirect.
        let target = next.hasPrefix(settings.basePath + "/") && !next.hasPrefix("//") ? next : settings.basePath + "/"
        return redirect(to: target)
    }

    func signOut(_ request: Request, _ visit: Visit) async throws -> Response {
        let form = try await formBody(request)
        try checkToken(form, visit)
        if let session = visit.session { try await sessions.remove(session.id) }
        visit.session = nil
        visit.setCookie = RequestChecks.sessionCookie("", maxAge: 0)
        return redirect(to: settings.basePath + (access.signInRequired ? "/login" : "/"))
    }
}
