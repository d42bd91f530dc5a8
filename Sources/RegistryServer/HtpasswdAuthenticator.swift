import CCrypt
import Crypto
import Foundation
import HTTPTypes
import Logging
import Synchronization

/// `auth.htpasswd`: HTTP Basic against an htpasswd file of bcrypt hashes (`htpasswd -B`), checked
/// with the system's libcrypt. The file is read again when it changes. A bcrypt check costs tens
/// of milliseconds and clients send their credentials with every request, so a verified
/// (user, password) pair is remembered — by a SHA-256 of the pair, never the password — until
/// the file changes. Every failure waits the same delay before it is answered.
final class HtpasswdAuthenticator: Sendable {
    let realm: String
    let path: String
    let failureDelay: Duration
    let logger: Logger

    private struct Loaded {
        var stamp: [Int] = []
        var hashes: [String: String] = [:]
        var verified: Set<Data> = []
    }
    private let state = Mutex(Loaded())

    init(realm: String, path: String, failureDelay: Duration, logger: Logger) throws(ConfigError) {
        self.realm = realm
        self.path = path
        self.failureDelay = failureDelay
        self.logger = logger
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ConfigError(key: "auth.htpasswd.path", problem: "cannot read \(path)")
        }
        _ = reload()
    }

    /// The user a request's `Authorization` header proves, or a 401 `UNAUTHORIZED` with the
    /// Basic challenge.
    func authenticate(_ authorization: String?) async throws -> String {
        guard let authorization else { throw challenge("authentication required") }
        guard authorization.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else {
            try await Task.sleep(for: failureDelay)
            throw challenge("malformed credentials")
        }
        let user = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        if try await verify(user: user, password: password) { return user }
        // Never the password, and the user only at debug level (it may be a mistyped password).
        logger.debug("authentication failed for user \(user)")
        try await Task.sleep(for: failureDelay)
        throw challenge("invalid username or password")
    }

    private func verify(user: String, password: String) async throws -> Bool {
        let hashes = reload()
        let key = Data(SHA256.hash(data: Data("\(user)\u{0}\(password)".utf8)))
        if state.withLock({ $0.verified.contains(key) }) { return true }
        guard let hash = hashes[user] else {
            // Spend the same time as a real check, so a missing user is not told apart by timing.
            _ = Self.crypt(password, setting: "$2y$10$abcdefghijklmnopqrstuu")
            return false
        }
        guard let computed = Self.crypt(password, setting: hash), Self.equal(computed, hash) else { return false }
        state.withLock { _ = $0.verified.insert(key) }
        return true
    }

    /// The file's entries, read again when its size or modification time changed.
    private func reload() -> [String: String] {
        var info = stat()
        let stamp = stat(path, &info) == 0 ? [Int(info.st_size), info.st_mtim.tv_sec, info.st_mtim.tv_nsec, Int(info.st_ino)] : []
        if let current = state.withLock({ $0.stamp == stamp ? $0.hashes : nil }) { return current }
        var hashes: [String: String] = [:]
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let entry = line.trimmingCharacters(in: .whitespaces)
            guard !entry.isEmpty, !entry.hasPrefix("#") else { continue }
            guard let colon = entry.firstIndex(of: ":") else {
                logger.warning("\(path):\(number + 1): not user:hash, ignored")
                continue
            }
            let hash = String(entry[entry.index(after: colon)...])
            guard ["$2y$", "$2b$", "$2a$"].contains(where: hash.hasPrefix) else {
                logger.warning("\(path):\(number + 1): only bcrypt entries are accepted (htpasswd -B), ignored")
                continue
            }
            hashes[String(entry[..<colon])] = hash
        }
        state.withLock { $0 = Loaded(stamp: stamp, hashes: hashes, verified: []) }
        return hashes
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
