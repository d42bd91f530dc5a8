import Crypto
import Foundation
import RegistryStorage
import Synchronization

/// Server-side sessions: an opaque random id in the cookie; the user, the CSRF token and the
/// times in the metadata store under the id's SHA-256, so any replica sharing the store knows
/// the session and a copy of the database holds no usable cookie.
struct SessionStore: Sendable {
    struct Session: Sendable {
        /// The cookie's value.
        let id: String
        let user: String?
        let csrf: String
    }

    static let cookieName = "__Host-berth_session"

    let registry: Registry
    let idle: TimeInterval
    let lifetime: TimeInterval

    /// The live session with this id; nil when unknown or expired (then deleted). Its last-seen
    /// time is written at most every `idle / 10` (a minute at most), not on every page.
    func session(_ id: String?, now: Date = Date()) async throws -> Session? {
        guard let id, !id.isEmpty else { return nil }
        let stored = try await registry.session(
            Self.key(id), now: now, expiredBefore: now.addingTimeInterval(-idle), startedBefore: now.addingTimeInterval(-lifetime),
            touchAfter: now.addingTimeInterval(-min(60, idle / 10)))
        return stored.map { Session(id: id, user: $0.user, csrf: $0.csrf) }
    }

    /// A new session (a new id at every sign-in, so a planted id is worth nothing); expired
    /// ones are deleted on the way.
    func create(user: String?, replacing old: String? = nil, now: Date = Date()) async throws -> Session {
        if let old { try await registry.deleteSession(Self.key(old)) }
        let session = Session(id: Self.randomToken(), user: user, csrf: Self.randomToken())
        try await registry.createSession(
            StoredSession(key: Self.key(session.id), user: user, csrf: session.csrf, created: now, lastSeen: now),
            expiredBefore: now.addingTimeInterval(-idle), startedBefore: now.addingTimeInterval(-lifetime))
        return session
    }

    func remove(_ id: String) async throws { try await registry.deleteSession(Self.key(id)) }

    static func key(_ id: String) -> String { SHA256.hash(data: Array(id.utf8)).map { String(format: "%02x", $0) }.joined() }

    /// 256 random bits, URL-safe.
    static func randomToken() -> String {
        let key = SymmetricKey(size: .bits256)
        return key.withUnsafeBytes { Data($0) }.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// Failed sign-ins per user name: after `limit` within `window` the next attempt waits. Per
/// server, in memory: behind a balancer each replica allows its own five a minute.
final class SignInThrottle: Sendable {
    private let failures = Mutex<[String: [Date]]>([:])
    let limit = 5
    let window: TimeInterval = 60

    /// Seconds to wait before trying again, or nil when an attempt may be made now.
    func retryAfter(_ client: String, now: Date = Date()) -> Int? {
        failures.withLock { failures in
            let recent = (failures[client] ?? []).filter { now.timeIntervalSince($0) < window }
            failures[client] = recent.isEmpty ? nil : recent
            guard recent.count >= limit, let first = recent.first else { return nil }
            return max(1, Int((window - now.timeIntervalSince(first)).rounded(.up)))
        }
    }

    func failed(_ client: String, now: Date = Date()) {
        failures.withLock { failures in
            if failures.count > 10_000 { failures.removeAll() }
            failures[client, default: []].append(now)
        }
    }

    func succeeded(_ client: String) { _ = failures.withLock { $0.removeValue(forKey: client) } }
}
