import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// A detached container's monitor is started in two steps, so that its start-up (an exec of this
// executable, ~6 ms) overlaps the CLI's own work: the CLI starts it as soon as it knows it runs a
// detached container (choosing the container's id then) and releases it once the bundle is
// ready; the monitor answers when the container runs (or could not start), which wakes the CLI at
// once instead of at its next look at the record. Both ways go over one socket pair, the monitor's descriptor 3: one byte each
// way, and end of file meaning "gave up" (the CLI) or "ended" (the monitor).

/// The CLI's side: a monitor waiting to be released. Dropping it unreleased ends the monitor
/// (it reads end of file and exits without touching the container).
public final class PendingMonitor: Sendable {
    /// The container it is for.
    public let id: String
    let process: ChildProcess
    private let socket: Int32

    init(id: String, path: String, arguments: [String]) throws {
        self.id = id
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw RuntimeError.runtime("cannot start the container's monitor: \(String(cString: strerror(errno)))")
        }
        defer { close(pair[1]) }
        do {
            process = try ChildProcess.spawn(path, arguments, detached: true, passing: pair[1])
        } catch {
            close(pair[0])
            throw error
        }
        socket = pair[0]
    }

    deinit { close(socket) }

    /// Lets the monitor start the container. A monitor that died meanwhile is not an error here:
    /// `answered` then sees it end.
    func release() {
        var go: UInt8 = 1
        _ = send(socket, &go, 1, Int32(MSG_NOSIGNAL))
    }

    /// Waits, off the cooperative pool, until the monitor answers or ends (the record then says
    /// which); false when `limit` passed first.
    func answered(within limit: Duration) async -> Bool {
        let milliseconds = Int32(limit.components.seconds * 1000)
        let socket = socket
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var waiting = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
                var ready = poll(&waiting, 1, milliseconds)
                while ready < 0, errno == EINTR { ready = poll(&waiting, 1, milliseconds) }
                continuation.resume(returning: ready > 0)
            }
        }
    }
}

/// The monitor's side: descriptor 3, when the CLI passed one.
final class MonitorHandshake {
    private var descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Descriptor 3 when it is a socket (kept from the runtime and the container from here on).
    static func inherited() -> MonitorHandshake? {
        var info = stat()
        guard fstat(3, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, fcntl(3, F_SETFD, FD_CLOEXEC) == 0 else { return nil }
        return MonitorHandshake(descriptor: 3)
    }

    /// Blocks until the CLI releases the container; false when it gave up instead.
    func awaitRelease() -> Bool {
        var go: UInt8 = 0
        while true {
            let n = recv(descriptor, &go, 1, 0)
            if n < 0, errno == EINTR { continue }
            return n == 1
        }
    }

    /// Tells the CLI to look at the record again (once; later calls do nothing).
    func answer() {
        guard descriptor >= 0 else { return }
        var word: UInt8 = 1
        _ = send(descriptor, &word, 1, Int32(MSG_NOSIGNAL))
        close(descriptor)
        descriptor = -1
    }

    deinit { if descriptor >= 0 { close(descriptor) } }
}
