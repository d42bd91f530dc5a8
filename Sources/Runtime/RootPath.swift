import Foundation

/// Paths inside a container's root filesystem, resolved as if the root were `/`: `..` stops at
/// the root, and symlinks met on the way are followed *inside* the root (an absolute target
/// starts again at the root), so no name in a layer or an image's files reaches outside it.
struct RootPath {
    let root: String

    /// A tar entry's name as components relative to the root: `.` and empty parts dropped, `..`
    /// applied lexically and clamped at the root (`../../x` is `x`, `/abs` is `abs`).
    static func clean(_ name: String) -> [String] {
        var parts: [String] = []
        for part in name.split(separator: "/") where part != "." {
            if part == ".." {
                _ = parts.popLast()
            } else {
                parts.append(String(part))
            }
        }
        return parts
    }

    /// The host path of `components`, following symlinks in every component but the last
    /// (unless `followLast`), never leaving the root.
    func resolve(_ components: [String], followLast: Bool = false) throws -> String {
        var resolved: [String] = []
        var pending = components[...]
        var hops = 0
        while let part = pending.popFirst() {
            if part == "." || part.isEmpty { continue }
            if part == ".." {
                _ = resolved.popLast()
                continue
            }
            let isLast = pending.isEmpty
            let candidate = path(resolved + [part])
            var info = stat()
            if (!isLast || followLast), lstat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFLNK {
                hops += 1
                guard hops <= 255 else { throw RuntimeError.io(candidate, "too many levels of symbolic links") }
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: candidate)
                if target.hasPrefix("/") { resolved = [] }
                pending = (target.split(separator: "/").map(String.init) + pending)[...]
                continue
            }
            resolved.append(part)
        }
        return path(resolved)
    }

    func path(_ components: [String]) -> String { components.isEmpty ? root : root + "/" + components.joined(separator: "/") }

    /// Reads a file of the image (`/etc/passwd`), following its symlinks inside the root.
    func read(_ absolute: String, limit: Int = 4 << 20) -> [UInt8]? {
        guard let resolved = try? resolve(Self.clean(absolute), followLast: true),
            let handle = FileHandle(forReadingAtPath: resolved)
        else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: limit)).map { Array($0) }
    }
}
