import Foundation
import OCI

/// An image's location in skopeo's `transport:details` syntax.
public enum ImageName: Hashable, Sendable, CustomStringConvertible {
    /// `docker://[host[:port]/]name[:tag][@digest]`
    case docker(ImageReference)
    /// `oci:PATH[:REF]`, an OCI image layout directory; REF is the entry's `org.opencontainers.image.ref.name`.
    case oci(path: String, reference: String?)
    /// `oci-archive:PATH[:REF]`, a tar of an OCI image layout.
    case ociArchive(path: String, reference: String?)
    /// `dir:PATH`, skopeo's directory format.
    case dir(path: String)
    /// `docker-archive:PATH[:NAME:TAG|@INDEX]`, the format `docker save` writes.
    case dockerArchive(path: String, reference: ImageReference?, index: Int?)

    public static let transports = ["docker", "oci", "oci-archive", "dir", "docker-archive"]

    public init(parsing text: String) throws(TransportError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw .invalidName(text, "expected transport:details, e.g. docker://host/repo:tag (transports: \(Self.transports.joined(separator: ", ")))")
        }
        let transport = String(text[..<colon])
        let details = String(text[text.index(after: colon)...])
        switch transport {
        case "docker":
            guard details.hasPrefix("//") else { throw .invalidName(text, "docker references must start with docker://") }
            do {
                self = .docker(try ImageReference(parsing: details.dropFirst(2)))
            } catch {
                throw .invalidName(text, error.description)
            }
        case "oci", "oci-archive":
            let (path, reference) = try Self.splitPath(details, text)
            if let reference { try Self.checkLayoutReference(reference, text) }
            self = transport == "oci" ? .oci(path: path, reference: reference) : .ociArchive(path: path, reference: reference)
        case "dir":
            guard !details.isEmpty else { throw .invalidName(text, "dir: needs a path") }
            self = .dir(path: details)
        case "docker-archive":
            let (path, rest) = try Self.splitPath(details, text)
            guard let rest else {
                self = .dockerArchive(path: path, reference: nil, index: nil)
                return
            }
            if rest.hasPrefix("@") {
                guard let index = Int(rest.dropFirst()), index >= 0 else { throw .invalidName(text, "@INDEX must be a number") }
                self = .dockerArchive(path: path, reference: nil, index: index)
                return
            }
            let reference: ImageReference
            do { reference = try ImageReference(parsing: rest) } catch { throw .invalidName(text, error.description) }
            guard reference.digest == nil else { throw .invalidName(text, "a docker-archive reference cannot have a digest") }
            self = .dockerArchive(path: path, reference: reference, index: nil)
        default:
            throw .invalidName(text, "unknown transport '\(transport.prefix(50))' (transports: \(Self.transports.joined(separator: ", ")))")
        }
    }

    /// `PATH[:REST]`, split at the first colon as containers/image does.
    private static func splitPath(_ details: String, _ text: String) throws(TransportError) -> (String, String?) {
        guard let colon = details.firstIndex(of: ":") else {
            guard !details.isEmpty else { throw .invalidName(text, "missing path") }
            return (details, nil)
        }
        let path = String(details[..<colon])
        let rest = String(details[details.index(after: colon)...])
        guard !path.isEmpty else { throw .invalidName(text, "missing path") }
        return (path, rest.isEmpty ? nil : rest)
    }

    /// The image-layout spec's grammar for ref names: components of `[A-Za-z0-9._-]` joined by `:`, `/`, `@`, `+`, `-`, `.`.
    private static func checkLayoutReference(_ reference: String, _ text: String) throws(TransportError) {
        let allowed = reference.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-:/@+".contains($0)) }
        guard allowed, let first = reference.first, first.isLetter || first.isNumber else {
            throw .invalidName(text, "invalid reference '\(reference.prefix(100))' for an image layout")
        }
    }

    public var description: String {
        switch self {
        case .docker(let reference): "docker://\(reference)"
        case .oci(let path, let reference): "oci:\(path)" + (reference.map { ":\($0)" } ?? "")
        case .ociArchive(let path, let reference): "oci-archive:\(path)" + (reference.map { ":\($0)" } ?? "")
        case .dir(let path): "dir:\(path)"
        case .dockerArchive(let path, let reference, let index):
            "docker-archive:\(path)" + (reference.map { ":\($0)" } ?? "") + (index.map { ":@\($0)" } ?? "")
        }
    }

    /// The docker reference the image is known by, when the transport has one.
    public var dockerReference: ImageReference? {
        switch self {
        case .docker(let reference): reference
        case .dockerArchive(_, let reference, _): reference
        default: nil
        }
    }

    /// The transport and scope containers-policy.json(5) looks this image up by.
    public var policyScope: (transport: String, scope: String) {
        func absolute(_ path: String) -> String {
            path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        }
        switch self {
        case .docker(let reference): return ("docker", reference.description)
        case .oci(let path, let reference): return ("oci", absolute(path) + (reference.map { ":\($0)" } ?? ""))
        case .ociArchive(let path, let reference): return ("oci-archive", absolute(path) + (reference.map { ":\($0)" } ?? ""))
        case .dir(let path): return ("dir", absolute(path))
        case .dockerArchive(let path, _, _): return ("docker-archive", absolute(path))
        }
    }
}
