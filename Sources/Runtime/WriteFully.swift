import Glibc

/// `write(2)` until every byte of `bytes` is out; 0, or the errno that stopped it (EIO for a
/// write that took nothing). Callers decide what a failure means: a lost log line, a record
/// not replaced.
func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0, errno == EINTR { continue }
        guard n > 0 else { return n == 0 ? EIO : errno }
        done += n
    }
    return 0
}
