/// One published port (`-p [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]`, podman's syntax): host address
/// and port (0 until a free one is chosen) to a port on the container's loopback.
public struct PortMapping: Codable, Sendable, Equatable, CustomStringConvertible {
    public var hostIP: String
    public var hostPort: Int
    public var containerPort: Int
    public var proto: String

    public init(hostIP: String, hostPort: Int, containerPort: Int, proto: String = "tcp") {
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.proto = proto
    }

    /// `127.0.0.1:8080->80/tcp`, as `ps` shows it.
    public var description: String { "\(hostIP):\(hostPort)->\(containerPort)/\(proto)" }

    /// Every mapping one `-p` names (a range on both sides maps port by port). No host address
    /// means all of them (0.0.0.0), no host port a free one.
    public static func parse(_ text: String) throws(RuntimeError) -> [PortMapping] {
        func invalid(_ why: String) -> RuntimeError { .invalidArgument("invalid -p '\(text.prefix(100))': \(why)") }
        var spec = Substring(text)
        var proto = "tcp"
        if let slash = spec.lastIndex(of: "/") {
            proto = String(spec[spec.index(after: slash)...])
            spec = spec[..<slash]
            guard proto == "tcp" || proto == "udp" else { throw invalid("protocol \(proto.prefix(20)) (tcp, udp)") }
        }
        var hostIP = "0.0.0.0"
        // An IPv4 address or [IPv6] before the last two fields.
        var fields: [Substring]
        if spec.hasPrefix("[") {
            guard let close = spec.firstIndex(of: "]") else { throw invalid("unclosed [") }
            hostIP = String(spec[spec.index(after: spec.startIndex)..<close])
            let rest = spec[spec.index(after: close)...]
            guard rest.hasPrefix(":") else { throw invalid("expected :HOSTPORT:CONTAINERPORT after the address") }
            fields = rest.dropFirst().split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 2 else { throw invalid("expected [IP]:HOSTPORT:CONTAINERPORT") }
        } else {
            fields = spec.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...3).contains(fields.count) else { throw invalid("expected [IP:][HOSTPORT:]CONTAINERPORT") }
            if fields.count == 3 {
                hostIP = String(fields[0])
                fields.removeFirst()
            }
        }
        guard hostIP.isEmpty || isAddress(hostIP) else { throw invalid("\(hostIP.prefix(60)) is not an IP address") }
        if hostIP.isEmpty { hostIP = "0.0.0.0" }
        let containerPorts = try range(fields.last!, invalid)
        let hostPorts = fields.count == 2 && !fields[0].isEmpty ? try range(fields[0], invalid) : nil
        if let hostPorts, hostPorts.count != containerPorts.count { throw invalid("the host and container ranges differ in length") }
        return containerPorts.enumerated().map { index, port in
            PortMapping(hostIP: hostIP, hostPort: hostPorts.map { $0[index] } ?? 0, containerPort: port, proto: proto)
        }
    }

    private static func range(_ text: Substring, _ invalid: (String) -> RuntimeError) throws(RuntimeError) -> [Int] {
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(bounds.count), let low = Int(bounds[0]), let high = Int(bounds.last!), (1...65535).contains(low), (low...65535).contains(high)
        else { throw invalid("\(text.prefix(20)) is not a port or range (1-65535)") }
        guard high - low < 1000 else { throw invalid("ranges of more than 1000 ports are refused") }
        return Array(low...high)
    }

    static func isAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}

#if canImport(Glibc)
    import Glibc
#endif
