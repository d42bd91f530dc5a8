import Foundation

/// Disk space a container's monitor holds back so its records can still be written when the
/// disk is full: a file of `size` bytes allocated when the monitor starts, given back a slice at a
/// time when a record cannot be written (the container's output filling the log's disk must not
/// also lose the exit status that `stop`, `wait` and `ps` read).
struct SpaceReserve {
    static let size: Int64 = 256 << 10
    static let slice: Int64 = 16 << 10
    let path: String

    /// Allocates the whole reserve again (it may have been spent by an earlier run); a disk too
    /// full for it leaves what is there.
    func fill() {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = posix_fallocate(fd, 0, off_t(Self.size))
    }

    /// Gives one slice back to the filesystem; false once nothing is left to give.
    func release() -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, info.st_size > 0 else { return false }
        return truncate(path, max(0, info.st_size - off_t(Self.slice))) == 0
    }
}
