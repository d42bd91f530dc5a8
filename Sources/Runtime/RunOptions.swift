/// What `berth run` was asked for, beyond the image.
public struct RunOptions: Sendable {
    public enum Network: Sendable, Equatable {
        /// A network namespace with loopback only.
        case none
        case host
        /// A namespace of its own connected through slirp4netns.
        case slirp(SlirpNetwork)

        /// `none`, `host`, `slirp4netns[:options]`.
        public init(parsing text: String) throws(RuntimeError) {
            switch text {
            case "none": self = .none
            case "host": self = .host
            default:
                guard let slirp = try SlirpNetwork(parsing: text) else {
                    throw .invalidArgument("unsupported --network '\(text.prefix(60))' (none, host, slirp4netns[:allow_host_loopback=true])")
                }
                self = .slirp(slirp)
            }
        }

        public var description: String {
            switch self {
            case .none: "none"
            case .host: "host"
            case .slirp(let slirp): slirp.description
            }
        }

        /// Whether the container has a network namespace of its own.
        var isPrivate: Bool { self != .host }
    }

    /// Replaces the image's command (podman: trailing arguments).
    public var command: [String] = []
    /// Replaces the image's entrypoint; `""` means none (podman's `--entrypoint ""`).
    public var entrypoint: String?
    public var environment: [String] = []
    public var workingDirectory: String?
    public var user: String?
    public var hostname: String?
    public var network: Network = .none
    public var readOnly = false
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var memoryLimit: Int64?
    /// CPUs as a fraction (`--cpus 1.5`).
    public var cpus: Double?
    public var pidsLimit: Int64?
    /// `host:container[:ro]` bind mounts.
    public var volumes: [String] = []
    public var terminal = false
    /// `--security-opt seccomp=…`: podman's default profile, none, or a profile file.
    public enum Seccomp: Sendable, Equatable {
        case standard
        case unconfined
        case profile(String)
    }
    public var seccomp = Seccomp.standard
    /// `--security-opt no-new-privileges` (podman's default leaves setuid programs working).
    public var noNewPrivileges = false
    /// `--privileged`: every capability, no seccomp filter, no masked or read-only paths, the
    /// host's devices.
    public var privileged = false
    /// `--init`: a static init (catatonit, tini) bind-mounted read-only as PID 1.
    public var initPath: String?

    /// Detached containers: `--restart`, `--log-opt max-size`, `--stop-signal`, `--stop-timeout`.
    public var restartPolicy = RestartPolicy.no
    public var logMaxSize: Int64?
    public var stopSignal: String?
    public var stopTimeout: Int?
    /// `-p` (host port 0: a free one), and `-P`'s exposed ports.
    public var ports: [PortMapping] = []
    /// `-P`: every port the image exposes, on a free host port of every address.
    public var publishExposed = false

    /// Where `--init` mounts the init in the container.
    static let initMountPoint = "/run/berth-init"

    public init() {}
}
