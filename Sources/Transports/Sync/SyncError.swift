/// A sync that cannot start (bad arguments or YAML: exit 2) or an image that failed (exit 1).
public enum SyncError: Error, CustomStringConvertible {
    case invalidConstraint(String, String)
    case invalidYAML(file: String, line: Int?, key: String, String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .invalidConstraint(let text, let why): "invalid semver constraint '\(text)': \(why)"
        case .invalidYAML(let file, let line, let key, let why):
            "\(file)\(line.map { ":\($0)" } ?? ""): \(key.isEmpty ? "" : "\(key): ")\(why)"
        case .invalidArgument(let why): why
        }
    }
}
