import Foundation

/// The files podman and docker write for every container and bind-mount over the image's:
/// `/etc/hostname`; `/etc/hosts`, where the container's host name resolves to its own address
/// (programs that look up their own host, Java's and Erlang's among them, fail without it) and
/// `localhost` resolves whatever the image ships; and with slirp4netns `/etc/resolv.conf`. They
/// live in the bundle beside `rootfs`, where `RuntimeSpec` mounts them from.
enum ContainerFiles {
    static let hostname = "hostname"
    static let hosts = "hosts"
    static let resolvConf = "resolv.conf"

    /// `/etc/hosts` for a container named `name` with host name `hostname` on `network`: the
    /// loopback names (with the host's network, the host's own file instead) and the container's
    /// address — loopback unless slirp4netns gives it one, with podman's `host.containers.internal`
    /// where the host is reachable.
    static func hosts(network: RunOptions.Network, hostname: String, name: String?, hostFile: String = "/etc/hosts") -> String {
        var text = "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        var own = "127.0.0.1"
        switch network {
        case .host:
            text = (try? String(contentsOfFile: hostFile, encoding: .utf8)) ?? ""
            if !text.isEmpty, !text.hasSuffix("\n") { text += "\n" }
        case .none: break
        case .slirp(let slirp):
            own = SlirpNetwork.containerAddress
            if slirp.allowHostLoopback { text += "\(SlirpNetwork.gatewayAddress)\thost.containers.internal\n" }
        }
        let names = [hostname] + (name.map { $0 == hostname ? [] : [$0] } ?? [])
        return text + "\(own)\t\(names.joined(separator: " "))\n"
    }

    /// Writes what `spec` mounts from `bundle` for a container named `name` on `network`.
    static func write(bundle: String, spec: RuntimeSpec, network: RunOptions.Network, name: String?) throws {
        func put(_ file: String, _ text: String) throws { try writeContainerFile("\(bundle)/\(file)", Data(text.utf8)) }
        try put(hostname, spec.hostname + "\n")
        try put(hosts, Self.hosts(network: network, hostname: spec.hostname, name: name))
        if case .slirp = network { try put(resolvConf, SlirpNetwork.resolvConf) }
    }
}
