import ArgumentParser
import Foundation
import OCI
import RegistryClient

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Login to a container registry",
        discussion: """
            Login to a container registry on a specified server. The credentials are checked against \
            the registry and stored where podman stores them: --authfile, $REGISTRY_AUTH_FILE, else \
            ${XDG_RUNTIME_DIR}/containers/auth.json.

            Examples:
              berth login 127.0.0.1:5000 -u alice --password-stdin < password.txt
              berth login --get-login 127.0.0.1:5000
            """
    )

    @Argument(help: "REGISTRY") var registry: String
    @Option(name: [.short, .customLong("username")], help: "Username for registry") var username: String?
    @Option(name: [.short, .customLong("password")], help: "Password for registry") var password: String?
    @Flag(name: .customLong("password-stdin"), help: "Take the password from stdin") var passwordStdin = false
    @Option(help: "path of the authentication file") var authfile: String?
    @Option(name: .customLong("cert-dir"), help: ArgumentHelp("use certificates at PATH (*.crt, *.cert, *.key) to connect to the registry", valueName: "PATH"))
    var certDir: String?
    @Option(name: .customLong("tls-verify"), help: ArgumentHelp("require HTTPS and verify certificates when contacting registries", valueName: "bool"))
    var tlsVerify: Bool?
    @Flag(name: .customLong("get-login"), help: "Return the current login user for the registry") var getLogin = false
    @Flag(name: [.short, .customLong("verbose")], help: "Write more detailed information to stdout") var verbose = false

    func run() async throws {
        let (host, key) = try RegistryKey.parse(registry)
        let environment = ProcessInfo.processInfo.environment
        if getLogin {
            let files = AuthFile.searchPath(explicit: authfile, environment: environment)
            guard let found = try await AuthFile.credentials(in: files, registry: host, repository: key.repository) else {
                throw CLIError("not logged into \(key.text)")
            }
            print(found.username)
            return
        }
        if password != nil && passwordStdin { throw CLIError("--password and --password-stdin are mutually exclusive") }
        let user: String
        if let username {
            user = username
        } else {
            guard isatty(STDIN_FILENO) == 1, !passwordStdin else { throw CLIError("--username is required when the password comes from stdin") }
            Console.out("Username: ")
            user = readLine()?.trimmingCharacters(in: .whitespaces) ?? ""
        }
        guard !user.isEmpty else { throw CLIError("the username is empty") }
        let secret: String
        if let password {
            secret = password
        } else if passwordStdin {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
        } else {
            secret = try Prompt.password("Password: ")
        }
        let credentials = Credentials(username: user, password: secret)
        var options = ClientOptions()
        options.credentials = credentials
        options.tlsVerify = tlsVerify ?? true
        options.certDirectory = certDir
        options.retryTimes = 1
        do {
            try await RegistryClient(registry: host, options: options).ping()
        } catch let error as ClientError {
            if case .authentication = error { throw CLIError("logging into \(key.text): invalid username/password") }
            throw CLIError("logging into \(key.text): \(error)")
        }
        let file = AuthFile.writable(explicit: authfile, environment: environment)
        try file.store(credentials, for: key.text)
        if verbose { print("Used: \(file.path)") }
        print("Login Succeeded!")
    }
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "Logout of a container registry",
        discussion: """
            Remove the cached username and password for the registry.

            Examples:
              berth logout 127.0.0.1:5000
              berth logout --all
            """
    )

    @Argument(help: "REGISTRY") var registry: String?
    @Option(help: "path of the authentication file") var authfile: String?
    @Flag(name: [.short, .customLong("all")], help: "Remove the cached credentials for all registries in the auth file") var all = false

    func run() async throws {
        let file = AuthFile.writable(explicit: authfile, environment: ProcessInfo.processInfo.environment)
        if all {
            guard registry == nil else { throw CLIError("--all takes no registry") }
            _ = try file.remove(nil)
            print("Removed login credentials for all registries")
            return
        }
        guard let registry else { throw CLIError("a registry (or --all) is required") }
        let (_, key) = try RegistryKey.parse(registry)
        guard try file.remove(key.text) else { throw CLIError("not logged into \(key.text)") }
        print("Removed login credentials for \(key.text)")
    }
}

/// `REGISTRY[/namespace…]` as login takes it: the host to talk to and the auth file key.
enum RegistryKey {
    struct Key {
        let text: String
        let repository: String?
    }

    static func parse(_ argument: String) throws -> (host: String, key: Key) {
        var text = argument
        for scheme in ["https://", "http://", "docker://"] where text.hasPrefix(scheme) { text.removeFirst(scheme.count) }
        while text.hasSuffix("/") { text.removeLast() }
        guard !text.isEmpty else { throw CLIError("the registry is empty") }
        let parts = text.split(separator: "/", maxSplits: 1)
        let host = String(parts[0])
        guard !host.contains("@"), parts.count == 1 || !parts[1].contains(":") else {
            throw CLIError("\(argument): a registry or namespace, not an image with a tag or digest")
        }
        if parts.count == 2 {
            do { _ = try RepositoryName(parsing: parts[1]) } catch { throw CLIError("\(argument): invalid namespace: \(error)") }
        }
        let normalizedHost = host == "index.docker.io" || host == "registry-1.docker.io" ? "docker.io" : host
        let key = parts.count == 2 ? "\(normalizedHost)/\(parts[1])" : normalizedHost
        return (normalizedHost, Key(text: key, repository: parts.count == 2 ? String(parts[1]) : nil))
    }
}
