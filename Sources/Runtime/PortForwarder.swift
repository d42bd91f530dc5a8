import CLinuxIO
import Foundation
import Synchronization

/// Publishes container ports on the host with a userspace proxy: a listener per mapping on the
/// host address (bound before the container starts, so a taken port fails the run), and for each
/// connection a thread that enters the container's network namespace — namespaces are per
/// thread — connects to the port on the container's loopback and copies both ways. UDP has no
/// connections: each client address gets a flow, a socket made in the container's namespace and
/// connected to the port there, whose replies go back to that client; a flow idle for a minute ends.
///
/// Why a proxy rather than nftables DNAT: the container keeps its loopback-only namespace (no
/// bridge, no veth, no host firewall rules to leave behind), the same code serves rootless runs
/// (a user cannot write the host's nftables), and it needs nothing but this process. The cost:
/// the application sees connections from 127.0.0.1, and must listen on loopback or all addresses.
final class PortForwarder: Sendable {
    /// The mappings with the host ports chosen (a requested 0 becomes the port the kernel gave).
    let mappings: [PortMapping]
    private let listeners: [Int32]
    /// PID 1 of the container while it runs (0: connections are refused).
    private let target = Atomic<Int32>(0)

    init(_ requested: [PortMapping]) throws {
        var mappings: [PortMapping] = []
        var listeners: [Int32] = []
        do {
            for mapping in requested {
                let (fd, port) = try Self.listen(mapping)
                listeners.append(fd)
                mappings.append(PortMapping(hostIP: mapping.hostIP, hostPort: port, containerPort: mapping.containerPort, proto: mapping.proto))
            }
        } catch {
            for fd in listeners { Glibc.close(fd) }
            throw error
        }
        self.mappings = mappings
        self.listeners = listeners
        for (fd, mapping) in zip(listeners, mappings) {
            if mapping.proto == "udp" {
                Thread { [self] in relayDatagrams(on: fd, to: mapping.containerPort) }.start()
            } else {
                Thread { [self] in accept(on: fd, to: mapping.containerPort) }.start()
            }
        }
    }

    /// Where connections go from now on (0 while the container is not running).
    func forward(to pid: Int32) { target.store(pid, ordering: .relaxed) }

