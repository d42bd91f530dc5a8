import Foundation
import HTTPTypes
import Hummingbird
import OCI
import PullThroughCache
import RegistryStorage

/// A distribution-spec error on its way to the client: `{"errors":[{"code","message","detail"}]}`.
struct SpecError: Error {
    var code: ErrorCode
    var detail: String
    var status: HTTPResponse.Status
    var headers: HTTPFields = [:]

    init(_ code: ErrorCode, _ detail: String, status: Int? = nil) {
        self.code = code
        self.detail = detail
        self.status = HTTPResponse.Status(code: status ?? code.httpStatus)
    }

    /// The one place where errors from the layers below become spec errors.
    init(from error: any Error) {
        switch error {
        case let e as SpecError:
            self = e
        case let e as RegistryError:
            self.init(e.code, e.description, status: Self.status(for: e))
        case let e as CacheError:
            switch e {
            case .manifestNotFound: self.init(.manifestUnknown, e.description)
            case .blobNotFound: self.init(.blobUnknown, e.description)
            case .rateLimited(_, let seconds):
                self.init(.tooManyRequests, e.description)
                headers[.retryAfter] = String(seconds)
            case .upstreamUnavailable: self.init(.unavailable, e.description + " (and this is not in the cache)")
            case .readOnlyNamespace: self.init(.unsupported, e.description)
            }
        case let e as NameError:
            if case .invalidTag = e { self.init(.tagInvalid, e.description) } else { self.init(.nameInvalid, e.description) }
        case let e as DigestError:
            self.init(.digestInvalid, e.description)
        case let e as Route.ParseError:
            switch e {
            case .notFound: self.init(.unsupported, "no such endpoint", status: 404)
            case .name(let e): self.init(.nameInvalid, e.description)
            case .digest(let e): self.init(.digestInvalid, e.description)
            case .tag(let e): self.init(.tagInvalid, e.description)
            }
        default:
            // A backend that does not answer is 503 (try again), not a fault of the registry's.
            if let unavailable = StorageUnavailable(classifying: error) {
                self.init(.unavailable, unavailable.description, status: unavailable.isFull ? 507 : nil)
            } else {
                self.init(.unknown, "internal error")
            }
        }
    }

    private static func status(for error: RegistryError) -> Int? {
        switch error {
        case .manifestTooLarge: 413
        case .rangeInvalid: 416
        default: nil
        }
    }

    func response(includeBody: Bool) -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        guard includeBody else {
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        let body = ErrorBody(errors: [.init(code: code.rawValue, message: code.message, detail: detail)])
        let data = (try? JSONEncoder().encode(body)) ?? Data()
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    private struct ErrorBody: Encodable {
        struct Entry: Encodable {
            let code: String
            let message: String
            let detail: String
        }
        let errors: [Entry]
    }
}
