// RegistryServer: the HTTP face of the registry. Loads distribution-style config.yml, maps
// distribution-spec routes onto `RegistryStorage.Registry`, turns `RegistryError`s into the spec's
// JSON errors, logs one access line per request.

import Foundation
import RegistryUI
import PullThroughCache
import RegistryStorage
import Logging
import NIOSSL
import Yams

/// The server's settings, read from a distribution-style `config.yml` plus `REGISTRY_*` overrides.
public struct ServerConfig: Sendable {
    public var logLevel: Logger.Level = .info
    /// `storage.filesystem.rootdirectory`: blobs (with the filesystem driver), the SQLite
    /// metadata and generated keys.
    public var rootDirectory: String = "./berth-data"
    /// `storage.s3`: blobs in a bucket instead of under `rootDirectory`.
    public var s3: S3StorageSettings?
    /// `database:`: metadata in PostgreSQL instead of the SQLite file.
    public var postgres: PostgresSettings?
    /// Blob GETs answer 307 to a presigned URL where the store offers one (`storage.redirect.disable`).
    public var redirect = true
    /// SQLite file; defaults to `<rootDirectory>/metadata.sqlite`.
    public var databasePath: String?
    public var deleteEnabled = true
    public var readOnly = false
    public var host = "127.0.0.1"
    public var port = 5000
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// `http.tls.clientcas`: CA files whose client certificates are required (mutual TLS).
    public var clientCAs: [String] = []
    /// `http.tls.minimumtls`: `tls1.2` unless set.
    public var minimumTLS: TLSVersion = .tlsv12
    /// `http.host`: scheme and authority for absolute `Location` headers.
    public var externalURL: String?
    /// `berth.http.forwardedheaders`: without `http.host`, build absolute URLs from a proxy's
    /// `X-Forwarded-Proto`/`X-Forwarded-Host` (off: clients could otherwise steer redirects).
    public var trustForwardedHeaders = false
    /// `http.draintimeout`: after SIGTERM, how long requests in flight may take to finish before
    /// their connections are closed.
    public var drainTimeout: Duration = .seconds(30)
    public var maxManifestBytes = 4 * 1024 * 1024
    public var requireManifestReferences = true
    /// `berth.signatures.deletewithimage`: deleting an image deletes its cosign `.sig` tag too.
    public var deleteSignatureTags = true
    public var catalogMaxEntries = 1000
    /// `http.debug.addr`: where `/metrics`, `/healthz` and `/readyz` are served (off when nil).
    public var debugAddress: (host: String, port: Int)?
    /// `storage.maintenance.uploadpurging`: abandoned upload sessions are deleted once `age` old,
    /// checked every `interval` (nil when disabled).
    public var uploadPurging: (age: Duration, interval: Duration, dryRun: Bool)? = (.seconds(24 * 3600), .seconds(24 * 3600), false)
    /// `berth.gc`: online garbage collection every `interval` of what nothing has kept for
    /// `grace` (nil when disabled); `untagged` also collects untagged, unreferenced manifests.
    public var garbageCollection: (grace: Duration, interval: Duration, untagged: Bool)? = (.seconds(24 * 3600), .seconds(3600), true)
    /// `notifications.endpoints`: webhooks.
    public var webhooks: [WebhookEndpoint] = []
    /// `auth.htpasswd`: Basic authentication against an htpasswd file of bcrypt hashes.
    public var htpasswd: (realm: String, path: String)?
    /// `auth.token`: Bearer JWTs from a token server.
    public var token: (realm: String, service: String, issuer: String, rootCertBundle: String?, jwks: String?)?
    /// `berth.tokenserver`: the built-in token server at `/auth/token` and Bearer checks of its tokens.
    public var tokenServer: TokenServerSettings?
    /// `berth.auth.failuredelay` (milliseconds): how long every failed login waits before its 401.
    public var authFailureDelay: Duration = .milliseconds(500)
    /// A request still unanswered this long is logged once as a warning while it goes on (not a
    /// key of the file: tests shorten it).
    public var slowRequestWarning: Duration = .seconds(30)
    /// `proxy:` or `berth.cache:`: repositories filled from upstream registries on demand (the
    /// spool directory is set when the server starts, under the root directory).
    public var cache: CacheSettings?
    /// `berth.ui`: the web interface, when enabled.
    public var ui: UISettings?
    /// Keys that were present but are unknown or not supported; startup logs them.
    public var warnings: [String] = []

