import Crypto
import Foundation
import HTTPTypes
import OCI
import Synchronization

/// `auth.token`: Bearer JWTs from a token server, as distribution checks them: ES256 or RS256
/// signatures by a key from `rootcertbundle` (or a `jwks` file, or an `x5c` chain leading to a
/// `rootcertbundle` certificate), `iss` the configured issuer,
/// `aud` the service, `exp`/`nbf` honoured (a minute of leeway), and `access` claims covering
/// the scope the request needs. Failures answer 401 with the challenge clients follow to the realm.
final class TokenAuthenticator: Sendable {
    /// Where clients get tokens; nil: the built-in token server, at the URL the client used.
    let realm: String?
    let service: String
    let issuer: String
    let keys: [TokenVerificationKey]
    /// For tokens that carry an `x5c` chain (nil without a `rootcertbundle`).
    let chains: TokenCertificateChains?

    /// What a request needs: `repository:<name>:<actions>` or `registry:catalog:*`.
    struct Scope: Equatable {
        var type: String
        var name: String
        var actions: [String]
        var text: String { "\(type):\(name):\(actions.joined(separator: ","))" }
    }

    init(realm: String, service: String, issuer: String, rootCertBundle: String?, jwks: String?) throws(ConfigError) {
        self.realm = realm
        self.service = service
        self.issuer = issuer
        let bundle = try rootCertBundle.map(TokenVerificationKey.bundle)
        keys = (bundle ?? []).compactMap { TokenVerificationKey($0.publicKey) } + (try jwks.map(TokenVerificationKey.jwks(in:)) ?? [])
        chains = bundle.map(TokenCertificateChains.init(roots:))
    }

    /// Checks the built-in token server's own tokens.
    init(issuer: TokenIssuer) {
        realm = issuer.settings.realm
        service = issuer.settings.service
        self.issuer = issuer.settings.issuer
        keys = [.ecdsa(issuer.key.publicKey)]
        chains = nil
    }

    /// A token whose signature, issuer and audience were checked: what later requests with the
    /// same token need, so a signature is verified once per token rather than once per request.
    struct Verified {
        var subject: String
        var expiry: Double
        var notBefore: Double?
        var granted: [Scope]
    }

    private static let cacheLimit = 10_000
    private let verified = Mutex<[SHA256Digest: Verified]>([:])

    /// The token's subject, when it is valid and grants every scope in `needs`; `realm` is used
    /// in challenges when none is configured.
    func authorize(_ authorization: String?, needs: [Scope], realm fallbackRealm: @autoclosure () -> String, now: Date = Date()) async throws -> String {
        // Built only for a challenge: on the path every authorised request takes, nothing is.
        var realm: String { self.realm ?? fallbackRealm() }
        // Bytes, not Characters: a token is ASCII, and grapheme-aware String walks cost more
        // per request than the check itself.
        let bytes = Array((authorization ?? "").utf8)
        guard bytes.count > 7, bytes[..<7].map({ $0 | 0x20 }).elementsEqual("bearer ".utf8) else {
            throw challenge(needs, realm, "authentication required")
        }
        let start = bytes[7...].firstIndex { $0 != UInt8(ascii: " ") } ?? bytes.endIndex
        let key = SHA256.hash(data: bytes[start...])
        let checked: Verified
        if let known = verified.withLock({ $0[key] }) { checked = known } else {
            checked = try await verify(String(decoding: bytes[start...], as: UTF8.self), needs: needs, realm: realm)
            verified.withLock { cache in
                if cache.count >= Self.cacheLimit {
                    let time = now.timeIntervalSince1970
                    cache = cache.filter { $0.value.expiry + 60 > time }
                    if cache.count >= Self.cacheLimit { cache.removeAll() }
                }
                cache[key] = checked
            }
        }
        let time = now.timeIntervalSince1970
        guard checked.expiry + 60 > time else { throw challenge(needs, realm, "token expired", error: "invalid_token") }
        if let notBefore = checked.notBefore, notBefore - 60 > time {
            throw challenge(needs, realm, "token not yet valid", error: "invalid_token")
        }
        for scope in needs {
            let allowed = checked.granted.filter { $0.type == scope.type && $0.name == scope.name }.flatMap(\.actions)
            guard scope.actions.allSatisfy({ allowed.contains($0) || allowed.contains("*") }) else {
                throw challenge(needs, realm, "insufficient scope for \(scope.text)", error: "insufficient_scope")
            }
        }
        return checked.subject
    }

