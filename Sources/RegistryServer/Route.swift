import Foundation
import OCI

/// A request path under `/v2/` (or the token server's), decoded into the endpoint it names.
/// Repository names contain slashes, so the endpoint is found from the end of the path.
enum Route: Equatable {
    case base
    case catalog
    case tags(RepositoryName)
    case manifest(RepositoryName, ManifestReference)
    case blob(RepositoryName, Digest)
    case uploads(RepositoryName)
    case upload(RepositoryName, String)
    case referrers(RepositoryName, Digest)
    /// `/extensions/v2/<name>/signatures/<digest>`, the signature extension API.
    case signatures(RepositoryName, Digest)
    /// `/auth/token`, the built-in token server (when configured).
    case token

    /// The repository the endpoint is in, if any.
    var repository: RepositoryName? {
        switch self {
        case .tags(let name), .manifest(let name, _), .blob(let name, _), .uploads(let name), .upload(let name, _), .referrers(let name, _),
            .signatures(let name, _):
            name
        case .base, .catalog, .token: nil
        }
    }

    enum ParseError: Error, Equatable {
        case notFound
        case name(NameError)
        case digest(DigestError)
        case tag(NameError)
    }

    static func parse(path: String) throws(ParseError) -> Route {
        if path == TokenIssuer.path { return .token }
        if path.hasPrefix("/extensions/v2/") {
            let parts = path.dropFirst("/extensions/v2/".count).split(separator: "/", omittingEmptySubsequences: false)
                .map { Substring($0.removingPercentEncoding ?? String($0)) }
            guard parts.count >= 3, parts[parts.count - 2] == "signatures", !parts.contains("") else { throw .notFound }
            let name: RepositoryName
            let digest: Digest
            do { name = try RepositoryName(parsing: parts.dropLast(2).joined(separator: "/")) } catch { throw .name(error) }
            do { digest = try Digest(parsing: parts[parts.count - 1]) } catch { throw .digest(error) }
            return .signatures(name, digest)
        }
        guard path.hasPrefix("/v2") else { throw .notFound }
        let rest = path.dropFirst(3)
        if rest.isEmpty || rest == "/" { return .base }
        guard rest.first == "/" else { throw .notFound }
        // Split before decoding, so an encoded "/" stays inside its segment.
        var parts = rest.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
            .map { Substring($0.removingPercentEncoding ?? String($0)) }
        if parts == ["_catalog"] { return .catalog }
        // "/blobs/uploads/" ends with an empty component; an empty component anywhere else is in
        // the repository name (`a//b`, `a/b//blobs`), which the name check refuses as invalid.
        let trailingSlash = parts.last == ""
        if trailingSlash { parts.removeLast() }
        guard parts.count >= 2 else { throw .notFound }
        let n = parts.count
        func name(_ count: Int) throws(ParseError) -> RepositoryName {
            guard count > 0 else { throw .notFound }
            do { return try RepositoryName(parsing: parts[0..<count].joined(separator: "/")) } catch { throw .name(error) }
        }
        func digest(_ part: Substring) throws(ParseError) -> Digest {
            do { return try Digest(parsing: part) } catch { throw .digest(error) }
        }
        if parts[n - 1] == "uploads", parts[n - 2] == "blobs", n >= 3 {
            return .uploads(try name(n - 2))
        }
        if trailingSlash { throw .notFound }
        if n >= 4, parts[n - 2] == "uploads", parts[n - 3] == "blobs" {
            return .upload(try name(n - 3), String(parts[n - 1]))
        }
        if n >= 3, parts[n - 1] == "list", parts[n - 2] == "tags" {
            return .tags(try name(n - 2))
        }
        guard n >= 3 else { throw .notFound }
        switch parts[n - 2] {
        case "manifests":
            let repository = try name(n - 2)
            do {
                return .manifest(repository, try ManifestReference(parsing: parts[n - 1]))
            } catch {
                switch error {
                case .digest(let e): throw .digest(e)
                case .name(let e): throw .tag(e)
                }
            }
        case "blobs": return .blob(try name(n - 2), try digest(parts[n - 1]))
        case "referrers": return .referrers(try name(n - 2), try digest(parts[n - 1]))
        default: throw .notFound
        }
    }
}
