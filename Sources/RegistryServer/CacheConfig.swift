import Foundation
import OCI
import PullThroughCache
import RegistryClient

/// The pull-through cache's configuration: distribution's `proxy:` (one upstream for every
/// repository) and `berth.cache:` (upstreams by repository prefix, beside pushed repositories).
extension ServerConfig {
    static func loadCache(_ reader: TreeReader, into config: inout ServerConfig) throws(ConfigError) {
        var upstreams: [UpstreamSettings] = []
        if let remote = try reader.string("proxy.remoteurl") {
            var upstream = UpstreamSettings(prefix: "", url: try upstreamURL(remote, key: "proxy.remoteurl"))
            upstream.credentials = try credentials(reader.string("proxy.username"), reader.string("proxy.password"), key: "proxy")
            // distribution checks a tag upstream on every pull.
            upstream.tagRecheck = .zero
            upstreams.append(upstream)
        }
        if let list = reader.value("berth.cache.upstreams") {
            guard let entries = list as? [[String: Any]] else {
                throw ConfigError(key: "berth.cache.upstreams", problem: "must be a list of {prefix, url}")
            }
            for (index, entry) in entries.enumerated() {
                let key = "berth.cache.upstreams[\(index)]"
                let known: Set = ["prefix", "url", "credentials", "tagrecheck"]
                if let unknown = entry.keys.sorted().first(where: { !known.contains($0) }) {
                    throw ConfigError(key: "\(key).\(unknown)", problem: "unknown key (prefix, url, credentials, tagrecheck)")
                }
                guard let prefix = entry["prefix"] as? String, !prefix.isEmpty else {
                    throw ConfigError(key: "\(key).prefix", problem: "required (proxy.remoteurl caches every repository)")
                }
                guard (try? RepositoryName(parsing: prefix)) != nil else {
                    throw ConfigError(key: "\(key).prefix", problem: "'\(prefix)' is not a repository name prefix (lowercase components separated by /)")
                }
                guard let url = entry["url"] as? String else { throw ConfigError(key: "\(key).url", problem: "required") }
                var upstream = UpstreamSettings(prefix: prefix, url: try upstreamURL(url, key: "\(key).url"))
                if let given = entry["credentials"] {
                    guard let map = given as? [String: Any], Set(map.keys).isSubset(of: ["username", "password"]) else {
                        throw ConfigError(key: "\(key).credentials", problem: "must be {username, password}")
                    }
                    upstream.credentials = try credentials(
                        map["username"].map { "\($0)" }, map["password"].map { "\($0)" }, key: "\(key).credentials")
                }
                if let text = entry["tagrecheck"] {
                    guard let duration = goDuration("\(text)"), duration >= .zero else {
                        throw ConfigError(key: "\(key).tagrecheck", problem: "must be a duration such as 10m, 30s or 0, got '\(text)'")
                    }
                    upstream.tagRecheck = duration
                }
                guard !upstreams.contains(where: { $0.prefix == prefix }) else {
                    throw ConfigError(key: "\(key).prefix", problem: "'\(prefix)' is used twice")
                }
                upstreams.append(upstream)
            }
        }
        guard !upstreams.isEmpty else { return }
        var settings = CacheSettings(upstreams: upstreams, spoolDirectory: "")
        if let text = try reader.string("berth.cache.notfoundttl") {
            guard let duration = goDuration(text), duration >= .zero else {
                throw ConfigError(key: "berth.cache.notfoundttl", problem: "must be a duration such as 10s or 0, got '\(text)'")
            }
            settings.notFoundTTL = duration
        }
        if let text = try reader.string("berth.cache.timeout") {
            guard let duration = goDuration(text), duration > .zero else {
                throw ConfigError(key: "berth.cache.timeout", problem: "must be a duration such as 5s, got '\(text)'")
            }
            settings.upstreamTimeout = duration
        }
        if let text = try reader.string("berth.cache.maxsize") {
            guard let bytes = byteCount(text), bytes > 0 else {
                throw ConfigError(key: "berth.cache.maxsize", problem: "must be a size such as 200GiB, 500MB or 1073741824, got '\(text)'")
            }
            settings.maxSize = bytes
        }
        config.cache = settings
    }

    /// `200GiB`, `1.5TB`, `500MB`, `1048576`: binary units for `KiB`…`TiB`, decimal for `KB`…`TB`.
    static func byteCount(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces).lowercased()
        let scales: [String: Double] = [
            "": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
            "kib": 1024, "mib": 1024 * 1024, "gib": 1024 * 1024 * 1024, "tib": 1024 * 1024 * 1024 * 1024,
        ]
        guard let value = Double(number), let scale = scales[unit], value * scale < Double(Int64.max) else { return nil }
        return Int64(value * scale)
    }

    private static func upstreamURL(_ text: String, key: String) throws(ConfigError) -> URL {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty,
            url.path.isEmpty || url.path == "/", url.query == nil, url.fragment == nil, url.user == nil
        else {
            throw ConfigError(key: key, problem: "must be http(s)://host[:port] with no path, got '\(text)'")
        }
        return url
    }

    private static func credentials(_ username: String?, _ password: String?, key: String) throws(ConfigError) -> Credentials? {
        switch (username, password) {
        case (nil, nil): return nil
        case (let user?, let password?) where !user.isEmpty: return Credentials(username: user, password: password)
        default: throw ConfigError(key: key, problem: "username and password must be given together")
        }
    }
}