    /// Signature, issuer, audience and the claims later checks need.
    private func verify(_ text: String, needs: [Scope], realm: String) async throws -> Verified {
        guard let token = JWT.decode(text[...]) else { throw challenge(needs, realm, "malformed token", error: "invalid_token") }
        let claims = token.claims
        guard ["ES256", "RS256"].contains(token.header["alg"] as? String) else {
            throw challenge(needs, realm, "unsupported token signature algorithm (ES256 or RS256)", error: "invalid_token")
        }
        if let chain = token.header["x5c"] as? [String] {
            guard let key = await chains?.leafKey(chain), key.verifies(token) else {
                throw challenge(needs, realm, "token certificate chain or signature not trusted", error: "invalid_token")
            }
        } else if !keys.contains(where: { $0.verifies(token) }) {
            throw challenge(needs, realm, "token signature not trusted", error: "invalid_token")
        }
        let audiences = (claims["aud"] as? [String]) ?? [(claims["aud"] as? String) ?? ""]
        guard claims["iss"] as? String == issuer, audiences.contains(service) else {
            throw challenge(needs, realm, "token issuer or audience does not match", error: "invalid_token")
        }
        guard let expiry = (claims["exp"] as? NSNumber)?.doubleValue else { throw challenge(needs, realm, "token has no expiry", error: "invalid_token") }
        let granted = (claims["access"] as? [[String: Any]] ?? []).map { entry in
            Scope(type: entry["type"] as? String ?? "", name: entry["name"] as? String ?? "", actions: entry["actions"] as? [String] ?? [])
        }
        return Verified(subject: claims["sub"] as? String ?? "", expiry: expiry, notBefore: (claims["nbf"] as? NSNumber)?.doubleValue, granted: granted)
    }

    private func challenge(_ needs: [Scope], _ realm: String, _ detail: String, error: String? = nil) -> SpecError {
        var spec = SpecError(.unauthorized, detail)
        var value = "Bearer realm=\"\(realm)\",service=\"\(service)\""
        if !needs.isEmpty { value += ",scope=\"\(needs.map(\.text).joined(separator: " "))\"" }
        if let error { value += ",error=\"\(error)\"" }
        spec.headers[.wwwAuthenticate] = value
        return spec
    }

    /// The scopes a request needs (none for `/v2/`, which only needs a valid token).
    static func scopes(for route: Route, method: HTTPRequest.Method, mountSource: @autoclosure () -> String?) -> [Scope] {
        func repository(_ name: RepositoryName, _ actions: [String]) -> Scope { Scope(type: "repository", name: name.value, actions: actions) }
        let reads: Set<HTTPRequest.Method> = [.get, .head]
        switch route {
        case .base, .token: return []
        case .catalog: return [Scope(type: "registry", name: "catalog", actions: ["*"])]
        case .tags(let name), .referrers(let name, _): return [repository(name, ["pull"])]
        case .manifest(let name, _), .blob(let name, _), .signatures(let name, _):
            if reads.contains(method) { return [repository(name, ["pull"])] }
            if method == .delete { return [repository(name, ["delete"])] }
            return [repository(name, ["pull", "push"])]
        case .uploads(let name):
            var needs = [repository(name, ["pull", "push"])]
            if let from = mountSource(), let source = try? RepositoryName(parsing: from) { needs.append(repository(source, ["pull"])) }
            return needs
        case .upload(let name, _): return [repository(name, ["pull", "push"])]
        }
    }
}
