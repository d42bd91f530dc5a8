import CLinuxIO
import Foundation
import Transports
import NIOCore

/// Applies image layers (tar streams) to a root filesystem as the image spec's `layer.md` says:
/// whiteouts delete what lower layers made (`.wh..wh..opq` empties a directory of lower content
/// whatever its place in the layer), a changed type is unlink-and-recreate, owners then modes
/// (chown clears setuid), directory times after the layer, xattrs where the filesystem takes them.
/// Names are resolved inside the root (`RootPath`); a hard link to something outside it, or a
/// root entry that is not a directory, is refused.
struct LayerUnpacker {
    /// `flatten` applies layers one over the other in one directory (whiteouts delete);
    /// `overlay` unpacks one layer into its own directory in overlayfs's form (a whiteout is a
    /// 0/0 character device, an opaque directory has `trusted.overlay.opaque=y`, `user.…` rootless), for stacking.
    enum Mode { case flatten, overlay }

    let root: RootPath
    let mode: Mode
    /// In overlay mode, the directories of the layers below (top first): a hard link to a file
    /// of a lower layer becomes a copy of it.
    let lower: [String]
    /// Owners need root (in a rootless user namespace, ids inside its map); without it files
    /// keep the caller's owner.
    let privileged = geteuid() == 0
    /// Device nodes need real root; elsewhere they are skipped (as rootless podman does).
    let devices = HostUser.isRoot

    init(rootfs: String, mode: Mode = .flatten, lower: [String] = []) {
        root = RootPath(root: rootfs)
        self.mode = mode
        self.lower = lower
    }

    /// Applies one layer; `layer` names it in errors (its digest).
    func apply<S: AsyncSequence>(_ tar: S, layer: String) async throws where S.Element == ByteBuffer {
        let stream = TarStream(tar)
        var written: Set<String> = []
        var directoryTimes: [(String, Int64)] = []
        while let entry = try await next(stream, layer) {
            let components = RootPath.clean(entry.name)
            do {
                try await apply(entry, components, stream, &written, &directoryTimes)
            } catch {
                throw RuntimeError.badLayer(layer: layer, entry: entry.name, "\(error)")
            }
        }
        try await stream.drain()
        for (path, mtime) in directoryTimes.reversed() { setTime(path, mtime) }
    }

    private func next<S>(_ stream: TarStream<S>, _ layer: String) async throws -> TarEntry? {
        do { return try await stream.next() } catch let error as TarError {
            throw RuntimeError.badLayer(layer: layer, entry: "", error.description)
        }
    }

    private func apply<S>(
        _ entry: TarEntry, _ components: [String], _ stream: TarStream<S>, _ written: inout Set<String>, _ directoryTimes: inout [(String, Int64)]
    ) async throws {
        guard let name = components.last else {
            // The root itself: only a directory may stand there, and it stays as it is.
            guard entry.kind == .directory else {
                throw TarError("refusing to change the type of the root directory")
            }
            return
        }
        let parent = try root.resolve(Array(components.dropLast()), followLast: true)
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let key = components.joined(separator: "/")
        if name == ".wh..wh..opq", mode == .overlay {
            let value = Array("y".utf8)
            try check(value.withUnsafeBytes { clinuxio_lsetxattr(parent, LayerCache.opaqueXattr, $0.baseAddress, UInt($0.count)) }, parent)
            return
        }
        if name.hasPrefix(".wh."), mode == .overlay {
            let victim = String(name.dropFirst(4))
            guard !victim.isEmpty, victim != ".", victim != "..", !victim.hasPrefix(".wh.") else { throw TarError("invalid whiteout") }
            try removeTree("\(parent)/\(victim)")
            try check(clinuxio_mknod("\(parent)/\(victim)", UInt32(S_IFCHR), 0, 0), "\(parent)/\(victim)")
            return
        }
        if name == ".wh..wh..opq" {
            let directory = components.dropLast().joined(separator: "/")
            for child in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] {
                let childKey = directory.isEmpty ? child : "\(directory)/\(child)"
                if !written.contains(childKey) { try removeTree("\(parent)/\(child)") }
            }
            return
        }
        if name.hasPrefix(".wh.") {
            let victim = String(name.dropFirst(4))
            guard !victim.isEmpty, victim != ".", victim != ".." else { throw TarError("invalid whiteout") }
            if !victim.hasPrefix(".wh.") { try removeTree("\(parent)/\(victim)") }
            return
        }
        let target = "\(parent)/\(name)"
        written.insert(key)
        var existing = stat()
        let exists = lstat(target, &existing) == 0
        let existingIsDirectory = exists && existing.st_mode & S_IFMT == S_IFDIR
        if exists, !(entry.kind == .directory && existingIsDirectory) { try removeTree(target) }

