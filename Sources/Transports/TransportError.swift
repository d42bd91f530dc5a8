import OCI
import RegistryClient

/// A failed transport or copy operation, with what and where.
public enum TransportError: Error, CustomStringConvertible {
    case invalidName(String, String)
    /// The source image does not exist (the CLI exits with 2 for this, as skopeo 1.16+ does).
    case notFound(String, String)
    case unsupported(String, String)
    case invalidContent(String, String)
    case io(String, String)
    case registry(String, ClientError)
    /// Every place an image could be pulled from failed: the primary's error, then the mirrors'.
    indirect case mirrorsFailed(primary: TransportError, mirrors: [String])

    public var description: String {
        switch self {
        case .invalidName(let name, let why): "invalid image name '\(name.prefix(300))': \(why)"
        case .notFound(let name, let why): "\(name): \(why)"
        case .unsupported(let name, let why): "\(name): \(why)"
        case .invalidContent(let name, let why): "\(name): \(why)"
        case .io(let path, let why): "\(path): \(why)"
        case .registry(let name, let error): "\(name): \(error)"
        case .mirrorsFailed(let primary, let mirrors): "\(primary) (mirrors also failed: \(mirrors.joined(separator: "; ")))"
        }
    }

    public var isNotFound: Bool {
        switch self {
        case .notFound: true
        case .registry(_, let error): error.isNotFound
        case .mirrorsFailed(let primary, _): primary.isNotFound
        default: false
        }
    }
}
