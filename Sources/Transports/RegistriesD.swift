import Foundation
import OCI
import Signing
import Yams

/// containers-registries.d(5): for each registry scope, where simple signatures live when the
/// registry has no signature API (`lookaside`, written through `lookaside-staging`), and whether
/// cosign `.sig` attachments are read and written (`use-sigstore-attachments`). Every `*.yaml`
/// file of the directory is merged; the most specific scope that sets a key wins.
public struct RegistriesD: Sendable {
    struct Namespace: Sendable {
        var lookaside: String?
        var lookasideStaging: String?
        var useSigstoreAttachments: Bool?

        func lookaside(write: Bool) -> String? { write ? lookasideStaging ?? lookaside : lookaside }
    }

    var defaultDocker: Namespace?
    var docker: [String: Namespace] = [:]
    /// The lookaside used when no scope names one (containers/image's built-in default).
    let builtinLookaside: String

    static let keys: Set<String> = ["lookaside", "lookaside-staging", "sigstore", "sigstore-staging", "use-sigstore-attachments"]

    /// No configuration: the built-in lookaside directory, no sigstore attachments.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let home = environment["HOME"] ?? NSHomeDirectory()
        builtinLookaside = HostUser.isRoot ? "file:///var/lib/containers/sigstore" : "file://\(home)/.local/share/containers/sigstore"
    }

    /// `~/.config/containers/registries.d` when it exists, else `/etc/containers/registries.d`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let user = "\(environment["HOME"] ?? NSHomeDirectory())/.config/containers/registries.d"
        return FileManager.default.fileExists(atPath: user) ? user : "/etc/containers/registries.d"
    }

    /// Reads every `*.yaml` in `directory` (a missing directory is an empty configuration).
    public init(directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(TransportError) {
        self.init(environment: environment)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        var defaultFrom: String?
        var namespaceFrom: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".yaml") {
            let file = "\(directory)/\(name)"
            let (fileDefault, namespaces) = try Self.parse(file: file)
            if let fileDefault {
                if let defaultFrom { throw TransportError.invalidContent(file, "\"default-docker\" is also defined in \(defaultFrom)") }
                defaultDocker = fileDefault
                defaultFrom = file
            }
            for (scope, namespace) in namespaces {
                if let other = namespaceFrom[scope] { throw TransportError.invalidContent(file, "docker namespace \"\(scope)\" is also defined in \(other)") }
                docker[scope] = namespace
                namespaceFrom[scope] = file
            }
        }
    }

    /// The lookaside base URL for the image's repository (without tag or digest), for reading
    /// or for writing (`lookaside-staging` first).
    public func lookaside(for reference: ImageReference, write: Bool) -> URL? {
        let base = firstSetting(for: reference) { $0.lookaside(write: write) } ?? builtinLookaside
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        return URL(string: "\(trimmed)/\(reference.repository)")
    }

    public func usesSigstoreAttachments(_ reference: ImageReference) -> Bool {
        firstSetting(for: reference) { $0.useSigstoreAttachments } ?? false
    }

    private func firstSetting<T>(for reference: ImageReference, _ value: (Namespace) -> T?) -> T? {
        for scope in Policy.scopes(transport: "docker", reference.description) {
            if let namespace = docker[scope], let found = value(namespace) { return found }
        }
        return defaultDocker.flatMap(value)
    }

    private static func parse(file: String) throws(TransportError) -> (Namespace?, [String: Namespace]) {
        guard let data = FileManager.default.contents(atPath: file) else { throw TransportError.io(file, "cannot read") }
        let root: Node?
        do { root = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) } catch {
            throw TransportError.invalidContent(file, "not valid YAML: \(error)")
        }
        guard let root else { return (nil, [:]) }
        guard let top = root.mapping else { throw invalid(file, root, "expected a mapping with default-docker and docker") }
        var defaultDocker: Namespace?
        var namespaces: [String: Namespace] = [:]
        for (key, value) in top {
            switch key.string {
            case "default-docker":
                defaultDocker = try namespace(value, file)
            case "docker":
                guard let scopes = value.mapping else { throw invalid(file, value, "docker: expected a mapping of scopes") }
                for (scope, body) in scopes {
                    guard let name = scope.string, !name.isEmpty else { throw invalid(file, scope, "docker: empty scope") }
                    namespaces[name] = try namespace(body, file)
                }
            default:
                throw invalid(file, key, "unknown key \"\(key.string ?? "")\" (expected default-docker, docker)")
            }
        }
        return (defaultDocker, namespaces)
    }

    private static func namespace(_ node: Node, _ file: String) throws(TransportError) -> Namespace {
        var namespace = Namespace()
        if node.null != nil { return namespace }
        guard let fields = node.mapping else { throw invalid(file, node, "expected a mapping of \(keys.sorted().joined(separator: ", "))") }
        var legacy = Namespace()
        for (key, value) in fields {
            let name = key.string ?? ""
            guard keys.contains(name) else { throw invalid(file, key, "unknown key \"\(name)\" (expected \(keys.sorted().joined(separator: ", ")))") }
            if name == "use-sigstore-attachments" {
                guard let flag = value.bool else { throw invalid(file, value, "\(name): expected true or false") }
                namespace.useSigstoreAttachments = flag
                continue
            }
            guard let url = value.string, let parsed = URL(string: url), let scheme = parsed.scheme, ["file", "http", "https"].contains(scheme) else {
                throw invalid(file, value, "\(name): expected a file://, http:// or https:// URL")
            }
            switch name {
            case "lookaside": namespace.lookaside = url
            case "lookaside-staging": namespace.lookasideStaging = url
            case "sigstore": legacy.lookaside = url
            default: legacy.lookasideStaging = url
            }
        }
        // The pre-1.10 names apply only where the new ones are not set.
        namespace.lookaside = namespace.lookaside ?? legacy.lookaside
        namespace.lookasideStaging = namespace.lookasideStaging ?? legacy.lookasideStaging
        return namespace
    }

    private static func invalid(_ file: String, _ node: Node, _ why: String) -> TransportError {
        .invalidContent(node.mark.map { "\(file):\($0.line)" } ?? file, why)
    }
}
