import OCI

/// What can go wrong in a registry operation, with the context a client needs to act on it.
public enum RegistryError: Error, Equatable, CustomStringConvertible {
    case nameUnknown(RepositoryName)
    case blobUnknown(Digest)
    case manifestUnknown(String)
    case manifestBlobUnknown(Digest)
    case manifestInvalid(String)
    case manifestTooLarge(limit: Int)
    case uploadUnknown(String)
    case uploadBusy
    case digestInvalid(String)
    case sizeInvalid(String)
    /// A chunk that does not start at the upload's current offset; `offset` is that offset.
    case rangeInvalid(offset: Int64, detail: String)
    case unsupported(String)
    case signatureInvalid(String)

    public var code: ErrorCode {
        switch self {
        case .nameUnknown: .nameUnknown
        case .blobUnknown: .blobUnknown
        case .manifestUnknown: .manifestUnknown
        case .manifestBlobUnknown: .manifestBlobUnknown
        case .manifestInvalid, .manifestTooLarge: .manifestInvalid
        case .uploadUnknown: .blobUploadUnknown
        case .uploadBusy: .blobUploadInvalid
        case .digestInvalid: .digestInvalid
        case .sizeInvalid: .sizeInvalid
        // The spec's code for a chunk out of order (answered 416, as the spec says).
        case .rangeInvalid: .blobUploadInvalid
        case .unsupported: .unsupported
        case .signatureInvalid: .manifestInvalid
        }
    }

    public var description: String {
        switch self {
        case .nameUnknown(let n): "repository \(n) is not known"
        case .blobUnknown(let d): "blob \(d) is not known in this repository"
        case .manifestUnknown(let r): "manifest \(r) is not known in this repository"
        case .manifestBlobUnknown(let d): "manifest references \(d), which is not in this repository"
        case .manifestInvalid(let s): s
        case .manifestTooLarge(let limit): "manifest is larger than the \(limit)-byte limit"
        case .uploadUnknown(let id): "upload \(id.prefix(100)) is not known"
        case .uploadBusy: "another request is writing to this upload"
        case .digestInvalid(let s): s
        case .sizeInvalid(let s): s
        case .rangeInvalid(_, let s): s
        case .unsupported(let s): s
        case .signatureInvalid(let s): "signature invalid: \(s)"
        }
    }
}