    public init() {}

    public var resolvedDatabasePath: String { databasePath ?? "\(rootDirectory)/metadata.sqlite" }

    public var blobStorage: BlobStorageSettings { s3.map(BlobStorageSettings.s3) ?? .filesystem(rootDirectory: rootDirectory) }

    /// Where blobs go, for the startup line.
    public var storageDescription: String {
        let blobs = s3.map { "s3://\($0.location.bucket)/\($0.rootDirectory) at \($0.location.endpoint.absoluteString)" } ?? rootDirectory
        return postgres.map { "\(blobs), metadata in \($0.location)" } ?? blobs
    }

    /// The configuration used when no file exists: the same as `registry-config/config.yml`.
    public static let embeddedDefault = """
        version: 0.1
        log:
          level: info
        storage:
          filesystem:
            rootdirectory: ./berth-data
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:5000
        berth:
          ui:
            enabled: true
        """

    /// Parses `yaml`, applies `REGISTRY_*` variables from `environment`, and checks every value;
    /// a mistake names the line of `file` it is on.
    public static func load(yaml: String, environment: [String: String] = [:], file: String = "config") throws(ConfigError) -> ServerConfig {
        do { return try parse(yaml: yaml, environment: environment) } catch { throw error.located(in: yaml, file: file) }
    }

