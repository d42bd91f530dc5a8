/// `--restart`, with podman's and docker's meanings: never after a user's `stop` or `kill`.
public enum RestartPolicy: Equatable, Sendable, CustomStringConvertible {
    case no
    case always
    case unlessStopped
    /// Restart after a non-zero exit, at most `maximum` times (nil: without a limit).
    case onFailure(maximum: Int?)

    public init(parsing text: String) throws(RuntimeError) {
        switch text {
        case "", "no": self = .no
        case "always": self = .always
        case "unless-stopped": self = .unlessStopped
        case "on-failure": self = .onFailure(maximum: nil)
        default:
            guard text.hasPrefix("on-failure:"), let count = Int(text.dropFirst("on-failure:".count)), count >= 0 else {
                throw .invalidArgument("invalid --restart '\(text.prefix(100))' (no, on-failure[:N], always, unless-stopped)")
            }
            self = .onFailure(maximum: count)
        }
    }

    public var description: String {
        switch self {
        case .no: "no"
        case .always: "always"
        case .unlessStopped: "unless-stopped"
        case .onFailure(let maximum): maximum.map { "on-failure:\($0)" } ?? "on-failure"
        }
    }

    /// Whether a container that exited with `status`, restarted `restarts` times so far, runs again.
    func restarts(after status: Int32, restarts: Int) -> Bool {
        switch self {
        case .no: false
        case .always, .unlessStopped: true
        case .onFailure(let maximum): status != 0 && restarts < (maximum ?? Int.max)
        }
    }

    /// docker's backoff: 100 ms, doubling for each restart in a row of short runs (`streak`
    /// counts them; a run of 10 s or more ends the streak), at most a minute.
    static func backoff(streak: Int) -> Duration {
        min(.milliseconds(100) * (1 << min(streak, 10)), .seconds(60))
    }
}
