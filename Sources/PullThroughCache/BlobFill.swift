import Foundation
import NIOCore
import OCI
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One blob on its way from the upstream into the store, and every client waiting for it.
///
/// The fetch hashes each piece and appends it to a spool file with no name, and clients read the
/// spool as it grows, each at its own pace: memory stays at one piece per client however many
/// wait, and a slow or departed client holds up nobody. The last byte is held back until the
/// whole body has hashed to the digest, so no client receives a whole body that does not match
/// it. Only then does the store copy the spool: its writes never slow the clients down.
final class BlobFill: Sendable {
    let digest: Digest
    /// The spool, unlinked as soon as it is made; the store reads the verified blob from it.
    let descriptor: Int32
    private let state = Mutex(State())

    struct State {
        var version = 0
        var started = false
        var length: Int64?
        var written: Int64 = 0
        var verified = false
        var failure: (any Error)?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    struct Snapshot {
        let version: Int
        let started: Bool
        let length: Int64?
        let written: Int64
        /// Bytes a client may send now: all written once verified, else all but the last.
        let readable: Int64
        let verified: Bool
        let failure: (any Error)?
    }

    init(digest: Digest, spoolDirectory: String) throws {
        self.digest = digest
        let path = "\(spoolDirectory)/\(digest.encoded.prefix(16))-\(UUID().uuidString)"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolFailure(doing: "creating \(path)", code: errno) }
        // Nothing to clean up after a crash: the file lives only as long as the descriptor.
        unlink(path)
        descriptor = fd
    }

    deinit { close(descriptor) }

    // MARK: the fetch

    func start(length: Int64?) { change { $0.started = true; $0.length = length } }

    /// Appends a piece to the spool.
    func spool(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw SpoolFailure(doing: "writing the spool of \(digest)", code: errno) }
                done += n
            }
        }
        change { $0.written += Int64(buffer.readableBytes) }
    }

    func verified() { change { $0.verified = true } }

    /// A failure after the body was verified (the store's commit) leaves the clients their
    /// verified bytes; only the cache misses out, and the next request fetches again.
    func fail(_ error: any Error) { change { if !$0.verified { $0.failure = $0.failure ?? error } } }

    private func change(_ body: (inout State) -> Void) {
        let waiters = state.withLock { state in
            body(&state)
            state.version += 1
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: clients

    func snapshot() -> Snapshot { state.withLock { Self.snapshot(&$0) } }

    /// The state once it has changed since `version` (at once if it has already).
    func wait(after version: Int) async -> Snapshot {
        while true {
            let current = snapshot()
            if current.version > version { return current }
            await withCheckedContinuation { continuation in
                let waiting = state.withLock { state -> Bool in
                    guard state.version <= version else { return false }
                    state.waiters.append(continuation)
                    return true
                }
                if !waiting { continuation.resume() }
            }
        }
    }

    /// Sends `range` of the blob to `write` as the fetch makes it readable; throws the fetch's
    /// error if it fails before the range is sent (the client then sees a cut body, never a whole one).
    func stream(_ range: Range<Int64>?, to write: (ByteBuffer) async throws -> Void) async throws {
        var offset = range?.lowerBound ?? 0
        var current = snapshot()
        while true {
            if let failure = current.failure { throw failure }
            let end = range?.upperBound ?? (current.verified ? current.written : Int64.max)
            if offset >= end { return }
            let limit = min(current.readable, end)
            while offset < limit {
                let piece = try read(at: offset, count: Int(min(limit - offset, 1 << 20)))
                offset += Int64(piece.readableBytes)
                try await write(piece)
            }
            if offset >= end { return }
            current = await wait(after: current.version)
        }
    }

    private func read(at offset: Int64, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
            while true {
                let n = pread(descriptor, bytes.baseAddress!, count, off_t(offset))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw SpoolFailure(doing: "reading the spool of \(digest)", code: n == 0 ? EIO : errno) }
                return n
            }
        }
        precondition(n == buffer.readableBytes)
        return buffer
    }

    private static func snapshot(_ state: inout State) -> Snapshot {
        Snapshot(
            version: state.version, started: state.started, length: state.length, written: state.written,
            readable: state.verified ? state.written : max(state.written - 1, 0), verified: state.verified, failure: state.failure)
    }
}

/// The spool file could not be made, written or read (a full or missing spool directory).
struct SpoolFailure: Error, CustomStringConvertible {
    let doing: String
    let code: Int32
    var description: String { "\(doing): \(String(cString: strerror(code)))" }
}
