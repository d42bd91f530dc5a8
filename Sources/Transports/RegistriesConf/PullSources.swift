import Foundation
import OCI

/// One place an image may be pulled from: a mirror, or the primary (rewritten by `location`).
public struct PullSource: Sendable, Equatable {
    public let reference: ImageReference
    public let insecure: Bool
    public let isMirror: Bool
    /// Why this attempt is refused, when a `blocked` entry matches its (rewritten) name.
    public let blocked: String?
}

extension RegistriesConf {
    /// Where to pull `reference` from, in order: the mirrors its entry allows for a tag or a
    /// digest reference, then the primary — as containers/image orders them. `blocked` is
    /// judged on each attempt's rewritten name, so a blocked primary can still be pulled
    /// through a mirror.
    public func pullSources(for reference: ImageReference) throws(TransportError) -> [PullSource] {
        let name = reference.description
        guard let registry = registry(matching: name) else {
            return [PullSource(reference: reference, insecure: false, isMirror: false, blocked: nil)]
        }
        let byDigest = reference.digest != nil
        var sources: [PullSource] = []
        for mirror in registry.mirrors {
            if registry.mirrorByDigestOnly, !byDigest { continue }
            if mirror.pullFrom == .digestOnly, !byDigest { continue }
            if mirror.pullFrom == .tagOnly, byDigest { continue }
            sources.append(try source(Self.rewrite(name, registry, to: mirror.location), insecure: mirror.insecure, isMirror: true))
        }
        let primary = registry.location.isEmpty ? name : Self.rewrite(name, registry, to: registry.location)
        sources.append(try source(primary, insecure: registry.insecure, isMirror: false))
        return sources
    }

    /// Pushes, deletes and tag lists go to the name itself, never a mirror: whether that host
    /// is insecure, and an error when it is blocked.
    public func directAccess(to reference: ImageReference) throws(TransportError) -> (insecure: Bool, blocked: String?) {
        guard let registry = registry(matching: reference.description) else { return (false, nil) }
        return (registry.insecure, registry.blocked ? blockedReason(reference.registry) : nil)
    }

    private func source(_ name: String, insecure: Bool, isMirror: Bool) throws(TransportError) -> PullSource {
        let reference: ImageReference
        do { reference = try ImageReference(parsing: name) } catch {
            throw TransportError.invalidName(name, "rewritten by \(files.joined(separator: ", ")): \(error.description)")
        }
        let blocked = registry(matching: name)?.blocked == true ? blockedReason(reference.registry) : nil
        return PullSource(reference: reference, insecure: insecure, isMirror: isMirror, blocked: blocked)
    }

    private func blockedReason(_ host: String) -> String {
        "registry \(host) is blocked in \(files.isEmpty ? "registries.conf" : files.joined(separator: ", "))"
    }

    // MARK: Files

    /// The configuration podman and skopeo would read: `explicit` (`--registries-conf`) or
    /// `CONTAINERS_REGISTRIES_CONF` alone; else `$XDG_CONFIG_HOME/containers/registries.conf` or,
    /// when that does not exist, `/etc/containers/registries.conf`, each followed by the `*.conf`
    /// drop-ins of its `registries.conf.d` (the system's before the user's), lexically.
    public static func load(explicit: String?, environment: [String: String], systemDirectory: String = "/etc/containers")
        throws(TransportError) -> RegistriesConf
    {
        let configHome = environment["XDG_CONFIG_HOME"] ?? "\(environment["HOME"] ?? NSHomeDirectory())/.config"
        let user = "\(configHome)/containers/registries.conf"
        let manager = FileManager.default
        var main: String?
        var dropIns: [String] = []
        if let chosen = explicit ?? environment["CONTAINERS_REGISTRIES_CONF"] {
            guard manager.fileExists(atPath: chosen) else { throw TransportError.notFound(chosen, "no such registries.conf file") }
            main = chosen
        } else if manager.fileExists(atPath: user) {
            main = user
            dropIns = ["\(user).d"]
        } else {
            let system = "\(systemDirectory)/registries.conf"
            main = manager.fileExists(atPath: system) ? system : nil
            dropIns = ["\(system).d", "\(user).d"]
        }
        var files = main.map { [$0] } ?? []
        for directory in dropIns {
            let names = ((try? manager.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".conf") }.sorted()
            files += names.map { "\(directory)/\($0)" }
        }
        var merged = RegistriesConf()
        for file in files {
            guard let data = manager.contents(atPath: file) else { throw TransportError.io(file, "cannot read this registries.conf file") }
            merged.merge(try RegistriesConf(text: String(decoding: data, as: UTF8.self), file: file))
        }
        return merged
    }
}

extension RegistriesConf {
    /// podman's short-name resolution for `pull` and `run`: nil when `text` names its registry
    /// (its first component has a `.` or `:`, or is `localhost`) or when neither an alias nor
    /// `unqualified-search-registries` applies (the name is then Docker Hub's, as skopeo and
    /// docker take it). An alias wins, with the tag or digest carried over; else one candidate
    /// per search registry, in order — several of them being an error under
    /// `short-name-mode = "enforcing"`, since berth does not prompt.
    public func shortNameCandidates(_ text: String) throws(TransportError) -> [ImageReference]? {
        if let slash = text.firstIndex(of: "/") {
            let first = text[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" { return nil }
        }
        var name = Substring(text)
        var suffix = ""
        if let at = name.firstIndex(of: "@") {
            suffix = String(name[at...])
            name = name[..<at]
        }
        if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") {
            suffix = String(name[colon...]) + suffix
            name = name[..<colon]
        }
        func parse(_ full: String) throws(TransportError) -> ImageReference {
            do { return try ImageReference(parsing: full) } catch { throw TransportError.invalidName(full, error.description) }
        }
        if let alias = aliases[String(name)] { return [try parse(alias + suffix)] }
        guard let search = unqualifiedSearchRegistries, !search.isEmpty else { return nil }
        if search.count > 1, shortNameMode == "enforcing" {
            throw TransportError.invalidName(
                text, "short-name resolution is enforced and it could be any of \(search.joined(separator: ", ")): use a fully qualified name or an [aliases] entry in \(files.joined(separator: ", "))")
        }
        var candidates: [ImageReference] = []
        for registry in search { candidates.append(try parse("\(registry)/\(name)\(suffix)")) }
        return candidates
    }
}
