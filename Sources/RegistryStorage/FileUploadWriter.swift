#if canImport(Glibc)
import Glibc
#endif
import CLinuxIO
import Foundation
import NIOCore
import OCI

/// Appends to an upload file with direct I/O where the filesystem allows it.
///
/// Copying a multi-GiB upload into the page cache costs more CPU than hashing it, and the closing
/// fsync then has to write all of it out anyway. So bytes gather in an aligned staging buffer and
/// go to disk in whole blocks with O_DIRECT; `sync()` writes the unaligned tail through the page
/// cache and keeps that partial block staged, so the next chunk continues on a block boundary.
/// Where O_DIRECT is refused (tmpfs), the same code writes through the page cache.
final class FileUploadWriter: UploadWriter, @unchecked Sendable {
    // Used by one request at a time: `Registry` serialises access to an upload session.
    static let blockSize = 4096
    static let stagingSize = 2 << 20

    let fd: Int32
    let path: String
    let id: UUID
    let store: FileSystemBlobStore
    private var direct: Bool
    private let staging: UnsafeMutableRawBufferPointer
    /// File offset of `staging[0]`; a block boundary while `direct`.
    private var stagingBase: Int64 = 0
    private var staged = 0
    private var closed = false

    var offset: Int64 { stagingBase + Int64(staged) }

    init(store: FileSystemBlobStore, id: UUID, truncatingTo truncation: Int64?) throws {
        self.store = store
        self.id = id
        path = store.uploadPath(id)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageIOError.system("open", path, errno) }
        staging = .allocate(byteCount: Self.stagingSize, alignment: Self.blockSize)
        direct = clinuxio_set_direct(fd, 1) == 0
        do {
            var size: Int64
            if let truncation {
                guard ftruncate(fd, off_t(truncation)) == 0 else { throw StorageIOError.system("ftruncate", path, errno) }
                size = truncation
            } else {
                var st = stat()
                guard fstat(fd, &st) == 0 else { throw StorageIOError.system("fstat", path, errno) }
                size = Int64(st.st_size)
            }
            try reposition(at: size)
        } catch {
            close()
            throw error
        }
    }

    func write(_ buffer: ByteBuffer) async throws {
        try buffer.withUnsafeReadableBytes { try write($0) }
    }

    func checkpoint() async throws -> UploadCheckpoint {
        try sync()
        return UploadCheckpoint(offset: offset)
    }

    func commit(as digest: Digest) async throws {
        try sync()
        close()
        try store.install(id, as: digest)
    }

    func discard() async {
        close()
        try? store.removeUpload(id)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = min(bytes.count - done, Self.stagingSize - staged)
            (staging.baseAddress! + staged).copyMemory(from: bytes.baseAddress! + done, byteCount: n)
            staged += n
            done += n
            if staged == Self.stagingSize {
                try writeOut(0..<staged)
                stagingBase += Int64(staged)
                staged = 0
            }
        }
    }

    func sync() throws {
        let aligned = direct ? staged - staged % Self.blockSize : staged
        if aligned > 0 { try writeOut(0..<aligned) }
        if aligned < staged {
            // The partial last block cannot go through O_DIRECT; it is written through the page
            // cache and stays staged, to be rewritten whole once more bytes arrive.
            _ = clinuxio_set_direct(fd, 0)
            defer { _ = clinuxio_set_direct(fd, 1) }
            try writeOut(aligned..<staged)
            (staging.baseAddress!).copyMemory(from: staging.baseAddress! + aligned, byteCount: staged - aligned)
        }
        stagingBase += Int64(aligned)
        staged -= aligned
        guard fdatasync(fd) == 0 else { throw StorageIOError.system("fsync", path, errno) }
    }

    func close() {
        guard !closed else { return }
        closed = true
        _ = Glibc.close(fd)
        staging.deallocate()
    }

    /// Points the staging buffer at `size`; with direct I/O it starts at the block boundary below
    /// and holds the partial block's bytes, read back from the file.
    private func reposition(at size: Int64) throws {
        guard direct else {
            stagingBase = size
            staged = 0
            return
        }
        stagingBase = size - size % Int64(Self.blockSize)
        staged = Int(size - stagingBase)
        var read = 0
        while read < staged {
            let n = pread(fd, staging.baseAddress! + read, Self.blockSize - read, off_t(stagingBase) + off_t(read))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw StorageIOError.system("read", path, n < 0 ? errno : EIO) }
            read += n
        }
    }

    private func writeOut(_ range: Range<Int>) throws {
        var done = range.lowerBound
        while done < range.upperBound {
            let n = pwrite(fd, staging.baseAddress! + done, range.upperBound - done, off_t(stagingBase) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EINVAL, direct {
                    // This filesystem wants another alignment: fall back to the page cache.
                    direct = false
                    _ = clinuxio_set_direct(fd, 0)
                    continue
                }
                throw StorageIOError.system("write", path, errno)
            }
            done += n
        }
    }
}
