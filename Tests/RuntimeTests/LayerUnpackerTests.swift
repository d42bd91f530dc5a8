import CLinuxIO
import Foundation
import Testing

@testable import Runtime

@Suite struct LayerUnpackerTests {
    /// A scratch directory with `rootfs/` and an `outside/` canary holding `victim`.
    struct Scratch {
        let base: String
        var rootfs: String { "\(base)/rootfs" }
        var outside: String { "\(base)/outside" }

        init() throws {
            base = FileManager.default.temporaryDirectory.appendingPathComponent("berth-unpack-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: "\(base)/rootfs", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(base)/outside", withIntermediateDirectories: true)
            try Data("precious".utf8).write(to: URL(fileURLWithPath: "\(base)/outside/victim"))
        }

        func apply(_ layer: TarBuilder, chunk: Int = 700) async throws {
            try await LayerUnpacker(rootfs: rootfs).apply(layer.stream(chunk: chunk), layer: "sha256:test")
        }

        func exists(_ relative: String) -> Bool {
            var info = stat()
            return lstat("\(rootfs)/\(relative)", &info) == 0
        }

        func info(_ relative: String) -> stat {
            var info = stat()
            lstat("\(rootfs)/\(relative)", &info)
            return info
        }

        /// The canary is exactly as it was.
        var outsideUntouched: Bool {
            (try? FileManager.default.contentsOfDirectory(atPath: outside)) == ["victim"]
                && (try? String(contentsOfFile: "\(outside)/victim", encoding: .utf8)) == "precious"
        }

        func cleanup() { try? FileManager.default.removeItem(atPath: base) }
    }

    @Test func layersApplyWithWhiteoutsLinksAndAttributes() async throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        var lower = TarBuilder()
        lower.directory("./")
        lower.directory("a/")
        lower.file("a/file1", "one")
        lower.file("a/keep", "kept", mtime: 1_600_000_000)
        lower.directory("del/")
        lower.file("del/x", "x")
        lower.directory("opq/")
        lower.file("opq/old1", "old")
        lower.directory("opq/sub/")
        lower.file("opq/sub/old2", "old")
        lower.directory("hl/")
        lower.file("hl/orig", "linked")
        lower.directory("t/")
        lower.file("t/child", "c")
        try await scratch.apply(lower, chunk: 333)

        var upper = TarBuilder()
        upper.file("a/.wh.file1")
        upper.file(".wh.del")
        upper.file("opq/new", "new")
        // An opaque marker after this layer's own entries hides only the lower ones.
        upper.file("opq/.wh..wh..opq")
        upper.hardLink("hl/link", to: "hl/orig")
        upper.symlink("sl", to: "/a/keep")
        upper.directory("special/")
        upper.fifo("special/fifo")
        upper.file("special/suid", "#!/bin/sh", mode: 0o4755, uid: 1000, gid: 2000)
        upper.file("special/xattr", "x", xattrs: ["user.berth": "hello"])
        upper.file("t", "now a file")
        upper.file(String(repeating: "long/", count: 30) + "name", "deep")
        try await scratch.apply(upper, chunk: 512)

        #expect(!scratch.exists("a/file1") && scratch.exists("a/keep") && !scratch.exists("del"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(scratch.rootfs)/opq") == ["new"])
        #expect(scratch.info("hl/link").st_ino == scratch.info("hl/orig").st_ino)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(scratch.rootfs)/sl") == "/a/keep")
        #expect(scratch.info("special/fifo").st_mode & S_IFMT == S_IFIFO)
        #expect(scratch.info("special/suid").st_mode & 0o7777 == 0o4755)
        if geteuid() == 0 {
            #expect(scratch.info("special/suid").st_uid == 1000 && scratch.info("special/suid").st_gid == 2000)
        }
        #expect(scratch.info("a/keep").st_mtim.tv_sec == 1_600_000_000)
        #expect(scratch.info("t").st_mode & S_IFMT == S_IFREG)
        #expect(try String(contentsOfFile: "\(scratch.rootfs)/" + String(repeating: "long/", count: 30) + "name", encoding: .utf8) == "deep")
        var value = [UInt8](repeating: 0, count: 16)
        let length = clinuxio_lgetxattr("\(scratch.rootfs)/special/xattr", "user.berth", &value, 16)
        // tmpfs before 6.6 has no user.* xattrs; where the filesystem takes them, the value is kept.
        if length >= 0 { #expect(Array(value.prefix(length)) == Array("hello".utf8)) }
        let all = FileManager.default.enumerator(atPath: scratch.rootfs)?.allObjects as? [String] ?? []
        #expect(!all.contains { ($0 as NSString).lastPathComponent.hasPrefix(".wh.") })
    }

