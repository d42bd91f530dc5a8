import Foundation

/// A pid file as the runtimes (`--pid-file`) and the rootless namespace holder write them: the
/// number, perhaps followed by a newline.
enum PidFile {
    /// The pid in `path`; nil when the file is missing or holds anything but a positive number.
    /// Read with read(2) rather than `String(contentsOfFile:)`, whose first use in a process costs
    /// about a millisecond: a container's monitor reads one between the runtime's exit and its
    /// answer to the `run -d` waiting for it.
    static func read(_ path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0, count < bytes.count else { return nil }
        var digits = bytes[..<count]
        while let last = digits.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: " ") { digits.removeLast() }
        guard let pid = Int32(String(decoding: digits, as: UTF8.self)), pid > 0 else { return nil }
        return pid
    }
}
