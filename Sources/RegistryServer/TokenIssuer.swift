import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// `berth.tokenserver` as configured: the users' htpasswd file, the signing key, the names the
/// tokens carry, their lifetime, and the access rules.
public struct TokenServerSettings: Sendable {
    public var htpasswd: String
    /// PEM EC P-256 private key; nil: `<rootdirectory>/token-key.pem`, created on first start.
    public var key: String?
    public var service = "berth"
    public var issuer = "berth"
    /// The URL clients are sent to; nil: this server's `/auth/token` as the client reached it.
    public var realm: String?
    public var expiration: Duration = .seconds(300)
    public var policy: AccessPolicy

    public init(htpasswd: String, policy: AccessPolicy) {
        self.htpasswd = htpasswd
        self.policy = policy
    }
}

/// The built-in token server at `/auth/token`: authenticates htpasswd users (or nobody, for
/// anonymous callers), grants each requested scope only the actions the access rules allow, and
/// signs a short-lived ES256 JWT with distribution's claims. GET is the docker token protocol
/// (Basic credentials, `scope` parameters); POST is its OAuth2 password grant.
final class TokenIssuer: Sendable {
    static let path = "/auth/token"
    let settings: TokenServerSettings
    let key: P256.Signing.PrivateKey
    /// libtrust's ID of the key, as `kid`, so distribution can check these tokens too.
    let keyID: String
    let users: HtpasswdAuthenticator
    /// The access rules in force: a configuration reload (SIGHUP) replaces them.
    private let rules: Mutex<AccessPolicy>
    var policy: AccessPolicy { rules.withLock { $0 } }

    init(settings: TokenServerSettings, rootDirectory: String, failureDelay: Duration, logger: Logger) throws {
        self.settings = settings
        key = try Self.signingKey(at: settings.key ?? "\(rootDirectory)/token-key.pem", create: settings.key == nil)
        keyID = JWT.libtrustKeyID(key.publicKey)
        rules = Mutex(settings.policy)
        users = try HtpasswdAuthenticator(realm: settings.service, path: settings.htpasswd, failureDelay: failureDelay, logger: logger, key: "berth.tokenserver.htpasswd")
    }

    func respond(to request: Request, context: RegistryRequestContext) async throws -> Response {
        let user: String?
        let scopes: [String]
        var query: [String: [String]] = [:]
        switch request.method {
        case .get:
            for item in URLComponents(string: "http://x\(request.uri.description)")?.queryItems ?? [] { query[item.name, default: []].append(item.value ?? "") }
            // No credentials is an anonymous caller, who gets what the anonymous rules allow.
            if let authorization = request.headers[.authorization] { user = try await users.authenticate(authorization) } else { user = nil }
        case .post:
            let body = try await ClientBody.collect(request, context, limit: 64 << 10) { SpecError(.sizeInvalid, "token request larger than 64 KiB") }
            for item in URLComponents(string: "http://x?" + String(decoding: body, as: UTF8.self).replacingOccurrences(of: "+", with: "%20"))?.queryItems ?? [] {
                query[item.name, default: []].append(item.value ?? "")
            }
            guard query["grant_type"]?.first == "password" else {
                return Self.json(["error": "unsupported_grant_type", "error_description": "only the password grant is supported"], status: .badRequest)
            }
            user = try await users.check(user: query["username"]?.first ?? "", password: query["password"]?.first ?? "")
        default:
            throw SpecError(.unsupported, "\(request.method) is not supported on \(Self.path)")
        }
        if let service = query["service"]?.first, service != settings.service {
            throw SpecError(.denied, "tokens here are for service '\(settings.service)', not '\(service)'")
        }
        scopes = (query["scope"] ?? []).flatMap { $0.split(separator: " ").map(String.init) }
        let now = Date()
        let (token, granted) = try issue(user: user, scopes: scopes, now: now)
        let lifetime = Int(settings.expiration.components.seconds)
        let issuedAt = ISO8601DateFormatter().string(from: now)
        if request.method == .post {
            return Self.json(["access_token": token, "scope": granted.joined(separator: " "), "expires_in": lifetime, "issued_at": issuedAt])
        }
        return Self.json(["token": token, "access_token": token, "expires_in": lifetime, "issued_at": issuedAt])
    }

    /// Takes the access rules of a reloaded configuration; the other settings (key, names,
    /// lifetime, users file) need a restart, and are named when they changed.
    func reload(_ reloaded: TokenServerSettings?) -> [String] {
        guard let reloaded else { return ["berth.tokenserver"] }
        rules.withLock { $0 = reloaded.policy }
        let current = settings
        let same = reloaded.htpasswd == current.htpasswd && reloaded.key == current.key && reloaded.service == current.service
            && reloaded.issuer == current.issuer && reloaded.realm == current.realm && reloaded.expiration == current.expiration
        return same ? [] : ["berth.tokenserver (other than groups and access)"]
    }

    /// A token for `user` (nil: anonymous) granting of each `repository:<name>:<actions>` scope what
    /// the rules allow (possibly nothing), and `registry:catalog:*` to everyone: the catalog then
    /// lists only what the caller may pull. Unknown scope types are granted nothing.
    func issue(user: String?, scopes: [String], now: Date) throws -> (token: String, granted: [String]) {
        var access: [[String: Any]] = []
        var granted: [String] = []
        for scope in scopes {
            let parts = scope.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 3 else { continue }
            let type = parts[0]
            let name = parts[1..<(parts.count - 1)].joined(separator: ":")
            let requested = Set(parts[parts.count - 1].split(separator: ",").map(String.init))
            var actions: [String]
            switch (type, name) {
            case ("repository", _):
                let wanted = requested.contains("*") ? AccessPolicy.actions : requested
                actions = policy.actions(user: user, repository: name).intersection(wanted).sorted()
            case ("registry", "catalog") where requested == ["*"]:
                actions = ["*"]
            default:
                actions = []
            }
            guard !actions.isEmpty else { continue }
            access.append(["type": type, "name": name, "actions": actions])
            granted.append("\(type):\(name):\(actions.joined(separator: ","))")
        }
        let issued = Int(now.timeIntervalSince1970)
        let claims: [String: Any] = [
            "iss": settings.issuer, "sub": user ?? "", "aud": settings.service, "iat": issued, "nbf": issued,
            "exp": issued + Int(settings.expiration.components.seconds), "jti": UUID().uuidString, "access": access,
        ]
        return (try JWT.sign(claims: claims, key: key, keyID: keyID), granted)
    }

    /// Reads the PEM key, or (for the default path only) creates one: written to a temporary
    /// file readable by the owner alone, synced, then renamed into place.
    static func signingKey(at path: String, create: Bool) throws -> P256.Signing.PrivateKey {
        if let pem = try? String(contentsOfFile: path, encoding: .utf8) {
            do { return try P256.Signing.PrivateKey(pemRepresentation: pem) } catch {
                throw ConfigError(key: "berth.tokenserver.key", problem: "\(path) is not a PEM EC P-256 private key")
            }
        }
        guard create else { throw ConfigError(key: "berth.tokenserver.key", problem: "cannot read \(path)") }
        let key = P256.Signing.PrivateKey()
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = "\(path).\(UUID().uuidString).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ConfigError(key: "berth.tokenserver.key", problem: "cannot create \(path): \(String(cString: strerror(errno)))") }
        let bytes = Array(key.pemRepresentation.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == bytes.count, synced == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ConfigError(key: "berth.tokenserver.key", problem: "cannot write \(path)")
        }
        return key
    }

    private static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: .sortedKeys)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
