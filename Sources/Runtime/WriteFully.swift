import Foundation

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

/// Writes a container's own file (its bundle's `config.json`, `/etc/hosts`, an exec's process)
/// without `fsync`, which Foundation's `Data.write(to:)` does: each such flush cost 0.6-1.5 ms
/// on this machine's disk, three of them on the way to every `run -d`, and the files are worth no
/// more than the container's record beside them, which is replaced without one (podman writes
/// its `config.json` the same way).
func writeContainerFile(_ path: String, _ data: some ContiguousBytes) throws(RuntimeError) {
    let code = writeFile(path, data, mode: 0o644)
    guard code == 0 else { throw RuntimeError.io(path, String(cString: strerror(code))) }
}

/// Creates or truncates `path` (not following a symlink) and writes `data` to it, unflushed; 0,
/// or the errno that stopped it.
func writeFile(_ path: String, _ data: some ContiguousBytes, mode: mode_t) -> Int32 {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
    guard fd >= 0 else { return errno }
    var code = data.withUnsafeBytes { writeFully(fd, $0) }
    if close(fd) != 0, code == 0 { code = errno }
    return code
}
