#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import NIOCore
import OCI

/// Blobs as files under `<root>/blobs/<algorithm>/<first two hex>/<hex>`, uploads under
/// `<root>/uploads/<uuid>`. Every path is built from a validated `Digest` or a `UUID`, so nothing a
/// client sends can name a file outside the root.
public struct FileSystemBlobStore: BlobStore {
    public let root: URL

    public init(root: URL) throws {
        self.root = root
        for dir in ["blobs", "uploads"] {
            let path = root.appendingPathComponent(dir)
            do { try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true) } catch {
                // Foundation's description is a dictionary dump; the system's reason is one phrase:
                // what mkdir says about the first directory that could not be made.
                var missing = path.path
                while missing != "/", !FileManager.default.fileExists(atPath: (missing as NSString).deletingLastPathComponent) {
                    missing = (missing as NSString).deletingLastPathComponent
                }
                throw StorageIOError.system("mkdir", missing, mkdir(missing, 0o755) == 0 ? EIO : errno)
            }
        }
    }

    func blobPath(_ digest: Digest) -> String {
        "\(root.path)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))/\(digest.encoded)"
    }

    func uploadPath(_ id: UUID) -> String { "\(root.path)/uploads/\(id.uuidString.lowercased())" }

    public func size(of digest: Digest) async throws -> Int64? { try fileSize(digest) }

    func fileSize(_ digest: Digest) throws -> Int64? {
        var st = stat()
        guard stat(blobPath(digest), &st) == 0 else {
            if errno == ENOENT { return nil }
            throw StorageIOError.system("stat", blobPath(digest), errno)
        }
        return Int64(st.st_size)
    }

    public func openBlob(_ digest: Digest) async throws -> any BlobReader {
        try FileBlobReader(path: blobPath(digest))
    }

    /// Files are served by the registry itself (with sendfile where it can).
    public func redirectURL(for digest: Digest) async throws -> String? { nil }

    public func openUpload(_ id: UUID, resuming checkpoint: UploadCheckpoint?) async throws -> any UploadWriter {
        try FileUploadWriter(store: self, id: id, truncatingTo: checkpoint?.offset ?? 0)
    }

    public func readUpload(_ id: UUID, _ checkpoint: UploadCheckpoint, _ body: (UnsafeRawBufferPointer) throws -> Void) async throws {
        let path = uploadPath(id)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageIOError.system("open", path, errno) }
        defer { _ = Glibc.close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var remaining = checkpoint.offset
        while remaining > 0 {
            let n = Glibc.read(fd, buffer.baseAddress, Int(min(Int64(buffer.count), remaining)))
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageIOError.system("read", path, errno)
            }
            if n == 0 { throw StorageIOError.system("read", path, EIO) }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            remaining -= Int64(n)
        }
    }

    /// Makes the upload file the blob `digest` by renaming it into place.
    func install(_ id: UUID, as digest: Digest) throws {
        let source = uploadPath(id)
        let target = blobPath(digest)
        if try fileSize(digest) != nil {
            // Content-addressed: the bytes already stored are these bytes.
            try removeUpload(id)
            return
        }
        let directory = (target as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard rename(source, target) == 0 else { throw StorageIOError.system("rename", target, errno) }
        syncDirectory(directory)
        prefetch(target)
    }

    /// Uploads bypass the page cache (direct I/O), so a new blob starts out on disk only; a pull
    /// often follows a push within seconds (CI), so ask the kernel to read it back in the
    /// background. Small blobs went through the page cache anyway.
    private func prefetch(_ path: String) {
        DispatchQueue.global(qos: .utility).async {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return }
            var st = stat()
            if fstat(fd, &st) == 0, st.st_size >= FileUploadWriter.stagingSize {
                // One hint covers only the readahead window (8 MiB seen here), so walk the file.
                let window: off_t = 8 << 20
                var offset: off_t = 0
                while offset < st.st_size {
                    _ = posix_fadvise(fd, offset, window, POSIX_FADV_WILLNEED)
                    offset += window
                }
            }
            _ = Glibc.close(fd)
        }
    }

    public func deleteUpload(_ id: UUID, _ checkpoint: UploadCheckpoint?) async throws { try removeUpload(id) }

    func removeUpload(_ id: UUID) throws {
        let path = uploadPath(id)
        if unlink(path) != 0, errno != ENOENT { throw StorageIOError.system("unlink", path, errno) }
    }

    public func probeWritable() async throws {
        let path = "\(root.path)/uploads/.probe-\(UUID().uuidString)"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageIOError.system("open", path, errno) }
        _ = Glibc.close(fd)
        unlink(path)
    }

    public func uploadFiles() async throws -> [(id: UUID, modified: Date)] {
        let directory = "\(root.path)/uploads"
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap { name in
            guard let id = UUID(uuidString: name) else { return nil }
            var info = stat()
            guard stat("\(directory)/\(name)", &info) == 0 else { return nil }
            return (id, Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec)))
        }
    }

    public func deleteBlob(_ digest: Digest) async throws {
        let path = blobPath(digest)
        if unlink(path) != 0, errno != ENOENT { throw StorageIOError.system("unlink", path, errno) }
    }

    private func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = Glibc.close(fd)
    }
}