        switch entry.kind {
        case .directory:
            if !existingIsDirectory { try check(mkdir(target, 0o700), target) }
            directoryTimes.append((target, entry.mtime))
        case .file:
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            try check(fd, target)
            do {
                try await stream.readContent { chunk in
                    try chunk.withUnsafeReadableBytes { bytes in
                        var done = 0
                        while done < bytes.count {
                            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                            guard n > 0 else { throw RuntimeError.io(target, String(cString: strerror(errno))) }
                            done += n
                        }
                    }
                }
                close(fd)
            } catch {
                close(fd)
                throw error
            }
        case .symlink:
            try check(symlink(entry.linkTarget, target), target)
        case .hardLink:
            // The target is another name in the rootfs; resolved inside it, it cannot be outside.
            let source = try root.resolve(RootPath.clean(entry.linkTarget))
            var info = stat()
            guard lstat(source, &info) == 0 else {
                // In overlay form the target may be in a lower layer: the link becomes a copy.
                for layer in lower {
                    let below = try RootPath(root: layer).resolve(RootPath.clean(entry.linkTarget))
                    guard lstat(below, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
                    try FileManager.default.copyItem(atPath: below, toPath: target)
                    return
                }
                throw TarError("hard link to '\(entry.linkTarget)', which is not in the rootfs")
            }
            guard info.st_mode & S_IFMT != S_IFDIR else { throw TarError("hard link to a directory") }
            try check(link(source, target), target)
            return
        case .fifo:
            try check(mkfifo(target, 0o600), target)
        case .characterDevice, .blockDevice:
            guard devices else { return }
            let type = entry.kind == .characterDevice ? S_IFCHR : S_IFBLK
            try check(clinuxio_mknod(target, UInt32(type | 0o600), entry.deviceMajor, entry.deviceMinor), target)
        case .other(let type):
            throw TarError("unsupported tar entry type '\(Character(UnicodeScalar(type)))'")
        }
        if privileged, lchown(target, entry.uid, entry.gid) != 0 {
            if errno == EINVAL, HostUser.inUserNamespace {
                throw RuntimeError.io(target, "owner \(entry.uid):\(entry.gid) is outside the ids this user may map (its ranges in /etc/subuid and /etc/subgid)")
            }
            try check(-1, target)
        }
        if entry.kind != .symlink { try check(chmod(target, mode_t(entry.mode)), target) }
        for (name, value) in entry.xattrs {
            // Filesystems without xattrs (or this one) answer ENOTSUP; the layer still applies.
            _ = value.withUnsafeBytes { clinuxio_lsetxattr(target, name, $0.baseAddress, UInt($0.count)) }
        }
        if entry.kind != .directory { setTime(target, entry.mtime) }
    }

    private func setTime(_ path: String, _ mtime: Int64) {
        var times = [timespec(tv_sec: Int(mtime), tv_nsec: 0), timespec(tv_sec: Int(mtime), tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
    }

    /// Removes a file, symlink (not its target) or directory tree.
    private func removeTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        try FileManager.default.removeItem(atPath: path)
    }

    private func check(_ result: Int32, _ path: String) throws {
        guard result >= 0 else { throw RuntimeError.io(path, String(cString: strerror(errno))) }
    }
}
