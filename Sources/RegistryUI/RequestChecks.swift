import Foundation
import HTTPTypes
import Hummingbird

/// The headers every UI answer carries, and the checks every state-changing request passes.
enum RequestChecks {
    /// No inline script or style anywhere in the UI, so markup that slipped through escaping
    /// still could not run; no framing; forms post only here.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static func secure(_ headers: inout HTTPFields, cacheable: Bool = false) {
        // A download keeps its own, stricter `sandbox`.
        if headers[.contentSecurityPolicy] == nil { headers[.contentSecurityPolicy] = contentSecurityPolicy }
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        if !cacheable { headers[.cacheControl] = "no-store" }
    }

    /// Why a POST is refused as cross-site, or nil when it comes from a page of ours. Browsers
    /// send `Sec-Fetch-Site`; older ones only `Origin`, which must then name this very host.
    /// Clients sending neither are not browsers (the CSRF token is still required).
    static func crossSiteProblem(_ request: Request) -> String? {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!] {
            return site == "same-origin" ? nil : "the request came from another site (Sec-Fetch-Site: \(site))"
        }
        guard let origin = request.headers[HTTPField.Name("Origin")!] else { return nil }
        guard origin != "null", let url = URL(string: origin), url.user == nil, url.password == nil, let host = url.host,
            let authority = request.head.authority
        else { return "the request came from another origin (\(origin))" }
        let port = url.port.map { ":\($0)" } ?? ""
        return "\(host)\(port)".lowercased() == authority.lowercased() ? nil : "the request came from another origin (\(origin))"
    }

    /// Constant-time comparison of a submitted CSRF token with the session's.
    static func tokensMatch(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count, !x.isEmpty else { return false }
        var difference: UInt8 = 0
        for (p, q) in zip(x, y) { difference |= p ^ q }
        return difference == 0
    }

    static func cookie(_ request: Request, _ name: String) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == name { return String(parts[1]) }
            }
        }
        return nil
    }

    /// `__Host-` cookies must be Secure with Path=/; browsers keep them on loopback over plain
    /// HTTP, elsewhere only over HTTPS.
    static func sessionCookie(_ id: String, maxAge: Int) -> String {
        "\(SessionStore.cookieName)=\(id); Path=/; Max-Age=\(maxAge); HttpOnly; Secure; SameSite=Strict"
    }
}

/// An `application/x-www-form-urlencoded` body or query: names may repeat (`tag=a&tag=b`).
struct FormFields: Sendable {
    private(set) var pairs: [(String, String)] = []

    init(_ encoded: String) {
        for part in encoded.split(separator: "&") where !part.isEmpty {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            pairs.append((decode(pieces[0]), pieces.count > 1 ? decode(pieces[1]) : ""))
        }
    }

    subscript(_ name: String) -> String? { pairs.first { $0.0 == name }?.1 }
    func all(_ name: String) -> [String] { pairs.filter { $0.0 == name }.map(\.1) }
}
