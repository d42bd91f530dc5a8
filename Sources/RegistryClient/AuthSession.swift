import AsyncHTTPClient
import Foundation
import NIOCore

/// What a client knows about authenticating to one registry: the scheme that worked (Basic or
/// Bearer) and tokens per scope until they expire.
actor AuthSession {
    let registry: String
    let credentials: Credentials?
    let fixedToken: String?
    /// When true, the credentials go only to a token realm on the registry's own host or, for
    /// names, a sibling of it (`auth.docker.io` for `registry-1.docker.io`): an upstream cannot
    /// have a pull-through cache send them elsewhere (distribution's CVE-2026-33540).
    let realmsNearRegistryOnly: Bool
    private var basic = false
    private var tokens: [String: (token: String, expires: ContinuousClock.Instant)] = [:]
    private var bearerRealm: AuthChallenge?

    init(registry: String, credentials: Credentials?, token: String?, realmsNearRegistryOnly: Bool = false) {
        self.registry = registry
        self.credentials = credentials
        fixedToken = token
        self.realmsNearRegistryOnly = realmsNearRegistryOnly
    }

    /// Whether `realmHost` is the registry's host (any port) or, for DNS names, shares all of the
    /// registry's name after its first label, when that rest has two labels or more.
    static func realm(_ realmHost: String, isNear registryHost: String) -> Bool {
        let realm = realmHost.lowercased()
        let registry = (registryHost.split(separator: ":").first.map(String.init) ?? registryHost).lowercased()
        if realm == registry { return true }
        let labels = registry.split(separator: ".")
        guard labels.count >= 3, !labels.allSatisfy({ $0.allSatisfy(\.isNumber) }) else { return false }
        return realm.hasSuffix("." + labels.dropFirst().joined(separator: "."))
    }

    /// The Authorization header for a request needing `scope`. Once the registry has shown it
    /// wants Bearer tokens, a token is fetched before the request rather than after a 401;
    /// concurrent requests share one fetch, and a token for more actions serves fewer.
    func authorization(for scope: String?, using http: HTTPClient) async throws -> String? {
        if let fixedToken { return "Bearer \(fixedToken)" }
        if basic, let credentials { return "Basic " + Self.basic(credentials) }
        guard let realm = bearerRealm else { return nil }
        return "Bearer " + (try await token(for: scope, realm: realm, using: http))
    }

    /// Answers a 401's challenges: Basic with the credentials, or a token from the Bearer realm.
    func answer(_ challenges: [AuthChallenge], scope: String?, using http: HTTPClient, registryURL: String) async throws {
        if fixedToken != nil { throw ClientError.authentication(registry: registry, "the registry token was refused") }
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
            bearerRealm = bearer
            _ = try await token(for: scope ?? bearer.parameters["scope"], realm: bearer, using: http)
        } else if challenges.contains(where: { $0.scheme == "basic" }) {
            guard credentials != nil else { throw ClientError.authentication(registry: registry, "the registry requires a login") }
            basic = true
        } else {
            throw ClientError.authentication(registry: registry, "no supported authentication challenge")
        }
    }

    private var pending: [String: Task<(token: String, expires: ContinuousClock.Instant), any Error>] = [:]

    private func token(for scope: String?, realm: AuthChallenge, using http: HTTPClient) async throws -> String {
        let key = scope ?? ""
        if let cached = tokens[key], cached.expires > .now { return cached.token }
        if let broader = tokens.first(where: { $0.value.expires > .now && Self.scope($0.key, covers: key) }) { return broader.value.token }
        if let inFlight = pending[key] { return try await inFlight.value.token }
        let task = Task { try await fetchToken(realm, scope: scope, using: http) }
        pending[key] = task
        defer { pending[key] = nil }
        let fetched = try await task.value
        tokens[key] = fetched
        return fetched.token
    }

    /// Whether a token granted for `granted` (`repository:a:pull,push …`) also serves `wanted`.
    static func scope(_ granted: String, covers wanted: String) -> Bool {
        func parse(_ scope: String) -> [String: Set<Substring>] {
            var resources: [String: Set<Substring>] = [:]
            for part in scope.split(separator: " ") {
                guard let colon = part.lastIndex(of: ":") else { continue }
                resources[String(part[..<colon]), default: []].formUnion(part[part.index(after: colon)...].split(separator: ","))
            }
            return resources
        }
        let have = parse(granted)
        let need = parse(wanted)
        return !need.isEmpty && need.allSatisfy { resource, actions in have[resource].map { actions.isSubset(of: $0) || $0.contains("*") } ?? false }
    }

    private func fetchToken(_ challenge: AuthChallenge, scope: String?, using http: HTTPClient) async throws
        -> (token: String, expires: ContinuousClock.Instant)
    {
        guard let realm = challenge.parameters["realm"], var components = URLComponents(string: realm) else {
            throw ClientError.authentication(registry: registry, "Bearer challenge without a realm")
        }
        var query = components.queryItems ?? []
        if let service = challenge.parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
        for part in (scope ?? "").split(separator: " ") { query.append(URLQueryItem(name: "scope", value: String(part))) }
        components.queryItems = query.isEmpty ? nil : query
        guard let url = components.url?.absoluteString else {
            throw ClientError.authentication(registry: registry, "invalid realm '\(realm)'")
        }
        var request = HTTPClientRequest(url: url)
        if let credentials, !realmsNearRegistryOnly || Self.realm(components.host ?? "", isNear: registry) {
            request.headers.add(name: "Authorization", value: "Basic " + Self.basic(credentials))
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(30))
        } catch {
            throw ClientError.authentication(registry: registry, "token request to \(realm) failed: \(error)")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            throw ClientError.authentication(registry: registry, "token server \(realm) answered \(response.status.code)")
        }
        struct TokenResponse: Decodable {
            let token: String?
            let access_token: String?
            let expires_in: Int?
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(body.readableBytesView)),
            let token = decoded.token ?? decoded.access_token
        else { throw ClientError.authentication(registry: registry, "token server \(realm) sent no token") }
        // Renew a little early; distribution's default lifetime is 60 s.
        let lifetime = max((decoded.expires_in ?? 60) - 5, 1)
        return (token, .now + .seconds(lifetime))
    }

    private static func basic(_ credentials: Credentials) -> String {
        Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()
    }
}
