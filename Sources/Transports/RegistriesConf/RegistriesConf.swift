import Foundation
import OCI

/// containers-registries.conf(5), version 2, as podman and skopeo read it: per-prefix registry
/// entries (`location` rewriting, `insecure`, `blocked`, mirrors tried before the primary), and
/// short-name settings. A file names its problems with the line they are on.
public struct RegistriesConf: Sendable, Equatable {
    public enum PullFromMirror: String, Sendable { case all, digestOnly = "digest-only", tagOnly = "tag-only" }

    public struct Mirror: Sendable, Equatable {
        public var location: String
        public var insecure = false
        public var pullFrom = PullFromMirror.all
    }

    public struct Registry: Sendable, Equatable {
        /// What names it applies to: a name, a namespace, or `*.domain` (any subdomain).
        public var prefix: String
        /// Where those names really live (empty for a wildcard that only sets flags).
        public var location: String
        public var insecure = false
        public var blocked = false
        public var mirrorByDigestOnly = false
        public var mirrors: [Mirror] = []
    }

    public var registries: [Registry] = []
    public var unqualifiedSearchRegistries: [String]?
    public var shortNameMode: String?
    public var aliases: [String: String] = [:]
    /// The files read, in order (for messages).
    public var files: [String] = []

    public init() {}

    /// One file's settings; `file` names it in errors.
    public init(text: String, file: String) throws(TransportError) {
        let document: [String: TOMLValue]
        do { document = try TOMLParser.parse(text) } catch {
            throw TransportError.invalidContent(file, "line \(error.line): \(error.problem)")
        }
        func invalid(_ why: String) -> TransportError { .invalidContent(file, why) }
        if document["registries"] != nil {
            throw invalid("the version 1 format ([registries.search], [registries.insecure], [registries.block]) is not supported; use [[registry]] tables")
        }
        let known: Set<String> = ["registry", "unqualified-search-registries", "short-name-mode", "aliases", "credential-helpers",
                                  "additional-layer-store-auth-helper"]
        if let unknown = document.keys.filter({ !known.contains($0) }).sorted().first { throw invalid("unknown key '\(unknown)'") }
        files = [file]
        if let value = document["unqualified-search-registries"] {
            guard let hosts = value.array?.compactMap(\.string), hosts.count == value.array?.count else {
                throw invalid("unqualified-search-registries must be an array of strings")
            }
            unqualifiedSearchRegistries = hosts
        }
        if let value = document["short-name-mode"] {
            guard let mode = value.string, ["enforcing", "permissive", "disabled"].contains(mode) else {
                throw invalid("short-name-mode must be \"enforcing\", \"permissive\" or \"disabled\"")
            }
            shortNameMode = mode
        }
        if let value = document["aliases"] {
            guard let table = value.table else { throw invalid("[aliases] must be a table") }
            for (name, target) in table {
                guard let target = target.string else { throw invalid("alias \(name) must be a string") }
                aliases[name] = target
            }
        }
        var seen: Set<String> = []
        for entry in document["registry"]?.array ?? [] {
            guard let table = entry.table else { throw invalid("[[registry]] entries must be tables") }
            let registry = try Self.registry(table, invalid)
            // Within one file a repeated prefix is ignored (the first wins), as containers/image does.
            if seen.insert(registry.prefix).inserted { registries.append(registry) }
        }
        if document["registry"] != nil, document["registry"]?.array == nil { throw invalid("registry must be [[registry]] tables") }
        try checkConflicts(invalid)
    }