    /// The YAML as dictionaries, arrays and scalars. Yams' own untyped loading traps on a mapping
    /// key that is not a scalar (`? [a]: b`, found by fuzzing), so the node tree is checked first.
    private static func loadTree(_ yaml: String) throws -> Any? {
        guard let root = try Yams.compose(yaml: yaml) else { return nil }
        func check(_ node: Node, depth: Int) throws(ConfigError) {
            guard depth < 256 else { throw ConfigError(key: "", problem: "nested too deeply") }
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    guard case .scalar = key else {
                        throw ConfigError(key: "", problem: "line \(key.mark?.line ?? 0): a mapping key must be a plain value")
                    }
                    try check(value, depth: depth + 1)
                }
            case .sequence(let sequence):
                for element in sequence { try check(element, depth: depth + 1) }
            case .scalar, .alias:
                break
            }
        }
        try check(root, depth: 0)
        return Constructor.default.any(from: root)
    }

    private static func parse(yaml: String, environment: [String: String]) throws(ConfigError) -> ServerConfig {
        var tree: [String: Any]
        do {
            guard let loaded = try loadTree(yaml) else { throw ConfigError(key: "", problem: "the file is empty") }
            guard let dictionary = loaded as? [String: Any] else {
                throw ConfigError(key: "", problem: "the top level must be a mapping")
            }
            tree = dictionary
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(key: "", problem: "not valid YAML: \(error)")
        }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("REGISTRY_") {
            let path = name.dropFirst("REGISTRY_".count).lowercased().split(separator: "_").map(String.init)
            guard !path.isEmpty else { continue }
            let scalar: Any = ((try? loadTree(value)) ?? nil) ?? value
            set(&tree, path: path[...], value: scalar)
        }
        var config = ServerConfig()
        let reader = TreeReader(tree: tree)
        if let version = try reader.string("version"), version != "0.1" {
            throw ConfigError(key: "version", problem: "must be 0.1, got '\(version)'")
        }
        if let level = try reader.string("log.level") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) ?? (level.lowercased() == "warn" ? .warning : nil) else {
                throw ConfigError(key: "log.level", problem: "must be one of trace, debug, info, warn, error; got '\(level)'")
            }
            config.logLevel = parsed
        }
        if let root = try reader.string("storage.filesystem.rootdirectory") {
            guard !root.isEmpty else { throw ConfigError(key: "storage.filesystem.rootdirectory", problem: "must not be empty") }
            config.rootDirectory = root
        }
        try loadStorage(reader, environment: environment, into: &config)
        config.deleteEnabled = try reader.bool("storage.delete.enabled") ?? config.deleteEnabled
        config.readOnly = try reader.bool("storage.maintenance.readonly.enabled") ?? config.readOnly
        if let addr = try reader.string("http.addr") {
            (config.host, config.port) = try parseAddress(addr)
        }
        if let debug = try reader.string("http.debug.addr") {
            do { config.debugAddress = try parseAddress(debug) } catch { throw ConfigError(key: "http.debug.addr", problem: "must be HOST:PORT, got '\(debug)'") }
        }
        if let drain = try reader.string("http.draintimeout") {
            guard let parsed = goDuration(drain) else {
                throw ConfigError(key: "http.draintimeout", problem: "must be a duration such as 30s or 2m, got '\(drain)'")
            }
            config.drainTimeout = parsed
        }
        config.tlsCertificate = try reader.string("http.tls.certificate")
        config.tlsKey = try reader.string("http.tls.key")
        if let cas = reader.value("http.tls.clientcas") {
            guard let list = cas as? [Any], list.allSatisfy({ $0 is String }) else {
                throw ConfigError(key: "http.tls.clientcas", problem: "must be a list of CA certificate files")
            }
            config.clientCAs = list.compactMap { $0 as? String }
        }
        if let minimum = try reader.string("http.tls.minimumtls") {
            let versions: [String: TLSVersion] = ["tls1.0": .tlsv1, "tls1.1": .tlsv11, "tls1.2": .tlsv12, "tls1.3": .tlsv13]
            guard let version = versions[minimum.lowercased()] else {
                throw ConfigError(key: "http.tls.minimumtls", problem: "must be tls1.0, tls1.1, tls1.2 or tls1.3, got '\(minimum)'")
            }
            config.minimumTLS = version
        }
        if config.tlsCertificate == nil, !config.clientCAs.isEmpty {
            throw ConfigError(key: "http.tls.clientcas", problem: "needs http.tls.certificate and key")
        }
        if (config.tlsCertificate == nil) != (config.tlsKey == nil) {
            throw ConfigError(key: "http.tls", problem: "certificate and key must be given together")
        }
        if let host = try reader.string("http.host") {
            guard let url = URL(string: host), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw ConfigError(key: "http.host", problem: "must be an absolute http(s) URL, got '\(host)'")
            }
            config.externalURL = host.hasSuffix("/") ? String(host.dropLast()) : host
        }
        config.trustForwardedHeaders = try reader.bool("berth.http.forwardedheaders") ?? false
        config.databasePath = try reader.string("berth.database.path")
        if let size = try reader.int("berth.manifests.maxsize") {
            guard size >= 4 * 1024 * 1024 else {
                throw ConfigError(key: "berth.manifests.maxsize", problem: "must be at least 4194304 (the spec's minimum)")
            }
            config.maxManifestBytes = size
        }
        config.requireManifestReferences = try reader.bool("berth.manifests.requirereferences") ?? true
        config.deleteSignatureTags = try reader.bool("berth.signatures.deletewithimage") ?? true
        if let entries = try reader.int("catalog.maxentries") {
            guard entries > 0 else { throw ConfigError(key: "catalog.maxentries", problem: "must be positive") }
            config.catalogMaxEntries = entries
        }
        try loadAuth(reader, tree, into: &config)
        try loadCache(reader, into: &config)
        if try reader.bool("storage.maintenance.uploadpurging.enabled") == false {
            config.uploadPurging = nil
        } else {
            func duration(_ key: String, _ fallback: Duration) throws(ConfigError) -> Duration {
                let path = "storage.maintenance.uploadpurging.\(key)"
                guard let text = try reader.string(path) else { return fallback }
                guard let parsed = goDuration(text), parsed > .zero else {
                    throw ConfigError(key: path, problem: "must be a duration such as 24h, 90m or 30s, got '\(text)'")
                }
                return parsed
            }
            let defaults = config.uploadPurging!
            config.uploadPurging = (
                try duration("age", defaults.age), try duration("interval", defaults.interval),
                try reader.bool("storage.maintenance.uploadpurging.dryrun") ?? false
            )
        }
        try loadNotifications(tree, into: &config)
        if try reader.bool("berth.gc.enabled") == false {
            config.garbageCollection = nil
        } else {
            func duration(_ key: String, _ fallback: Duration) throws(ConfigError) -> Duration {
                guard let text = try reader.string("berth.gc.\(key)") else { return fallback }
                guard let parsed = goDuration(text), parsed > .zero else {
                    throw ConfigError(key: "berth.gc.\(key)", problem: "must be a duration such as 24h, 90m or 30s, got '\(text)'")
                }
                return parsed
            }
            let defaults = config.garbageCollection!
            config.garbageCollection = (
                try duration("grace", defaults.grace), try duration("interval", defaults.interval), try reader.bool("berth.gc.untagged") ?? true
            )
        }
        try loadUI(reader, into: &config)
        config.warnings = unrecognisedKeys(tree) + ignoredDatabaseWarnings(reader)
        return config
    }

    /// `notifications.endpoints`: name and url required; durations in Go syntax.
    private static func loadNotifications(_ tree: [String: Any], into config: inout ServerConfig) throws(ConfigError) {
        guard let notifications = tree["notifications"] as? [String: Any], let list = notifications["endpoints"] else { return }
        guard let entries = list as? [[String: Any]] else { throw ConfigError(key: "notifications.endpoints", problem: "must be a list of endpoints") }
        for (index, entry) in entries.enumerated() {
            let key = "notifications.endpoints[\(index)]"
            if entry["disabled"] as? Bool == true { continue }
            guard let name = entry["name"] as? String, !name.isEmpty else { throw ConfigError(key: "\(key).name", problem: "required") }
            guard let url = entry["url"] as? String, let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? "") else {
                throw ConfigError(key: "\(key).url", problem: "must be an http(s) URL")
            }
            var endpoint = WebhookEndpoint(name: name, url: url)
            if let headers = entry["headers"] {
                guard let map = headers as? [String: Any] else { throw ConfigError(key: "\(key).headers", problem: "must map names to lists of values") }
                for (header, values) in map {
                    guard let list = (values as? [Any])?.compactMap({ $0 as? String }) ?? (values as? String).map({ [$0] }) else {
                        throw ConfigError(key: "\(key).headers.\(header)", problem: "must be a list of strings")
                    }
                    endpoint.headers[header] = list
                }
            }
            for (field, apply) in [("timeout", { (d: Duration) in endpoint.timeout = d }), ("backoff", { (d: Duration) in endpoint.backoff = d })] {
                guard let text = entry[field] else { continue }
                guard let duration = goDuration("\(text)"), duration > .zero else { throw ConfigError(key: "\(key).\(field)", problem: "must be a duration such as 1s or 500ms") }
                apply(duration)
            }
            if let threshold = entry["threshold"] {
                guard let value = threshold as? Int, value >= 0 else { throw ConfigError(key: "\(key).threshold", problem: "must be a non-negative integer") }
                endpoint.threshold = value
            }
            endpoint.ignoredMediaTypes = (entry["ignoredmediatypes"] as? [Any])?.compactMap { $0 as? String } ?? []
            if let ignore = entry["ignore"] as? [String: Any] {
                endpoint.ignoredMediaTypes += (ignore["mediatypes"] as? [Any])?.compactMap { $0 as? String } ?? []
                endpoint.ignoredActions = (ignore["actions"] as? [Any])?.compactMap { $0 as? String } ?? []
            }
            guard !config.webhooks.contains(where: { $0.name == name }) else { throw ConfigError(key: "\(key).name", problem: "'\(name)' is used twice") }
            config.webhooks.append(endpoint)
        }
    }

    /// htpasswd, token, or berth's own token server: any other `auth` section stops the server
    /// rather than leaving a registry its operator meant to protect open to everyone.
    private static func loadAuth(_ reader: TreeReader, _ tree: [String: Any], into config: inout ServerConfig) throws(ConfigError) {
        if let delay = try reader.int("berth.auth.failuredelay") {
            guard (0...10_000).contains(delay) else { throw ConfigError(key: "berth.auth.failuredelay", problem: "must be 0-10000 (milliseconds)") }
            config.authFailureDelay = .milliseconds(delay)
        }
        if reader.value("berth.tokenserver") != nil {
            guard tree["auth"] == nil else {
                throw ConfigError(key: "berth.tokenserver", problem: "is an authentication mode of its own; remove the auth section (or this one)")
            }
            config.tokenServer = try loadTokenServer(reader)
            return
        }
        guard let auth = tree["auth"] as? [String: Any] else { return }
        for method in auth.keys.sorted() where !["htpasswd", "token"].contains(method) {
            throw ConfigError(key: "auth.\(method)", problem: "not supported by berth (auth.htpasswd or auth.token); refusing to serve without the authentication configured")
        }
        guard auth.count == 1 else { throw ConfigError(key: "auth", problem: "configure one of htpasswd and token, not both") }
        if auth["token"] != nil {
            var values: [String] = []
            for key in ["realm", "service", "issuer"] {
                guard let value = try reader.string("auth.token.\(key)"), !value.isEmpty else { throw ConfigError(key: "auth.token.\(key)", problem: "required") }
                values.append(value)
            }
            let bundle = try reader.string("auth.token.rootcertbundle")
            let jwks = try reader.string("auth.token.jwks")
            guard bundle != nil || jwks != nil else {
                throw ConfigError(key: "auth.token.rootcertbundle", problem: "required (or auth.token.jwks): the keys tokens are signed with")
            }
            config.token = (values[0], values[1], values[2], bundle, jwks)
            return
        }
        guard let path = try reader.string("auth.htpasswd.path"), !path.isEmpty else {
            throw ConfigError(key: "auth.htpasswd.path", problem: "required: the htpasswd file (bcrypt entries, htpasswd -B)")
        }
        config.htpasswd = (try reader.string("auth.htpasswd.realm") ?? "berth", path)
    }

    private static func loadTokenServer(_ reader: TreeReader) throws(ConfigError) -> TokenServerSettings {
        let base = "berth.tokenserver"
        guard reader.value(base) is [String: Any] else { throw ConfigError(key: base, problem: "must be a mapping (htpasswd, access, ...)") }
        guard let htpasswd = try reader.string("\(base).htpasswd"), !htpasswd.isEmpty else {
            throw ConfigError(key: "\(base).htpasswd", problem: "required: the users' htpasswd file (bcrypt entries, htpasswd -B)")
        }
        var settings = TokenServerSettings(
            htpasswd: htpasswd, policy: try AccessPolicy.parse(groups: reader.value("\(base).groups"), access: reader.value("\(base).access")))
        settings.key = try reader.string("\(base).key")
        settings.service = try reader.string("\(base).service") ?? settings.service
        settings.issuer = try reader.string("\(base).issuer") ?? settings.issuer
        if let realm = try reader.string("\(base).realm") {
            guard let url = URL(string: realm), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ConfigError(key: "\(base).realm", problem: "must be an absolute http(s) URL, got '\(realm)'")
            }
            settings.realm = realm
        }
        if let text = try reader.string("\(base).expiration") {
            guard let lifetime = goDuration(text), lifetime >= .seconds(60), lifetime <= .seconds(24 * 3600) else {
                throw ConfigError(key: "\(base).expiration", problem: "must be a duration from 1m to 24h, got '\(text)'")
            }
            settings.expiration = lifetime
        }
        return settings
    }

    /// Go's duration syntax as distribution's config takes it: `168h`, `1h30m`, `90s`, `500ms`.
    static func goDuration(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        var total = Duration.zero
        var rest = Substring(text)
        let units: [(String, Duration)] = [("ms", .milliseconds(1)), ("h", .seconds(3600)), ("m", .seconds(60)), ("s", .seconds(1))]
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value == value.rounded() ? scale * Int(value) : scale * value
        }
        return total
    }

    public static func load(file: String, environment: [String: String]) throws(ConfigError) -> ServerConfig {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigError(key: "", problem: "cannot read \(file): no such file or not readable")
        }
        return try load(yaml: text, environment: environment, file: file)
    }

    static func parseAddress(_ addr: String) throws(ConfigError) -> (String, Int) {
        guard let colon = addr.lastIndex(of: ":"), let port = Int(addr[addr.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigError(key: "http.addr", problem: "must be HOST:PORT, got '\(addr)'")
        }
        var host = String(addr[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    private static func set(_ tree: inout [String: Any], path: ArraySlice<String>, value: Any) {
        guard let head = path.first else { return }
        if path.count == 1 {
            tree[head] = value
            return
        }
        var child = tree[head] as? [String: Any] ?? [:]
        set(&child, path: path.dropFirst(), value: value)
        tree[head] = child
    }

    /// Keys Berth reads; every other key is reported.
    static let supportedKeys: Set<String> = [
        "version", "log.level", "storage.filesystem.rootdirectory", "storage.delete.enabled",
        "storage.maintenance.readonly.enabled", "http.addr", "http.tls.certificate", "http.tls.key", "http.host",
        "http.tls.clientcas", "http.tls.minimumtls", "http.draintimeout",
        "berth.database.path", "berth.manifests.maxsize", "berth.manifests.requirereferences", "berth.signatures.deletewithimage", "catalog.maxentries",
        "auth.htpasswd.realm", "auth.htpasswd.path", "berth.auth.failuredelay", "auth.token.realm", "auth.token.service",
        "auth.token.issuer", "auth.token.rootcertbundle", "auth.token.jwks", "http.debug.addr",
        "berth.tokenserver.htpasswd", "berth.tokenserver.key", "berth.tokenserver.service", "berth.tokenserver.issuer",
        "berth.tokenserver.realm", "berth.tokenserver.expiration", "berth.tokenserver.groups", "berth.tokenserver.access",
        "berth.http.forwardedheaders", "berth.gc.enabled", "berth.gc.grace", "berth.gc.interval", "berth.gc.untagged", "notifications.endpoints",
        "storage.maintenance.uploadpurging.enabled", "storage.maintenance.uploadpurging.age",
        "storage.maintenance.uploadpurging.interval", "storage.maintenance.uploadpurging.dryrun",
        "storage.s3", "storage.redirect.disable", "database",
        "proxy.remoteurl", "proxy.username", "proxy.password", "berth.cache.upstreams", "berth.cache.notfoundttl", "berth.cache.timeout",
        "berth.cache.maxsize", "berth.ui.enabled", "berth.ui.basepath", "berth.ui.readonly", "berth.ui.admins", "berth.ui.sessionidle",
        "berth.ui.sessionlifetime", "berth.ui.trust",
    ]

    /// distribution keys Berth accepts without acting on them (yet).
    static let ignoredDistributionSections = [
        "log.formatter", "log.fields", "log.accesslog", "loglevel", "storage.cache", "storage.redirect", "storage.maintenance",
        "storage.tag", "http.secret", "http.prefix", "http.headers", "http.debug", "http.http2", "http.relativeurls",
        "http.net", "http.tls", "notifications.events", "redis", "health", "proxy.ttl", "proxy.exec", "proxy.cachewritetimeout",
        "validation",
        "compatibility", "reporting", "middleware",
    ]

    private static func unrecognisedKeys(_ tree: [String: Any], prefix: String = "") -> [String] {
        var out: [String] = []
        for (key, value) in tree.sorted(by: { $0.key < $1.key }) {
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if supportedKeys.contains(path) { continue }
            if let child = value as? [String: Any], supportedKeys.contains(where: { $0.hasPrefix(path + ".") }) {
                out += unrecognisedKeys(child, prefix: path)
            } else if ignoredDistributionSections.contains(where: { path == $0 || path.hasPrefix($0 + ".") }) {
                out.append("\(path): not supported by berth, ignored")
            } else {
                out.append("\(path): unknown key, ignored")
            }
        }
        return out
    }
}

/// A configuration problem, naming the key.
public struct ConfigError: Error, CustomStringConvertible {
    public let key: String
    public let problem: String
    /// `file:line` of the mistake, when known.
    public var location: String?

    public init(key: String, problem: String, location: String? = nil) {
        self.key = key
        self.problem = problem
        self.location = location
    }

    public var description: String {
        let keyed = key.isEmpty ? problem : "\(key): \(problem)"
        return "\(location ?? "config"): \(keyed)"
    }
}

extension ConfigError {
    /// The same error pointing at the line of `yaml` (read from `file`) where its key is, when
    /// that line can be found (a value from the environment has none).
    func located(in yaml: String, file: String) -> ConfigError {
        guard location == nil else { return self }
        guard !key.isEmpty, let root = try? Yams.compose(yaml: yaml) else {
            // Not about one key (the file is not YAML, say): it is still this file's problem.
            var copy = self
            copy.location = file
            return copy
        }
        var node = root
        var line = root.mark?.line
        // "notifications.endpoints[1].url" → notifications, endpoints, #1, url.
        for part in key.split(separator: ".") {
            var pieces = part.split(separator: "[")
            let name = pieces.isEmpty ? "" : String(pieces.removeFirst())
            guard let pair = node.mapping?.first(where: { $0.key.string == name }) else { break }
            line = pair.key.mark?.line
            node = pair.value
            for piece in pieces {
                guard let index = Int(piece.dropLast()), let items = node.sequence, items.indices.contains(index) else { break }
                node = items[index]
                line = node.mark?.line
            }
        }
        var copy = self
        copy.location = line.map { "\(file):\($0)" }
        return copy
    }
}

/// Typed access to a YAML tree by dotted path.
struct TreeReader {
    let tree: [String: Any]

    func value(_ path: String) -> Any? {
        var node: Any? = tree
        for part in path.split(separator: ".") {
            node = (node as? [String: Any])?[String(part)]
        }
        return node is NSNull ? nil : node
    }

    func string(_ path: String) throws(ConfigError) -> String? {
        guard let v = value(path) else { return nil }
        switch v {
        case let s as String: return s
        case let i as Int: return String(i)
        case let d as Double: return String(d)
        default: throw ConfigError(key: path, problem: "expected a string")
        }
    }

    func bool(_ path: String) throws(ConfigError) -> Bool? {
        guard let v = value(path) else { return nil }
        if let b = v as? Bool { return b }
        throw ConfigError(key: path, problem: "expected true or false, got '\(v)'")
    }

    func int(_ path: String) throws(ConfigError) -> Int? {
        guard let v = value(path) else { return nil }
        if let i = v as? Int { return i }
        if let s = v as? String, let i = Int(s) { return i }
        throw ConfigError(key: path, problem: "expected an integer, got '\(v)'")
    }
}
