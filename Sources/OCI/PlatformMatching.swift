#if canImport(Glibc)
    import Glibc
#endif

extension Platform {
    /// The platform this process runs on, in Go's names (`amd64`, `arm64`), as registries use them.
    public static var current: Platform {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch machine {
        case "x86_64": return Platform(architecture: "amd64", os: "linux")
        case "aarch64", "arm64": return Platform(architecture: "arm64", os: "linux", variant: "v8")
        case "armv7l": return Platform(architecture: "arm", os: "linux", variant: "v7")
        case "i686", "i386": return Platform(architecture: "386", os: "linux")
        default: return Platform(architecture: machine, os: "linux")
        }
    }

    /// Parses `os/arch[/variant]` (`linux/arm64/v8`).
    public init?(parsing string: some StringProtocol) {
        let parts = String(string).split(separator: "/" as Character, omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(architecture: parts[1], os: parts[0], variant: parts.count == 3 ? parts[2] : nil)
    }

    /// Whether an index entry for `candidate` serves a request for `self`: the same OS and
    /// architecture, and the same variant when both name one (arm64's `v8` is its default).
    public func accepts(_ candidate: Platform) -> Bool {
        guard os == candidate.os, architecture == candidate.architecture else { return false }
        guard let wanted = variant else { return true }
        let offered = candidate.variant ?? (architecture == "arm64" ? "v8" : nil)
        return offered == nil || offered == wanted
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }
}

extension ImageIndex {
    /// The entry an index offers for `platform`: an exact variant match first, then any that `accepts`.
    public func instance(for platform: Platform) -> Descriptor? {
        let images = manifests.filter { $0.platform != nil }
        return images.first { $0.platform?.variant == platform.variant && platform.accepts($0.platform!) }
            ?? images.first { platform.accepts($0.platform!) }
    }
}
