import Foundation

/// Writes to stdout and stderr that never trap: Foundation's non-throwing `FileHandle.write`
/// crashes on a closed pipe (`berth inspect | head -1`), where a CLI should just stop talking.
enum Console {
    static func out(_ bytes: [UInt8]) { try? FileHandle.standardOutput.write(contentsOf: Data(bytes)) }
    static func out(_ text: String) { out(Array(text.utf8)) }
    static func err(_ text: String) { try? FileHandle.standardError.write(contentsOf: Data(text.utf8)) }
}
