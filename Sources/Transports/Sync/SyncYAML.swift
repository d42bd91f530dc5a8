import Foundation
import RegistryClient
import Yams

/// skopeo sync's YAML source: per registry host, `images` (repository → tags or digests, empty for
/// every tag), `images-by-tag-regex`, `images-by-semver`, `tls-verify`, `cert-dir`, `credentials`,
/// and Berth's `exclude-tag-regex` (repository → tags never synced).
public struct SyncYAML: Sendable {
    public struct Registry: Sendable {
        public var host: String
        public var images: [(repository: String, references: [String])] = []
        public var tagRegex: [(repository: String, pattern: String)] = []
        public var semver: [(repository: String, constraint: SemverConstraintBox)] = []
        public var excludeTagRegex: [String: String] = [:]
        public var tlsVerify: Bool?
        public var certDir: String?
        public var credentials: Credentials?
    }

    public var registries: [Registry]

    static let registryKeys: Set<String> = [
        "images", "images-by-tag-regex", "images-by-semver", "exclude-tag-regex", "tls-verify", "cert-dir", "credentials",
    ]

    public init(file: String) throws(SyncError) {
        guard let data = FileManager.default.contents(atPath: file) else { throw .invalidArgument("\(file): cannot read the YAML file") }
        let root: Node?
        do {
            root = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            throw .invalidYAML(file: file, line: nil, key: "", "not valid YAML: \(error)")
        }
        guard let mapping = root?.mapping else { throw .invalidYAML(file: file, line: 1, key: "", "expected a mapping of registries") }
        var registries: [Registry] = []
        for (hostNode, body) in mapping {
            let host = hostNode.string ?? ""
            guard !host.isEmpty, let fields = body.mapping else {
                throw .invalidYAML(file: file, line: Self.line(hostNode), key: host, "expected a mapping (images, images-by-tag-regex, …)")
            }
            var registry = Registry(host: host)
            for (keyNode, value) in fields {
                let key = keyNode.string ?? ""
                let at = Self.line(keyNode)
                let path = "\(host).\(key)"
                guard Self.registryKeys.contains(key) else {
                    throw .invalidYAML(file: file, line: at, key: path, "unknown key (expected one of \(Self.registryKeys.sorted().joined(separator: ", ")))")
                }
                switch key {
                case "images":
                    for (repository, list) in try Self.repositoryMap(value, file, path) {
                        guard let sequence = list.sequence ?? (list.null != nil ? [] : nil) else {
                            throw .invalidYAML(file: file, line: Self.line(list), key: "\(path).\(repository)", "expected a list of tags or digests")
                        }
                        registry.images.append((repository, sequence.compactMap(\.string)))
                    }
                case "images-by-tag-regex", "exclude-tag-regex":
                    for (repository, node) in try Self.repositoryMap(value, file, path) {
                        guard let pattern = node.string, (try? NSRegularExpression(pattern: pattern)) != nil else {
                            throw .invalidYAML(file: file, line: Self.line(node), key: "\(path).\(repository)", "invalid regular expression")
                        }
                        if key == "exclude-tag-regex" { registry.excludeTagRegex[repository] = pattern } else { registry.tagRegex.append((repository, pattern)) }
                    }
                case "images-by-semver":
                    for (repository, node) in try Self.repositoryMap(value, file, path) {
                        do {
                            registry.semver.append((repository, SemverConstraintBox(try SemverConstraint(parsing: node.string ?? ""))))
                        } catch {
                            throw .invalidYAML(file: file, line: Self.line(node), key: "\(path).\(repository)", error.description)
                        }
                    }
                case "tls-verify":
                    guard let flag = value.bool else { throw .invalidYAML(file: file, line: at, key: path, "expected true or false") }
                    registry.tlsVerify = flag
                case "cert-dir":
                    registry.certDir = value.string
                default:
                    guard let map = value.mapping, let user = map["username"]?.string, let password = map["password"]?.string else {
                        throw .invalidYAML(file: file, line: at, key: path, "expected {username, password}")
                    }
                    registry.credentials = Credentials(username: user, password: password)
                }
            }
            registries.append(registry)
        }
        self.registries = registries
    }

    private static func repositoryMap(_ node: Node, _ file: String, _ path: String) throws(SyncError) -> [(String, Node)] {
        guard let mapping = node.mapping else { throw .invalidYAML(file: file, line: line(node), key: path, "expected repository: value entries") }
        return mapping.map { ($0.key.string ?? "", $0.value) }
    }

    private static func line(_ node: Node) -> Int? { node.mark.map { $0.line } }
}

/// A parsed constraint, kept opaque outside the module.
public struct SemverConstraintBox: Sendable {
    let constraint: SemverConstraint
    init(_ constraint: SemverConstraint) { self.constraint = constraint }
}
