import CLinuxIO
import Foundation
import OCI
import RegistryClient
import Transports

/// Unpacked layers kept under `layers/<chain-id>` in overlayfs's form, so images that share
/// base layers unpack them once and every container stacks them read-only under its own upper
/// directory. A layer is unpacked into a temporary directory and renamed into place whole, so a
/// killed pull leaves nothing that looks done, and two concurrent pulls of it keep one copy.
struct LayerCache {
    let directory: String

    /// The image spec's ChainIDs: each layer's identity together with everything below it.
    static func chainIDs(_ diffIDs: [Digest]) -> [Digest] {
        var chains: [Digest] = []
        for diffID in diffIDs {
            chains.append(chains.last.map { Digest.of(Array("\($0) \(diffID)".utf8)) } ?? diffID)
        }
        return chains
    }

    func path(_ chain: Digest) -> String { "\(directory)/\(chain.encoded)" }

    /// The layer directories of an image, bottom first, unpacking the ones not cached yet.
    func prepare(_ layers: [Descriptor], diffIDs: [Digest], source: any ImageSource) async throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var ready: [String] = []
        for ((layer, diffID), chain) in zip(zip(layers, diffIDs), Self.chainIDs(diffIDs)) {
            let final = path(chain)
            if !FileManager.default.fileExists(atPath: final) {
                let temporary = "\(directory)/.tmp-\(UUID().uuidString)"
                try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
                chmod(temporary, 0o755)
                do {
                    let unpacker = LayerUnpacker(rootfs: temporary, mode: .overlay, lower: ready.reversed())
                    try await LocalRunner.apply(layer, diffID: diffID, from: source, with: unpacker)
                    if rename(temporary, final) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
                } catch {
                    try? FileManager.default.removeItem(atPath: temporary)
                    throw error
                }
            }
            ready.append(final)
        }
        return ready
    }

    /// Deletes cached layers no image in `keep` uses, and what interrupted unpacks left.
    func prune(keeping keep: Set<Digest>) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            if name.hasPrefix(".tmp-") || (try? Digest(parsing: "sha256:\(name)")).map({ !keep.contains($0) }) == true {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
            }
        }
    }

    /// The xattr overlayfs reads opaque directories from: `trusted.*` as root; in a rootless
    /// user namespace `user.*`, which the mount then names with `userxattr` (Linux 5.11).
    static var opaqueXattr: String { HostUser.inUserNamespace ? "user.overlay.opaque" : "trusted.overlay.opaque" }

    /// Whether this machine can stack cached layers: root (or rootless berth in its namespace),
    /// overlayfs in the kernel, and a store filesystem that takes the opaque xattr and whiteout
    /// devices. A positive answer is remembered in `note` until the next boot (a new kernel may
    /// lack overlayfs), so runs after the first skip the probe.
    static func overlayAvailable(in directory: String, note: String) -> Bool {
        guard geteuid() == 0, !directory.contains(":"), !directory.contains(",") else { return false }
        let boot = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? ""
        if !boot.isEmpty, (try? String(contentsOfFile: note, encoding: .utf8)) == boot { return true }
        guard (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8))?.contains("\toverlay") == true else { return false }
        let probe = "\(directory)/.probe-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil else { return false }
        let value = Array("y".utf8)
        let xattr = value.withUnsafeBytes { clinuxio_lsetxattr(probe, opaqueXattr, $0.baseAddress, UInt($0.count)) }
        guard xattr == 0, clinuxio_mknod("\(probe)/whiteout", UInt32(S_IFCHR), 0, 0) == 0 else { return false }
        // A lost or torn note only means probing again.
        try? boot.write(toFile: note, atomically: true, encoding: .utf8)
        return true
    }
}

/// The overlay mount of a container's rootfs: cached layers below, the container's own upper
/// and work directories above.
enum OverlayMount {
    /// `again`: the container's layers were mounted before (`berth start`): the work directory
    /// a volatile mount leaves behind is scratch, and the kernel refuses to reuse it.
    static func mount(layers: [String], container: String, rootfs: String, again: Bool = false) throws {
        if again { try? FileManager.default.removeItem(atPath: "\(container)/work") }
        for directory in ["upper", "work"] { try FileManager.default.createDirectory(atPath: "\(container)/\(directory)", withIntermediateDirectories: true) }
        // `volatile`: a container's upper directory needs no sync (a crash loses the container's
        // scratch writes, as a crash would anyway), and unmounting does not wait for its writes.
        var options = "lowerdir=\(layers.reversed().joined(separator: ":")),upperdir=\(container)/upper,workdir=\(container)/work,volatile"
        if HostUser.inUserNamespace { options += ",userxattr" }
        guard Glibc.mount("overlay", rootfs, "overlay", 0, options) == 0 else {
            throw RuntimeError.io(rootfs, "cannot mount the overlay: \(String(cString: strerror(errno)))")
        }
    }

    static func unmount(_ rootfs: String) {
        _ = umount2(rootfs, Int32(MNT_DETACH))
    }
}