    /// Stops listening (connections under way finish on their own threads).
    func close() {
        forward(to: 0)
        for fd in listeners { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private static func listen(_ mapping: PortMapping) throws -> (Int32, Int) {
        let v6 = mapping.hostIP.contains(":")
        let type = mapping.proto == "udp" ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)
        let fd = socket(v6 ? AF_INET6 : AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RuntimeError.io("socket", String(cString: strerror(errno))) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var storage = sockaddr_storage()
        let length = Self.address(mapping.hostIP, port: mapping.hostPort, into: &storage)
        let bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, mapping.proto == "udp" || Glibc.listen(fd, 128) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw RuntimeError.invalidArgument("cannot publish \(mapping.hostIP):\(mapping.hostPort) for port \(mapping.containerPort): \(reason)")
        }
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) } }
        let port = withUnsafePointer(to: &actual) { pointer -> UInt16 in
            v6 ? pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }
                : pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }
        }
        return (fd, Int(UInt16(bigEndian: port)))
    }

    private static func address(_ host: String, port: Int, into storage: inout sockaddr_storage) -> socklen_t {
        withUnsafeMutablePointer(to: &storage) { pointer in
            if host.contains(":") {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    address.pointee.sin6_family = sa_family_t(AF_INET6)
                    address.pointee.sin6_port = UInt16(port).bigEndian
                    _ = inet_pton(AF_INET6, host, &address.pointee.sin6_addr)
                    return socklen_t(MemoryLayout<sockaddr_in6>.size)
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                address.pointee.sin_family = sa_family_t(AF_INET)
                address.pointee.sin_port = UInt16(port).bigEndian
                _ = inet_pton(AF_INET, host, &address.pointee.sin_addr)
                return socklen_t(MemoryLayout<sockaddr_in>.size)
            }
        }
    }

    private func accept(on listener: Int32, to port: Int) {
        while true {
            // Programs are spawned with every descriptor above 2 closed, so no CLOEXEC race matters.
            let client = Glibc.accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE { usleep(10_000); continue }
                return
            }
            let pid = target.load(ordering: .relaxed)
            guard pid > 0 else {
                Glibc.close(client)
                continue
            }
            Thread { Self.serve(client, pid: pid, port: port) }.start()
        }
    }

    /// On a thread of its own, which enters the container's network namespace for good.
    private static func serve(_ client: Int32, pid: Int32, port: Int) {
        defer { Glibc.close(client) }
        guard let upstream = connectInside(pid: pid, port: port, type: Int32(SOCK_STREAM.rawValue)) else { return }
        defer { Glibc.close(upstream) }
        relay(client, upstream)
    }

    /// A socket made in the network namespace of `pid` (this thread enters it for good) and
    /// connected to `port` on its loopback; nil when any step fails.
    private static func connectInside(pid: Int32, port: Int, type: Int32) -> Int32? {
        let namespace = open("/proc/\(pid)/ns/net", O_RDONLY | O_CLOEXEC)
        guard namespace >= 0 else { return nil }
        let entered = clinuxio_enter_network_namespace(namespace)
        Glibc.close(namespace)
        guard entered == 0 else { return nil }
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var storage = sockaddr_storage()
        let length = address("127.0.0.1", port: port, into: &storage)
        let connected = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        guard connected == 0 else {
            Glibc.close(fd)
            return nil
        }
        return fd
    }

    /// The UDP side: datagrams from each client address go to that client's flow.
    private func relayDatagrams(on listener: Int32, to port: Int) {
        let flows = Mutex<[Data: Int32]>([:])
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var peer = sockaddr_storage()
            var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = withUnsafeMutablePointer(to: &peer) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(listener, &buffer, buffer.count, 0, $0, &peerLength) }
            }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            let pid = target.load(ordering: .relaxed)
            guard pid > 0 else { continue }
            let key = withUnsafeBytes(of: &peer) { Data($0.prefix(Int(peerLength))) }
            let datagram = Array(buffer[0..<n])
            if let flow = flows.withLock({ $0[key] }) {
                _ = datagram.withUnsafeBytes { send(flow, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                continue
            }
            let client = peer
            let clientLength = peerLength
            Thread {
                guard let flow = Self.connectInside(pid: pid, port: port, type: Int32(SOCK_DGRAM.rawValue)) else { return }
                flows.withLock { $0[key] = flow }
                _ = datagram.withUnsafeBytes { send(flow, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                var reply = [UInt8](repeating: 0, count: 65536)
                var client = client
                while true {
                    var waiting = [pollfd(fd: flow, events: Int16(POLLIN), revents: 0)]
                    // A minute without traffic ends the flow, as conntrack forgets a UDP one.
                    guard poll(&waiting, 1, 60_000) > 0 else { break }
                    let received = recv(flow, &reply, reply.count, 0)
                    guard received >= 0 else { break }
                    _ = withUnsafePointer(to: &client) { pointer in
                        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(listener, reply, received, Int32(MSG_NOSIGNAL), $0, clientLength) }
                    }
                }
                flows.withLock { $0[key] = nil }
                Glibc.close(flow)
            }.start()
        }
    }

    /// Copies both ways until both directions have ended; an end in one direction is passed on
    /// as a half-close, so request-then-EOF protocols work.
    private static func relay(_ a: Int32, _ b: Int32) {
        var open = [true, true]  // a→b, b→a
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while open[0] || open[1] {
            var fds = [pollfd(fd: open[0] ? a : -1, events: Int16(POLLIN), revents: 0), pollfd(fd: open[1] ? b : -1, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, -1) > 0 else {
                if errno == EINTR { continue }
                return
            }
            for (index, (from, to)) in [(a, b), (b, a)].enumerated() where open[index] && fds[index].revents != 0 {
                let n = read(from, &buffer, buffer.count)
                if n < 0, errno == EINTR { continue }
                guard n > 0, writeAll(to, buffer, n) else {
                    // EOF or an error: no more in this direction.
                    open[index] = false
                    shutdown(to, Int32(SHUT_WR))
                    if n < 0 { return }
                    continue
                }
            }
        }
    }

    private static func writeAll(_ fd: Int32, _ buffer: [UInt8], _ count: Int) -> Bool {
        var done = 0
        while done < count {
            // MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE for the process.
            let n = buffer.withUnsafeBytes { send(fd, $0.baseAddress! + done, count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}
