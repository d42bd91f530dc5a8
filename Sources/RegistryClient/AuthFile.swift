import CLinuxIO
import Foundation
import OCI

/// Credentials stored the way podman, skopeo and docker store them (containers-auth.json(5)):
/// `{"auths": {"<host[/namespace]>": {"auth": base64("user:pass")}}, "credHelpers": {…}, "credsStore": …}`.
public struct AuthFile: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The files read, in containers-auth.json(5)'s order; `explicit` (`--authfile`) replaces them all.
    public static func searchPath(explicit: String?, environment: [String: String]) -> [AuthFile] {
        if let explicit { return [AuthFile(path: explicit)] }
        var paths: [String] = []
        if let file = environment["REGISTRY_AUTH_FILE"], !file.isEmpty { paths.append(file) }
        paths.append(runtimeAuthFile(environment))
        let home = environment["HOME"] ?? NSHomeDirectory()
        paths.append("\(environment["XDG_CONFIG_HOME"] ?? "\(home)/.config")/containers/auth.json")
        paths.append("\(home)/.docker/config.json")
        return paths.map(AuthFile.init(path:))
    }

    /// The file `login` writes and `logout` edits: `--authfile`, `$REGISTRY_AUTH_FILE`, else podman's
    /// `${XDG_RUNTIME_DIR}/containers/auth.json`.
    public static func writable(explicit: String?, environment: [String: String]) -> AuthFile {
        if let explicit { return AuthFile(path: explicit) }
        if let file = environment["REGISTRY_AUTH_FILE"], !file.isEmpty { return AuthFile(path: file) }
        return AuthFile(path: runtimeAuthFile(environment))
    }

    private static func runtimeAuthFile(_ environment: [String: String]) -> String {
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return "\(runtime)/containers/auth.json" }
        return "/run/containers/\(getuid())/auth.json"
    }

    /// The first credentials any file in `files` has for `repository` on `registry`.
    /// Credential helpers are looked up on `environment`'s PATH.
    public static func credentials(
        in files: [AuthFile], registry: String, repository: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> Credentials? {
        for file in files {
            if let found = try await file.credentials(registry: registry, repository: repository, environment: environment) { return found }
        }
        return nil
    }

    /// Lookup keys from the most specific (`host/ns/repo`) to the host itself; Docker Hub also
    /// answers to the keys docker writes for it.
    static func keys(registry: String, repository: String?) -> [String] {
        var keys: [String] = []
        if let repository {
            var components = repository.split(separator: "/").map(String.init)
            while !components.isEmpty {
                keys.append("\(registry)/\(components.joined(separator: "/"))")
                components.removeLast()
            }
        }
        keys.append(registry)
        if registry == "docker.io" { keys += ["index.docker.io", "registry-1.docker.io"] }
        return keys
    }

    /// A key as written by docker (`https://index.docker.io/v1/`) reduced to what podman writes.
    static func normalize(_ key: String) -> String {
        guard let scheme = key.range(of: "://") else { return key }
        return String(key[scheme.upperBound...].split(separator: "/", maxSplits: 1).first ?? "")
    }

    func credentials(registry: String, repository: String?, environment: [String: String]) async throws -> Credentials? {
        guard let document = try read() else { return nil }
        if let helpers = document["credHelpers"] as? [String: String], let helper = helpers[registry] {
            return try await CredentialHelper(name: helper, environment: environment).get(registry)
        }
        if let auths = document["auths"] as? [String: Any] {
            let normalized = Dictionary(auths.map { (Self.normalize($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
            for key in Self.keys(registry: registry, repository: repository) {
                guard let entry = normalized[key] as? [String: Any], let auth = entry["auth"] as? String, !auth.isEmpty else { continue }
                guard let decoded = Data(base64Encoded: auth).map({ String(decoding: $0, as: UTF8.self) }),
                    let colon = decoded.firstIndex(of: ":")
                else { throw AuthFileError.invalid(path, "the entry for \(key) is not base64 of user:password") }
                return Credentials(username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]))
            }
        }
        if let store = document["credsStore"] as? String, !store.isEmpty {
            return try await CredentialHelper(name: store, environment: environment).get(registry)
        }
        return nil
    }

    /// Records `credentials` under `key`, keeping everything else in the file.
    public func store(_ credentials: Credentials, for key: String) throws {
        var document = try read() ?? [:]
        var auths = document["auths"] as? [String: Any] ?? [:]
        auths[key] = ["auth": Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()]
        document["auths"] = auths
        try write(document)
    }

    /// Removes the entry for `key` (or every entry); false when there was none.
    public func remove(_ key: String?) throws -> Bool {
        guard var document = try read() else { return false }
        var auths = document["auths"] as? [String: Any] ?? [:]
        let existed: Bool
        if let key {
            existed = auths.removeValue(forKey: key) != nil
        } else {
            existed = !auths.isEmpty
            auths = [:]
        }
        document["auths"] = auths
        try write(document)
        return existed
    }

    private func read() throws -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x09 }) { return [:] }
        guard let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw AuthFileError.invalid(path, "not a JSON object")
        }
        return document
    }

    /// Tab-indented like podman's, written to a temporary file and renamed, readable only by its owner.
    private func write(_ document: [String: Any]) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let compact = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
            let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString)")
            guard FileManager.default.createFile(
                atPath: temporary.path, contents: Data((JSONText.indented(compact, indent: "\t") + "\n").utf8),
                attributes: [.posixPermissions: 0o600])
            else { throw AuthFileError.invalid(path, "cannot write \(temporary.path)") }
            if rename(temporary.path, path) != 0 {
                unlink(temporary.path)
                throw AuthFileError.invalid(path, String(cString: strerror(errno)))
            }
        } catch let error as AuthFileError {
            throw error
        } catch {
            throw AuthFileError.invalid(path, "\(error)")
        }
    }
}

