/// An image configuration (the OCI image-spec's `config.md`; Docker's config shares these fields).
/// Decoding keeps only the OCI fields, which is what "the config in OCI form" means.
public struct ImageConfig: Codable, Hashable, Sendable {
    public var created: String?
    public var author: String?
    public var architecture: String?
    public var os: String?
    public var osVersion: String?
    public var osFeatures: [String]?
    public var variant: String?
    public var config: Execution?
    public var rootfs: RootFS?
    public var history: [History]?

    enum CodingKeys: String, CodingKey {
        case created, author, architecture, os
        case osVersion = "os.version"
        case osFeatures = "os.features"
        case variant, config, rootfs, history
    }

    /// The defaults a container starts with (`config` in the image config).
    public struct Execution: Codable, Hashable, Sendable {
        public var user: String?
        public var exposedPorts: [String: Empty]?
        public var env: [String]?
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var volumes: [String: Empty]?
        public var workingDir: String?
        public var labels: [String: String]?
        public var stopSignal: String?
        public var argsEscaped: Bool?

        enum CodingKeys: String, CodingKey {
            case user = "User", exposedPorts = "ExposedPorts", env = "Env", entrypoint = "Entrypoint", cmd = "Cmd"
            case volumes = "Volumes", workingDir = "WorkingDir", labels = "Labels", stopSignal = "StopSignal"
            case argsEscaped = "ArgsEscaped"
        }
    }

    /// `{}`: the value type of the config's port and volume sets.
    public struct Empty: Codable, Hashable, Sendable {
        public init() {}
    }

    public struct RootFS: Codable, Hashable, Sendable {
        public var type: String
        public var diffIDs: [Digest]

        enum CodingKeys: String, CodingKey {
            case type
            case diffIDs = "diff_ids"
        }
    }

    public struct History: Codable, Hashable, Sendable {
        public var created: String?
        public var createdBy: String?
        public var author: String?
        public var comment: String?
        public var emptyLayer: Bool?

        enum CodingKeys: String, CodingKey {
            case created, author, comment
            case createdBy = "created_by"
            case emptyLayer = "empty_layer"
        }
    }
}

/// The one Docker-only field `skopeo inspect` reports.
public struct DockerConfigExtras: Decodable, Sendable {
    public var dockerVersion: String?

    enum CodingKeys: String, CodingKey {
        case dockerVersion = "docker_version"
    }
}