    private static func registry(_ table: [String: TOMLValue], _ invalid: (String) -> TransportError) throws(TransportError) -> Registry {
        if table["pull-from-mirror"] != nil { throw invalid("pull-from-mirror belongs in [[registry.mirror]], not [[registry]]") }
        let keys: Set<String> = ["prefix", "location", "insecure", "blocked", "mirror-by-digest-only", "mirror"]
        if let unknown = table.keys.filter({ !keys.contains($0) }).sorted().first { throw invalid("unknown key '\(unknown)' in [[registry]]") }
        func string(_ key: String) throws(TransportError) -> String {
            guard let value = table[key] else { return "" }
            guard let text = value.string else { throw invalid("\(key) must be a string") }
            return text
        }
        func flag(_ key: String, in table: [String: TOMLValue]) throws(TransportError) -> Bool {
            guard let value = table[key] else { return false }
            guard let bool = value.bool else { throw invalid("\(key) must be true or false") }
            return bool
        }
        let location = trimmed(try string("location"))
        var prefix = try string("prefix")
        if prefix.isEmpty { prefix = location }
        guard !prefix.isEmpty else { throw invalid("a [[registry]] needs a prefix or a location") }
        if prefix.hasPrefix("*.") {
            guard !prefix.dropFirst(2).contains(where: { "/@:*".contains($0) }) else {
                throw invalid("wildcard prefix \(prefix) may hold only a domain after '*.'")
            }
        } else {
            guard !location.isEmpty else { throw invalid("[[registry]] \(prefix) needs a location (only a *.domain prefix may leave it empty)") }
            guard !prefix.contains("*") else { throw invalid("prefix \(prefix): '*' is allowed only as a leading '*.'") }
        }
        if location.contains("://") { throw invalid("location \(location) must not have a URI scheme") }
        var registry = Registry(prefix: trimmed(prefix), location: location)
        registry.insecure = try flag("insecure", in: table)
        registry.blocked = try flag("blocked", in: table)
        registry.mirrorByDigestOnly = try flag("mirror-by-digest-only", in: table)
        for entry in table["mirror"]?.array ?? [] {
            guard let mirror = entry.table else { throw invalid("[[registry.mirror]] entries must be tables") }
            let mirrorKeys: Set<String> = ["location", "insecure", "pull-from-mirror"]
            if let unknown = mirror.keys.filter({ !mirrorKeys.contains($0) }).sorted().first {
                throw invalid("unknown key '\(unknown)' in [[registry.mirror]]")
            }
            guard let location = mirror["location"]?.string.map(trimmed), !location.isEmpty else {
                throw invalid("a [[registry.mirror]] of \(registry.prefix) needs a location")
            }
            var parsed = Mirror(location: location, insecure: try flag("insecure", in: mirror))
            if let value = mirror["pull-from-mirror"] {
                guard let text = value.string, let pull = PullFromMirror(rawValue: text) else {
                    throw invalid("pull-from-mirror of \(location) must be \"all\", \"digest-only\" or \"tag-only\"")
                }
                guard !registry.mirrorByDigestOnly || pull == .all else {
                    throw invalid("pull-from-mirror cannot be set with mirror-by-digest-only (\(registry.prefix))")
                }
                parsed.pullFrom = pull
            }
            registry.mirrors.append(parsed)
        }
        return registry
    }

    private static func trimmed(_ location: String) -> String {
        var text = Substring(location)
        while text.hasSuffix("/") { text = text.dropLast() }
        return String(text)
    }

    /// One location must not be both insecure and secure, or both blocked and not.
    private func checkConflicts(_ invalid: (String) -> TransportError) throws(TransportError) {
        var insecure: [String: Bool] = [:]
        var blocked: [String: Bool] = [:]
        for registry in registries where !registry.location.isEmpty {
            if let before = insecure.updateValue(registry.insecure, forKey: registry.location), before != registry.insecure {
                throw invalid("location \(registry.location) is both insecure and not")
            }
            if let before = blocked.updateValue(registry.blocked, forKey: registry.location), before != registry.blocked {
                throw invalid("location \(registry.location) is both blocked and not")
            }
        }
    }

    /// `later` read after this: a registry with the same prefix replaces the whole entry, global
    /// keys it sets replace ours, aliases merge per name (an empty value removes one).
    public mutating func merge(_ later: RegistriesConf) {
        for registry in later.registries {
            if let index = registries.firstIndex(where: { $0.prefix == registry.prefix }) {
                registries[index] = registry
            } else {
                registries.append(registry)
            }
        }
        if let search = later.unqualifiedSearchRegistries { unqualifiedSearchRegistries = search }
        if let mode = later.shortNameMode { shortNameMode = mode }
        for (name, target) in later.aliases { aliases[name] = target.isEmpty ? nil : target }
        files += later.files
    }

    // MARK: Matching

    /// The entry whose prefix matches `name` (`host/path[:tag][@digest]`) longest.
    func registry(matching name: String) -> Registry? {
        var best: Registry?
        for registry in registries where Self.matches(registry.prefix, name) {
            if registry.prefix.count > (best?.prefix.count ?? -1) { best = registry }
        }
        return best
    }

    /// A prefix matches when the name starts with it and goes on with nothing, `/`, `:` or `@`;
    /// `*.example.com` matches any subdomain of example.com in the host part.
    static func matches(_ prefix: String, _ name: String) -> Bool {
        if prefix.hasPrefix("*.") {
            let host = name.prefix { $0 != "/" }
            let hostOnly = host.split(separator: ":", maxSplits: 1).first.map(String.init) ?? String(host)
            return hostOnly.hasSuffix(prefix.dropFirst(1)) && hostOnly.count > prefix.count - 1
        }
        guard name.hasPrefix(prefix) else { return false }
        let rest = name.dropFirst(prefix.count)
        return rest.isEmpty || "/:@".contains(rest.first!)
    }

    /// `name` with the matched prefix replaced by `location` (a wildcard entry keeps the name).
    static func rewrite(_ name: String, _ registry: Registry, to location: String) -> String {
        if registry.prefix.hasPrefix("*.") { return location.isEmpty ? name : location + name.drop { $0 != "/" } }
        return location + name.dropFirst(registry.prefix.count)
    }
}