public enum AuthFileError: Error, CustomStringConvertible {
    case invalid(String, String)
    case helper(String, String)

    public var description: String {
        switch self {
        case .invalid(let path, let why): "auth file \(path): \(why)"
        case .helper(let name, let why): "credential helper docker-credential-\(name): \(why)"
        }
    }
}

/// `docker-credential-<name> get`: the server on stdin, `{"Username": …, "Secret": …}` on stdout.
struct CredentialHelper {
    let name: String
    let environment: [String: String]

    func get(_ server: String) async throws -> Credentials? {
        let (name, environment) = (name, environment)
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Self.run(name, server, environment) })
            }
        }
    }

    /// Runs the helper through `clinuxio_spawn_with` (every other descriptor closed in the
    /// child) rather than Foundation's `Process`, whose `run()` crashed in a process holding
    /// about 1,360 descriptors (the test suite's) and whose pipes other children inherit.
    private static func run(_ name: String, _ server: String, _ environment: [String: String]) throws -> Credentials? {
        let (status, data) = try exchange(name, input: Array(server.utf8), environment: environment)
        let text = String(decoding: data, as: UTF8.self)
        if status != 0 {
            if text.contains("credentials not found") { return nil }
            if status == 127 { throw AuthFileError.helper(name, "not installed") }
            throw AuthFileError.helper(name, "exited with \(status)")
        }
        struct Answer: Decodable {
            let Username: String
            let Secret: String
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(data)) else {
            throw AuthFileError.helper(name, "answered something other than {Username, Secret}")
        }
        return Credentials(username: answer.Username, password: answer.Secret)
    }
}

extension CredentialHelper {
    /// `/usr/bin/env docker-credential-<name> get` with `input` on its stdin; its exit status
    /// (128 + the signal when killed) and stdout. Socket pairs rather than pipes: close-on-exec
    /// from the start, and `send` with `MSG_NOSIGNAL` to a helper that exited without reading
    /// (one not installed) fails with EPIPE instead of raising SIGPIPE, which would end this
    /// whole process without a word.
    static func exchange(_ name: String, input: [UInt8], environment: [String: String]) throws -> (status: Int32, output: [UInt8]) {
        var stdin: [Int32] = [-1, -1], stdout: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &stdin) == 0 else { throw AuthFileError.helper(name, "cannot start: \(String(cString: strerror(errno)))") }
        guard socketpair(AF_UNIX, type, 0, &stdout) == 0 else {
            close(stdin[0]); close(stdin[1])
            throw AuthFileError.helper(name, "cannot start: \(String(cString: strerror(errno)))")
        }
        let words: [String] = ["/usr/bin/env", "docker-credential-\(name)", "get"]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: Int32 = 0
        let failure = argv.withUnsafeBufferPointer { argv in
            envp.withUnsafeBufferPointer { envp in
                clinuxio_spawn_with("/usr/bin/env", argv.baseAddress, envp.baseAddress, stdin[1], stdout[1], -1, 0, &pid)
            }
        }
        close(stdin[1])
        close(stdout[1])
        guard failure == 0 else {
            close(stdin[0]); close(stdout[0])
            throw AuthFileError.helper(name, "cannot start: \(String(cString: strerror(failure)))")
        }
        var sent = 0
        while sent < input.count {
            let n = input[sent...].withUnsafeBytes { send(stdin[0], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            sent += n
        }
        close(stdin[0])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = read(stdout[0], &buffer, buffer.count)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            output += buffer[..<n]
        }
        close(stdout[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
        let signal = status & 0x7f
        return (signal == 0 ? (status >> 8) & 0xff : 128 + signal, output)
    }
}
