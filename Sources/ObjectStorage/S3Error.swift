import Foundation

/// An S3 request that failed: the operation and key it was for, the HTTP status and S3's error code.
public struct S3Error: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let key: String
    /// 0 when no HTTP answer arrived (connection refused, timeout).
    public let status: Int
    public let code: String
    public let message: String

    public var description: String {
        let what = key.isEmpty ? operation : "\(operation) \(key)"
        if status == 0 { return "S3 \(what): \(message)" }
        return "S3 \(what): \(status) \(code)\(message.isEmpty ? "" : ": \(message)")"
    }

    /// Worth another attempt: throttling, server faults and answers that never came.
    public var isTransient: Bool {
        status == 0 || status == 500 || status == 502 || status == 503 || status == 504 || code == "SlowDown" || code == "InternalError"
            || code == "RequestTimeout"
    }

    public var isNotFound: Bool { status == 404 }
}
