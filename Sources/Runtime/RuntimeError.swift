// Runtime: runs images locally — the local image store, layer unpacking into a bundle's rootfs,
// the OCI runtime spec (config.json) built from the image config and flags, and the OCI
// runtime (crun or runc) that runs it.

/// A failed local-run operation, with what and where, for one clear line.
public enum RuntimeError: Error, CustomStringConvertible {
    /// A layer that cannot be applied safely or correctly (names the layer and entry).
    case badLayer(layer: String, entry: String, String)
    case notFound(String)
    /// The container runs, and the operation needs it stopped (podman's "container state improper").
    case running(String)
    case invalidArgument(String)
    case io(String, String)
    case runtime(String)

    public var description: String {
        switch self {
        case .badLayer(let layer, let entry, let why): "layer \(layer): \(entry.isEmpty ? "" : "entry '\(entry.prefix(200))': ")\(why)"
        case .notFound(let what): what
        case .running(let why): why
        case .invalidArgument(let why): why
        case .io(let path, let why): "\(path): \(why)"
        case .runtime(let why): why
        }
    }
}
