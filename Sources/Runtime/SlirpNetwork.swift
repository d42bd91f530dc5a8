import Foundation

/// `--network slirp4netns`: user-mode networking (Debian's slirp4netns, what rootless podman 4.3
/// uses) for the container's own network namespace — a tap0 device at 10.0.2.100/24, the gateway
/// 10.0.2.2 and DNS at 10.0.2.3 — so a container without root reaches the outside. The host's
/// loopback stays out of reach (10.0.2.2 is not the host's 127.0.0.1) unless
/// `allow_host_loopback=true` is asked for, as podman has it.
public struct SlirpNetwork: Sendable, Equatable {
    public var allowHostLoopback = false

    public init(allowHostLoopback: Bool = false) { self.allowHostLoopback = allowHostLoopback }

    /// `slirp4netns[:allow_host_loopback=true|false]`; nil for another network.
    public init?(parsing text: String) throws(RuntimeError) {
        guard text == "slirp4netns" || text.hasPrefix("slirp4netns:") else { return nil }
        for option in text.dropFirst("slirp4netns".count).split(separator: ":").flatMap({ $0.split(separator: ",") }) {
            switch option {
            case "allow_host_loopback=true": allowHostLoopback = true
            case "allow_host_loopback=false": allowHostLoopback = false
            default: throw .invalidArgument("unsupported slirp4netns option '\(option.prefix(60))' (allow_host_loopback=true|false)")
            }
        }
    }

    public var description: String { allowHostLoopback ? "slirp4netns:allow_host_loopback=true" : "slirp4netns" }

    /// Where the container's resolver points (slirp4netns forwards it to the host's).
    static let resolvConf = "nameserver 10.0.2.3\n"
    /// tap0's address in the container, and the gateway (the host, with `allow_host_loopback`).
    static let containerAddress = "10.0.2.100"
    static let gatewayAddress = "10.0.2.2"

    /// Connects the network namespace of `pid` and waits (up to 10 s) until its default route is
    /// up; the process runs until `detach`.
    func attach(to pid: Int32) throws -> ChildProcess {
        guard let path = ["/usr/bin/slirp4netns", "/bin/slirp4netns"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw RuntimeError.notFound("--network slirp4netns needs slirp4netns (apt-get install slirp4netns)")
        }
        var arguments = ["--configure", "--mtu=65520"]
        if !allowHostLoopback { arguments.append("--disable-host-loopback") }
        let process = try ChildProcess.spawn(path, arguments + [String(pid), "tap0"], quiet: true)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if Self.hasDefaultRoute(pid) { return process }
            var status: Int32 = 0
            if waitpid(process.pid, &status, WNOHANG) == process.pid {
                throw RuntimeError.runtime("slirp4netns exited (status \(status)) before the network was up")
            }
            usleep(10_000)
        }
        Self.detach(process)
        throw RuntimeError.runtime("slirp4netns did not bring the network up within 10 s")
    }

    /// Stops slirp4netns and reaps it.
    static func detach(_ process: ChildProcess) {
        kill(process.pid, SIGTERM)
        _ = process.waitBlocking()
    }

    /// A default route on tap0 in the namespace of `pid` (/proc/PID/net/route, destination 0).
    static func hasDefaultRoute(_ pid: Int32) -> Bool {
        guard let table = try? String(contentsOfFile: "/proc/\(pid)/net/route", encoding: .utf8) else { return false }
        return table.split(separator: "\n").contains { line in
            let fields = line.split(whereSeparator: \.isWhitespace)
            return fields.count > 2 && fields[0] == "tap0" && fields[1] == "00000000"
        }
    }
}
