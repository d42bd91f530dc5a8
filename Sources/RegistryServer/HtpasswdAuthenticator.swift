import CCrypt
import Crypto
import Foundation
import HTTPTypes
import Logging
import Synchronization

/// `auth.htpasswd`: HTTP Basic against an htpasswd file of bcrypt hashes (`htpasswd -B`), checked
/// with the system's libcrypt. The file is read again when it changes (looked at, with one `stat`,
/// at most once a second: a `stat` per request was most of what authentication cost). A bcrypt check costs tens of milliseconds and clients send their credentials
/// with every request, so a verified `Authorization` value is remembered — by its SHA-256, never
/// the password — until the file changes. Every failure waits the same delay before it is answered.
final class HtpasswdAuthenticator: Sendable {
    let realm: String
    let path: String
    let failureDelay: Duration
    let logger: Logger

    /// What tells a changed file: a `stat` per request is far cheaper than reading it.
    private struct Stamp: Equatable {
        var size = 0, seconds = 0, nanoseconds = 0, inode: UInt = 0
    }

    private struct Loaded {
        var stamp: Stamp?
        /// When the file was last looked at.
        var looked: ContinuousClock.Instant?
        var hashes: [String: String] = [:]
        /// SHA-256 of a verified `Authorization` value → its user.
        var verified: [SHA256Digest: String] = [:]
    }
    private let state = Mutex(Loaded())

    /// A file that cannot be read or has a line that is not `user:bcrypt-hash` stops startup,
    /// naming the file and line; `key` is the config key that names the file.
    init(realm: String, path: String, failureDelay: Duration, logger: Logger, key: String = "auth.htpasswd.path") throws(ConfigError) {
        self.realm = realm
        self.path = path
        self.failureDelay = failureDelay
        self.logger = logger
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(key: key, problem: "cannot read \(path)")
        }
        if case .failure(let bad) = Self.parse(text) {
            throw ConfigError(key: key, problem: bad.reason, location: "\(path):\(bad.line)")
        }
        reload()
    }

    /// The user a request's `Authorization` header proves, or a 401 `UNAUTHORIZED` with the
    /// Basic challenge.
    func authenticate(_ authorization: String?) async throws -> String {
        guard let authorization else { throw challenge("authentication required") }
        let key = SHA256.hash(data: Array(authorization.utf8))
        reloadIfDue()
        if let user = state.withLock({ $0.verified[key] }) { return user }
        guard authorization.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else {
            try await Task.sleep(for: failureDelay)
            throw challenge("malformed credentials")
        }
        let user = try await check(user: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        state.withLock { _ = $0.verified.updateValue(user, forKey: key) }
        return user
    }

    /// `user` when `password` is theirs, else (after the failure delay) a 401.
    func check(user: String, password: String) async throws -> String {
        reload()
        if verify(user: user, password: password) { return user }
        // Never the password, and the user only at debug level (it may be a mistyped password).
        logger.debug("authentication failed for user \(user)")
        try await Task.sleep(for: failureDelay)
        throw challenge("invalid username or password")
    }

    /// One bcrypt check (the OAuth2 password grant comes here directly, without the cache).
    private func verify(user: String, password: String) -> Bool {
        guard let hash = state.withLock({ $0.hashes[user] }) else {
            // Spend the same time as a real check, so a missing user is not told apart by timing.
            _ = Self.crypt(password, setting: "$2y$10$abcdefghijklmnopqrstuu")
            return false
        }
        guard let computed = Self.crypt(password, setting: hash) else { return false }
        return Self.equal(computed, hash)
    }

    /// `reload()` when the file was last looked at more than a second ago.
    private func reloadIfDue() {
        let now = ContinuousClock.now
        let due = state.withLock { loaded in
            guard let looked = loaded.looked, now - looked < .seconds(1) else {
                loaded.looked = now
                return true
            }
            return false
        }
        if due { reload() }
    }

    /// Reads the file again when its size, modification time or inode changed; the verified
    /// logins go with the old contents. A changed file with a bad line is not taken: the
    /// previous entries stay, and the line is logged.
    private func reload() {
        var info = stat()
        let stamp = stat(path, &info) == 0
            ? Stamp(size: Int(info.st_size), seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec, inode: UInt(info.st_ino)) : nil
        if state.withLock({ $0.stamp == stamp }) { return }
        switch Self.parse((try? String(contentsOfFile: path, encoding: .utf8)) ?? "") {
        case .success(let hashes):
            state.withLock { $0 = Loaded(stamp: stamp, looked: ContinuousClock.now, hashes: hashes, verified: [:]) }
        case .failure(let bad):
            logger.error("\(path):\(bad.line): \(bad.reason); keeping the previous entries")
            state.withLock { $0.stamp = stamp }
        }
    }

    struct BadLine: Error {
        let line: Int
        let reason: String
    }

    /// `user:hash` lines (blank lines and `#` comments skipped); only bcrypt hashes are accepted.
    static func parse(_ text: String) -> Result<[String: String], BadLine> {
        var hashes: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let entry = line.trimmingCharacters(in: .whitespaces)
            guard !entry.isEmpty, !entry.hasPrefix("#") else { continue }
            guard let colon = entry.firstIndex(of: ":"), colon != entry.startIndex else {
                return .failure(BadLine(line: number + 1, reason: "not user:hash"))
            }
            let hash = String(entry[entry.index(after: colon)...])
            guard ["$2y$", "$2b$", "$2a$"].contains(where: hash.hasPrefix) else {
                return .failure(BadLine(line: number + 1, reason: "only bcrypt entries are accepted (htpasswd -B)"))
            }
            hashes[String(entry[..<colon])] = hash
        }
        return .success(hashes)
    }

    private func challenge(_ detail: String) -> SpecError {
        var error = SpecError(.unauthorized, detail)
        error.headers[.wwwAuthenticate] = "Basic realm=\"\(realm.replacingOccurrences(of: "\"", with: ""))\""
        return error
    }

    /// libcrypt's reentrant crypt with its own work area.
    static func crypt(_ phrase: String, setting: String) -> String? {
        let area = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer { area.deallocate() }
        memset(area, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_rn(phrase, setting, area, Int32(MemoryLayout<crypt_data>.size)) else { return nil }
        let text = String(cString: result)
        return text.hasPrefix("*") ? nil : text
    }

    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
