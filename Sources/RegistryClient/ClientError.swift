import OCI

/// A failed registry operation, with what and where, for one clear line.
public enum ClientError: Error, Equatable, CustomStringConvertible {
    /// The registry answered with an error status; `code` is the spec's error code when the body had one.
    case status(url: String, status: Int, code: String?, message: String?)
    case digestMismatch(expected: Digest, actual: Digest)
    case sizeMismatch(digest: Digest, expected: Int64, actual: Int64)
    case authentication(registry: String, String)
    case transport(url: String, String)
    case invalidResponse(url: String, String)
    /// 429: the registry asks for no more requests for `retryAfter` seconds (when it said).
    case rateLimited(url: String, retryAfter: Int?)

    public var description: String {
        switch self {
        case .status(let url, let status, let code, let message):
            let what = [code?.lowercased().replacingOccurrences(of: "_", with: " "), message].compactMap { $0 }.first ?? "error"
            return "\(url): \(what) (\(status))"
        case .digestMismatch(let expected, let actual): return "content of \(expected) has digest \(actual)"
        case .sizeMismatch(let digest, let expected, let actual): return "\(digest) is \(actual) bytes, expected \(expected)"
        case .authentication(let registry, let why): return "\(registry): authentication failed: \(why)"
        // `why` names the host; the URL would repeat it with a path the user did not type.
        case .transport(_, let why): return why
        case .invalidResponse(let url, let why): return "\(url): invalid response: \(why)"
        case .rateLimited(let url, let seconds):
            return "\(url): too many requests (429)" + (seconds.map { ", the registry asks to wait \($0) s" } ?? "")
        }
    }

    /// True when the thing asked for does not exist (404 with the spec's *_UNKNOWN codes or none).
    public var isNotFound: Bool {
        if case .status(_, 404, _, _) = self { return true }
        return false
    }
}
