/// What `berth run` was asked for, beyond the image.
public struct RunOptions: Sendable {
    public enum Network: String, Sendable { case none, host }

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

    public init() {}
}
