import Crypto
import Foundation
import OCI
import RegistryUI

/// `berth.ui`: the web interface. Off unless enabled (the shipped configurations enable it; a
/// configuration with `auth` gets it only when its operator says so).
extension ServerConfig {
    static func loadUI(_ reader: TreeReader, into config: inout ServerConfig) throws(ConfigError) {
        guard try reader.bool("berth.ui.enabled") == true else { return }
        if config.token != nil {
            throw ConfigError(
                key: "berth.ui.enabled",
                problem: "cannot be used with auth.token: an external token server decides rights the UI cannot ask (use berth.tokenserver or auth.htpasswd)")
        }
        var settings = UISettings()
        if let path = try reader.string("berth.ui.basepath") {
            let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "/-._~"))
            guard trimmed.hasPrefix("/"), trimmed.count > 1, trimmed.unicodeScalars.allSatisfy(allowed.contains), !trimmed.contains("//"),
                !["/v2", "/auth", "/extensions"].contains(where: { trimmed == $0 || trimmed.hasPrefix($0 + "/") })
            else {
                throw ConfigError(key: "berth.ui.basepath", problem: "must be a path such as /ui or /registry/ui, outside /v2, /auth and /extensions; got '\(path)'")
            }
            settings.basePath = trimmed
        }
        settings.readOnly = try reader.bool("berth.ui.readonly") ?? false
        if let admins = reader.value("berth.ui.admins") {
            guard let list = admins as? [Any], list.allSatisfy({ $0 is String }) else {
                throw ConfigError(key: "berth.ui.admins", problem: "must be a list of user names")
            }
            settings.admins = Set(list.compactMap { $0 as? String })
        }
        for (key, keyPath) in [("sessionidle", \UISettings.sessionIdle), ("sessionlifetime", \UISettings.sessionLifetime)] {
            guard let text = try reader.string("berth.ui.\(key)") else { continue }
            guard let duration = goDuration(text), duration >= .seconds(60) else {
                throw ConfigError(key: "berth.ui.\(key)", problem: "must be a duration of at least 1m, such as 30m or 12h; got '\(text)'")
            }
            settings[keyPath: keyPath] = TimeInterval(duration.components.seconds)
        }
        settings.trust = try loadTrust(reader.value("berth.ui.trust"))
        settings.registryHost = config.externalURL.flatMap { URL(string: $0) }.flatMap { url in url.host.map { host in host + (url.port.map { ":\($0)" } ?? "") } }
        if let grace = config.garbageCollection?.grace { settings.collectionGrace = TimeInterval(grace.components.seconds) }
        config.ui = settings
    }

    /// `berth.ui.trust`: repository patterns, each with a list of keys in containers-policy.json's
    /// shapes: `{type: signedBy, keyType: GPGKeys, keyPath}` or `{type: sigstoreSigned, keyPath}`,
    /// plus a `name` for the page (the key file's name without its extension by default).
    static func loadTrust(_ value: Any?) throws(ConfigError) -> [TrustKey] {
        let base = "berth.ui.trust"
        guard let value else { return [] }
        guard let patterns = value as? [String: Any] else {
            throw ConfigError(key: base, problem: "must map repository patterns (team/*) to lists of keys")
        }
        var keys: [TrustKey] = []
        for pattern in patterns.keys.sorted() {
            let glob: RepositoryGlob
            do { glob = try RepositoryGlob(pattern) } catch {
                throw ConfigError(key: "\(base).\(pattern)", problem: "'\(pattern)' is not a repository pattern: \(error.reason)")
            }
            guard let list = patterns[pattern] as? [[String: Any]], !list.isEmpty else {
                throw ConfigError(key: "\(base).\(pattern)", problem: "must be a list of keys ({type: signedBy or sigstoreSigned, keyPath})")
            }
            for (index, entry) in list.enumerated() {
                let key = "\(base).\(pattern)[\(index)]"
                for field in entry.keys.sorted() where !["type", "keyType", "keyPath", "name"].contains(field) {
                    throw ConfigError(key: "\(key).\(field)", problem: "unknown field (type, keyType, keyPath, name)")
                }
                guard let path = entry["keyPath"] as? String, !path.isEmpty else { throw ConfigError(key: "\(key).keyPath", problem: "required: the public key file") }
                guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else {
                    throw ConfigError(key: "\(key).keyPath", problem: "cannot read \(path)")
                }
                let kind: TrustKey.Kind
                switch entry["type"] as? String {
                case "signedBy":
                    guard (entry["keyType"] as? String ?? "GPGKeys") == "GPGKeys" else {
                        throw ConfigError(key: "\(key).keyType", problem: "only GPGKeys is supported")
                    }
                    kind = .gpg
                case "sigstoreSigned":
                    guard (try? P256.Signing.PublicKey(pemRepresentation: String(decoding: data, as: UTF8.self))) != nil else {
                        throw ConfigError(key: "\(key).keyPath", problem: "\(path) is not a PEM ECDSA P-256 public key (cosign's)")
                    }
                    kind = .sigstore
                default:
                    throw ConfigError(key: "\(key).type", problem: "must be signedBy or sigstoreSigned")
                }
                let name = entry["name"] as? String ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                keys.append(TrustKey(name: name, kind: kind, key: Array(data), repositories: [glob]))
            }
        }
        return keys
    }
}
