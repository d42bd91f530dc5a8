import Foundation

/// Who berth runs as, for the defaults that differ between root and other users (the local
/// store, the signature lookaside): root is uid 0 in the initial user namespace. Rootless berth
/// runs as uid 0 inside a user namespace of its own and keeps its user's defaults.
public enum HostUser {
    public static var isRoot: Bool { geteuid() == 0 && !inUserNamespace }

    /// Whether this process's user namespace maps ids (the initial one maps all of them to themselves).
    public static var inUserNamespace: Bool {
        guard let map = try? String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8) else { return false }
        let fields = map.split(whereSeparator: \.isWhitespace)
        return !(fields.count == 3 && fields[0] == "0" && fields[1] == "0" && fields[2] == "4294967295")
    }
}
