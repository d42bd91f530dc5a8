#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Whole reads of a local file, retried on EINTR; a file shorter than asked for is an error.
enum LocalFileBytes {
    static func read(_ descriptor: Int32, at offset: Int64, count: Int, naming name: String) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
            var done = 0
            while done < count {
                let n = pread(descriptor, bytes.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw StorageIOError.system("read", name, n == 0 ? EIO : errno) }
                done += n
            }
            return done
        }
        return buffer
    }
}