public enum StorageIOError: Error, CustomStringConvertible {
    case system(String, String, Int32)
    /// An upload session's saved store state does not match what the store holds.
    case corruptUploadState(String)
    /// The store cannot read an upload's bytes back before it is committed.
    case unreadableUpload(String)
    /// A blob's link object does not name a data object and size.
    case corruptLink(String)

    /// The system error number, for failures of a system call.
    public var errno: Int32? {
        if case .system(_, _, let code) = self { return code }
        return nil
    }

    public var description: String {
        switch self {
        case .system(let call, let path, let code): "\(call) \(path): \(String(cString: strerror(code)))"
        case .corruptUploadState(let id): "upload \(id): its saved state does not match the stored bytes"
        case .unreadableUpload(let id): "upload \(id): its bytes cannot be read back before it is committed (object storage)"
        case .corruptLink(let key): "\(key): not a blob link (<data key> <size>)"
        }
    }
}

final class FileBlobReader: BlobReader {
    let fd: Int32
    let size: Int64
    let path: String

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageIOError.system("open", path, errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            _ = Glibc.close(fd)
            throw StorageIOError.system("fstat", path, code)
        }
        size = Int64(st.st_size)
    }

    /// A reader of its own over an open file the caller keeps (a descriptor of its own, closed
    /// by `close`), of which the first `size` bytes are read.
    init(duplicating descriptor: Int32, size: Int64, naming name: String) throws {
        path = name
        fd = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
        guard fd >= 0 else { throw StorageIOError.system("dup", name, errno) }
        self.size = size
    }

    func bytes(_ range: Range<Int64>) async throws -> any AsyncSequence<ByteBuffer, any Error> {
        FileChunks(reader: self, range: range)
    }

    func read(at offset: Int64, length: Int, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        var buffer = allocator.buffer(capacity: length)
        _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { ptr in
            while true {
                let n = pread(fd, ptr.baseAddress, length, off_t(offset))
                if n >= 0 { return n }
                if errno != EINTR { throw StorageIOError.system("pread", path, errno) }
            }
        }
        return buffer
    }

    func duplicateDescriptor() -> Int32? {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        return copy >= 0 ? copy : nil
    }

    func close() { _ = Glibc.close(fd) }
}

/// A file range read one chunk per `next()`, so the reader never gets ahead of the consumer.
struct FileChunks: AsyncSequence {
    static let chunkSize = 1 << 20
    let reader: FileBlobReader
    let range: Range<Int64>

    struct AsyncIterator: AsyncIteratorProtocol {
        let reader: FileBlobReader
        var offset: Int64
        let end: Int64
        let allocator = ByteBufferAllocator()

        mutating func next() async throws -> ByteBuffer? {
            guard offset < end else { return nil }
            let chunk = try reader.read(at: offset, length: Int(Swift.min(Int64(FileChunks.chunkSize), end - offset)), allocator: allocator)
            // The file is shorter than its metadata says: the blob is damaged or gone.
            guard chunk.readableBytes > 0 else { throw StorageIOError.system("read", reader.path, EIO) }
            offset += Int64(chunk.readableBytes)
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader, offset: range.lowerBound, end: range.upperBound) }
}