    @Test func maliciousEntriesNeverWriteOutsideTheRootfs() async throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let outside = scratch.outside
        var layer = TarBuilder()
        layer.file("../outside/dotdot", "x")
        layer.file("../../../../../../../../\(outside.dropFirst())/dotdot2", "x")
        layer.file("\(outside)/abs", "x")
        layer.symlink("evil", to: outside)
        layer.file("evil/through-absolute-symlink", "x")
        layer.symlink("evil2", to: "../../../../../../../..\(outside)")
        layer.file("evil2/through-relative-symlink", "x")
        layer.file("../outside/.wh.victim")
        layer.symlink("evil3", to: "\(outside)/victim")
        layer.file("evil3", "replaced the link, not the victim")
        try await scratch.apply(layer)
        #expect(scratch.outsideUntouched)
        #expect(scratch.exists("outside/dotdot") && scratch.exists("\(outside.dropFirst())/abs"))
        #expect(scratch.exists("\(outside.dropFirst())/through-absolute-symlink") && scratch.exists("\(outside.dropFirst())/through-relative-symlink"))
        #expect(scratch.info("evil3").st_mode & S_IFMT == S_IFREG)
    }

    /// Layers that cannot be applied safely: refused, naming the layer and the entry.
    static func refused(_ label: String, outside: String) -> (TarBuilder, String) {
        var layer = TarBuilder()
        switch label {
        case "hard link outside": layer.hardLink("hl", to: "../outside/victim")
        case "hard link absolute": layer.hardLink("hl", to: "\(outside)/victim")
        case "root as symlink": layer.symlink("./", to: outside)
        default: layer.file("x/y/../../../../outside/w", "x"); layer.hardLink("h2", to: "\(outside)/victim")
        }
        return (layer, label == "root as symlink" ? "root directory" : "not in the rootfs")
    }

    @Test(arguments: ["hard link outside", "hard link absolute", "root as symlink", "dotdot then hard link"])
    func refusedEntriesNameTheLayerAndEntry(_ label: String) async throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let (layer, why) = Self.refused(label, outside: scratch.outside)
        do {
            try await scratch.apply(layer)
            Issue.record("\(label): applied")
        } catch let error as RuntimeError {
            #expect(error.description.hasPrefix("layer sha256:test: entry '") && error.description.contains(why), "\(label): \(error)")
        }
        #expect(scratch.outsideUntouched, "\(label)")
    }

    @Test func truncatedOrCorruptStreamsAreErrors() async throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        var layer = TarBuilder()
        layer.file("a", String(repeating: "x", count: 2000))
        let bytes = layer.finished()
        for broken in [Array(bytes.prefix(1000)), [UInt8](repeating: 7, count: 1024)] {
            do {
                try await LayerUnpacker(rootfs: scratch.rootfs).apply(TarBuilder.Chunks(bytes: broken, size: 256), layer: "sha256:bad")
                Issue.record("applied a broken stream")
            } catch let error as RuntimeError {
                #expect(error.description.contains("sha256:bad"))
            }
        }
    }
}

extension LayerUnpackerTests {
    /// Overlay form (as root): whiteouts become 0/0 character devices, opaque directories get
    /// `trusted.overlay.opaque=y`, and a hard link to a lower layer's file becomes a copy.
    @Test(.enabled(if: geteuid() == 0, "whiteout devices and trusted.* xattrs need root"))
    func overlayFormKeepsWhiteoutsForStacking() async throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let lower = "\(scratch.base)/lower"
        try FileManager.default.createDirectory(atPath: "\(lower)/data", withIntermediateDirectories: true)
        try Data("below".utf8).write(to: URL(fileURLWithPath: "\(lower)/data/orig"))
        var layer = TarBuilder()
        layer.file("data/.wh.victim")
        layer.file("opq/new", "n")
        layer.file("opq/.wh..wh..opq")
        layer.hardLink("data/link", to: "data/orig")
        try await LayerUnpacker(rootfs: scratch.rootfs, mode: .overlay, lower: [lower]).apply(layer.stream(), layer: "sha256:test")
        let whiteout = scratch.info("data/victim")
        #expect(whiteout.st_mode & S_IFMT == S_IFCHR && whiteout.st_rdev == 0)
        var value = [UInt8](repeating: 0, count: 4)
        #expect(clinuxio_lgetxattr("\(scratch.rootfs)/opq", "trusted.overlay.opaque", &value, 4) == 1 && value[0] == UInt8(ascii: "y"))
        #expect(scratch.exists("opq/new"))
        #expect(try String(contentsOfFile: "\(scratch.rootfs)/data/link", encoding: .utf8) == "below")
    }
}
