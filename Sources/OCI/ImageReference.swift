/// A docker image reference, `[registry[:port]/]repository[:tag][@digest]`, normalised the way
/// docker, podman and skopeo do: no registry means `docker.io`, and a single-component Docker Hub
/// name gets `library/` (`alpine` → `docker.io/library/alpine`).
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    public static let dockerHub = "docker.io"

    /// The registry's host, with its port when one was given (`127.0.0.1:5000`, `[::1]:5000`).
    public let registry: String
    public let repository: RepositoryName
    public let tag: Tag?
    public let digest: Digest?

    public init(parsing string: some StringProtocol) throws(ImageReferenceError) {
        let text = String(string)
        guard !text.isEmpty else { throw .invalid(text, "empty reference") }
        var rest = Substring(text)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            do { digest = try Digest(parsing: rest[rest.index(after: at)...]) } catch { throw .invalid(text, error.description) }
            rest = rest[..<at]
        }
        var tag: Tag?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            do { tag = try Tag(parsing: rest[rest.index(after: colon)...]) } catch { throw .invalid(text, error.description) }
            rest = rest[..<colon]
        }
        var registry = Self.dockerHub
        var path = rest
        if let slash = rest.firstIndex(of: "/") {
            let first = rest[..<slash]
            // As distribution's reference package decides: a first component with a dot, a colon,
            // uppercase letters, or `localhost` is a registry host.
            if first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first {
                guard Self.isValidHost(first) else { throw .invalid(text, "invalid registry host '\(first)'") }
                registry = first == "index.docker.io" ? Self.dockerHub : String(first)
                path = rest[rest.index(after: slash)...]
            }
        }
        if registry == Self.dockerHub, !path.contains("/") { path = "library/" + path }
        guard registry.utf8.count + 1 + path.utf8.count <= RepositoryName.maxLength else {
            throw .invalid(text, "name is longer than \(RepositoryName.maxLength) characters")
        }
        do { repository = try RepositoryName(parsing: path) } catch { throw .invalid(text, error.description) }
        self.registry = registry
        self.tag = tag
        self.digest = digest
    }

    private init(registry: String, repository: RepositoryName, tag: Tag?, digest: Digest?) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// The same repository, naming one manifest by digest.
    public func with(digest: Digest) -> ImageReference {
        ImageReference(registry: registry, repository: repository, tag: nil, digest: digest)
    }

    /// The same repository under another tag.
    public func with(tag: Tag) -> ImageReference {
        ImageReference(registry: registry, repository: repository, tag: tag, digest: nil)
    }

    /// What to ask the registry for: the digest when there is one, else the tag, else `latest`.
    public var manifestReference: ManifestReference {
        if let digest { return .digest(digest) }
        return .tag(tag ?? (try! Tag(parsing: "latest")))
    }

    /// The fully qualified form, `docker.io/library/alpine:3.20@sha256:…`.
    public var description: String {
        var out = "\(registry)/\(repository)"
        if let tag { out += ":\(tag)" }
        if let digest { out += "@\(digest)" }
        return out
    }

    /// `host[:port]`, where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
    private static func isValidHost(_ host: Substring) -> Bool {
        var name = host
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            let inside = name[name.index(after: name.startIndex)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
            name = name[name.index(after: close)...]
            if name.isEmpty { return true }
            guard name.first == ":" else { return false }
            return isValidPort(name.dropFirst())
        }
        if let colon = name.lastIndex(of: ":") {
            guard isValidPort(name[name.index(after: colon)...]) else { return false }
            name = name[..<colon]
        }
        return !name.isEmpty && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { component in
            guard let first = component.first, let last = component.last else { return false }
            return first.isLetterOrDigitASCII && last.isLetterOrDigitASCII
                && component.allSatisfy { $0.isLetterOrDigitASCII || $0 == "-" }
        }
    }

    private static func isValidPort(_ port: Substring) -> Bool {
        !port.isEmpty && port.count <= 5 && port.allSatisfy(\.isASCIIDigit) && (Int(port).map { $0 <= 65535 } ?? false)
    }
}

extension Character {
    // By ASCII value: a range of Characters compares grapheme clusters, so "7" followed by a
    // combining mark fell inside "0"..."9" (found by the FuzzReference target; it then crashed).
    fileprivate var isASCIIDigit: Bool { asciiValue.map { (48...57).contains($0) } ?? false }
    fileprivate var isLetterOrDigitASCII: Bool {
        asciiValue.map { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) } ?? false
    }
}

public enum ImageReferenceError: Error, Equatable, CustomStringConvertible {
    case invalid(String, String)

    public var description: String {
        switch self {
        case .invalid(let reference, let why): "invalid image reference '\(reference.prefix(300))': \(why)"
        }
    }
}
