import Foundation
import Synchronization
import Transports

/// registries.conf, read once per command: `sync` resolves access for every image it copies, and
/// `pull`/`run` resolve a short name before pulling it; each would otherwise read the files again.
enum RegistriesConfFile {
    private static let loaded = Mutex<[String: RegistriesConf]>([:])

    /// The configuration for `--registries-conf` (nil: the file podman would read), as one CLI line on error.
    static func load(explicit: String?) throws -> RegistriesConf {
        let key = explicit ?? ""
        if let known = loaded.withLock({ $0[key] }) { return known }
        let conf: RegistriesConf
        do { conf = try RegistriesConf.load(explicit: explicit, environment: ProcessInfo.processInfo.environment) } catch {
            throw CLIError(error.description)
        }
        loaded.withLock { $0[key] = conf }
        return conf
    }
}
