import Foundation
import NIOCore
import OCI
import RegistryClient

/// Reads a file (or a slice of one) as a stream of chunks.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    var offset: Int64 = 0
    var length: Int64? = nil

    final class Iterator: AsyncIteratorProtocol {
        let path: String
        var fd: Int32 = -1
        var position: Int64
        var remaining: Int64?

        init(path: String, offset: Int64, length: Int64?) {
            self.path = path
            position = offset
            remaining = length
        }

        deinit { if fd >= 0 { close(fd) } }

        func next() async throws -> ByteBuffer? {
            if fd < 0 {
                fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw TransportError.io(path, String(cString: strerror(errno))) }
            }
            let want = Swift.min(1 << 20, Int(remaining ?? Int64.max))
            guard want > 0 else { return nil }
            var buffer = ByteBuffer()
            let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw -> Int in
                let n = pread(fd, raw.baseAddress, want, off_t(position))
                guard n >= 0 else { throw TransportError.io(path, String(cString: strerror(errno))) }
                return n
            }
            if read == 0 {
                if let remaining, remaining > 0 { throw TransportError.io(path, "file ends \(remaining) bytes early") }
                return nil
            }
            position += Int64(read)
            remaining = remaining.map { $0 - Int64(read) }
            return buffer
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(path: path, offset: offset, length: length) }
}

/// Writes a stream to a temporary file next to its final place, and renames it there only after
/// every byte arrived, was verified and reached the disk.
enum AtomicFile {
    /// Streams into `directory`, then names the file by its digest (`name(digest)`); returns the
    /// digest and size. A stream that throws leaves nothing behind.
    static func write(_ stream: BlobStream, into directory: String, expected: Descriptor?, name: (Digest) -> String) async throws
        -> (digest: Digest, size: Int64)
    {
        let result = DigestResult()
        let temporary = try await write(DigestingSequence(AnyBlobStream(stream), expected: expected?.digest, expectedSize: expected?.size, result: result), directory: directory)
        guard let (digest, size) = result.value else { throw TransportError.io(directory, "stream ended without a digest") }
        try commit(temporary, to: "\(directory)/\(name(digest))")
        return (digest, size)
    }

    /// Streams into a temporary file in `directory` and returns its path.
    static func write(_ stream: some AsyncSequence<ByteBuffer, any Error>, directory: String) async throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = "\(directory)/.berth-tmp-\(UUID().uuidString)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TransportError.io(temporary, String(cString: strerror(errno))) }
        // Network chunks are small (~64 KiB); gathering them into 1 MiB writes saves most syscalls.
        var pending = ByteBuffer()
        pending.reserveCapacity(1 << 20)
        func flush() throws {
            try pending.withUnsafeReadableBytes { try writeAll(fd, $0, path: temporary) }
            pending.clear()
        }
        do {
            for try await var chunk in stream {
                if pending.readableBytes + chunk.readableBytes > 1 << 20 { try flush() }
                pending.writeBuffer(&chunk)
            }
            try flush()
            guard fsync(fd) == 0 else { throw TransportError.io(temporary, String(cString: strerror(errno))) }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        return temporary
    }

    /// Writes bytes atomically to `path`.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory.isEmpty ? "." : directory, withIntermediateDirectories: true)
        // Written here rather than with FileManager.createFile, which writes atomically itself
        // through a temporary file of its own naming: a copy killed inside it left a file
        // nobody recognised as ours.
        let temporary = "\(directory.isEmpty ? "." : directory)/.berth-tmp-\(UUID().uuidString)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TransportError.io(temporary, String(cString: strerror(errno))) }
        do {
            try bytes.withUnsafeBytes { try writeAll(fd, $0, path: temporary) }
            guard fsync(fd) == 0 else { throw TransportError.io(temporary, String(cString: strerror(errno))) }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        try commit(temporary, to: path)
    }

    static func commit(_ temporary: String, to path: String) throws {
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TransportError.io(path, reason)
        }
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

/// A blocking `flock` on an existing file or directory, held while a layout's `index.json` is read,
/// changed and written, so concurrent writers keep each other's entries.
struct FileLock {
    let fd: Int32

    init(_ path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TransportError.io(path, String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX) == 0 else {
            close(fd)
            throw TransportError.io(path, String(cString: strerror(errno)))
        }
    }

    func unlock() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// `write(2)` until every byte is out.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var done = 0
    while done < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
        guard n > 0 else { throw TransportError.io(path, String(cString: strerror(errno))) }
        done += n
    }
}

func readFile(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw TransportError.io(path, FileManager.default.fileExists(atPath: path) ? "cannot read" : "no such file")
    }
    return Array(data)
}
