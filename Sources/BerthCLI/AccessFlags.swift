import ArgumentParser
import Foundation
import OCI
import RegistryClient
import Runtime
import Signing
import Transports

/// One side's registry access flags, whatever their prefix (`--src-`, `--dest-`, none).
struct AccessFlags {
    var creds: String?
    var username: String?
    var password: String?
    var authfile: String?
    var certDir: String?
    var tlsVerify: Bool?
    var noCreds = false
    var registryToken: String?
    var retryTimes: Int
    var retryDelay: String?
    /// `--registries-conf`: nil reads the file podman and skopeo would.
    var registriesConf: String?

    /// The client options for `name`: credentials from the flags, else the auth files.
    func resolve(for name: ImageName) async throws -> AccessOptions {
        var access = AccessOptions()
        // Read only for registries (as skopeo does): a layout copy works whatever the file says.
        if case .docker = name { access.registriesConf = try RegistriesConfFile.load(explicit: registriesConf) }
        access.client.tlsVerify = tlsVerify ?? true
        access.client.certDirectory = certDir
        access.client.registryToken = registryToken
        access.client.retryTimes = max(0, retryTimes)
        if let retryDelay {
            guard let seconds = Self.seconds(retryDelay) else { throw CLIError("invalid --retry-delay '\(retryDelay)' (e.g. 2s, 500ms)") }
            access.client.retryDelay = .milliseconds(Int64(seconds * 1000))
        }
        guard case .docker(let reference) = name, !noCreds, registryToken == nil else { return access }
        let files = AuthFile.searchPath(explicit: authfile, environment: ProcessInfo.processInfo.environment)
        if creds != nil, username != nil || password != nil {
            throw CLIError("--creds cannot be combined with --username/--password")
        }
        if let creds {
            guard let colon = creds.firstIndex(of: ":") else {
                access.client.credentials = Credentials(username: creds, password: try Prompt.password("Password: "))
                return access
            }
            guard colon != creds.startIndex else { throw CLIError("--creds: the username is empty") }
            access.client.credentials = Credentials(username: String(creds[..<colon]), password: String(creds[creds.index(after: colon)...]))
        } else if let username {
            access.client.credentials = Credentials(username: username, password: try password ?? Prompt.password("Password: "))
        } else if password != nil {
            throw CLIError("--password needs --username")
        } else {
            access.client.credentials = try await AuthFile.credentials(
                in: files, registry: reference.registry, repository: reference.repository.value)
        }
        access.credentialsForHost = { registry, repository in try await AuthFile.credentials(in: files, registry: registry, repository: repository) }
        return access
    }

    /// Go durations as skopeo takes them: `500ms`, `2s`, `1m`.
    static func seconds(_ text: String) -> Double? {
        for (suffix, scale) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return nil
    }
}

struct SourceAccess: ParsableArguments {
    @Option(name: .customLong("src-creds"), help: ArgumentHelp("Use USERNAME[:PASSWORD] for accessing the source registry", valueName: "USERNAME[:PASSWORD]"))
    var creds: String?
    @Option(name: .customLong("src-username"), help: "Username for accessing the source registry")
    var username: String?
    @Option(name: .customLong("src-password"), help: "Password for accessing the source registry")
    var password: String?
    @Option(name: .customLong("src-authfile"), help: "path of the authentication file for the source registry (default: the containers-auth.json search path)")
    var authfile: String?
    @Option(name: .customLong("src-cert-dir"), help: ArgumentHelp("use certificates at PATH (*.crt, *.cert, *.key) to connect to the source registry", valueName: "PATH"))
    var certDir: String?
    @Option(name: .customLong("src-tls-verify"), help: ArgumentHelp("require HTTPS and verify certificates when talking to the source registry (false also allows plain HTTP)", valueName: "bool"))
    var tlsVerify: Bool?
    @Flag(name: .customLong("src-no-creds"), help: "Access the source registry anonymously")
    var noCreds = false
    @Option(name: .customLong("src-registry-token"), help: "Provide a Bearer token for accessing the source registry")
    var registryToken: String?

    func flags(shared authfile: String?, retryTimes: Int, retryDelay: String?, registriesConf: String?) -> AccessFlags {
        AccessFlags(
            creds: creds, username: username, password: password, authfile: self.authfile ?? authfile, certDir: certDir,
            tlsVerify: tlsVerify, noCreds: noCreds, registryToken: registryToken, retryTimes: retryTimes, retryDelay: retryDelay,
            registriesConf: registriesConf)
    }
}

struct DestinationAccess: ParsableArguments {
    @Option(name: .customLong("dest-creds"), help: ArgumentHelp("Use USERNAME[:PASSWORD] for accessing the destination registry", valueName: "USERNAME[:PASSWORD]"))
    var creds: String?
    @Option(name: .customLong("dest-username"), help: "Username for accessing the destination registry")
    var username: String?
    @Option(name: .customLong("dest-password"), help: "Password for accessing the destination registry")
    var password: String?
    @Option(name: .customLong("dest-authfile"), help: "path of the authentication file for the destination registry (default: the containers-auth.json search path)")
    var authfile: String?
    @Option(name: .customLong("dest-cert-dir"), help: ArgumentHelp("use certificates at PATH (*.crt, *.cert, *.key) to connect to the destination registry", valueName: "PATH"))
    var certDir: String?
    @Option(name: .customLong("dest-tls-verify"), help: ArgumentHelp("require HTTPS and verify certificates when talking to the destination registry (false also allows plain HTTP)", valueName: "bool"))
    var tlsVerify: Bool?
    @Flag(name: .customLong("dest-no-creds"), help: "Access the destination registry anonymously")
    var noCreds = false
    @Option(name: .customLong("dest-registry-token"), help: "Provide a Bearer token for accessing the destination registry")
    var registryToken: String?

    func flags(shared authfile: String?, retryTimes: Int, retryDelay: String?, registriesConf: String?) -> AccessFlags {
        AccessFlags(
            creds: creds, username: username, password: password, authfile: self.authfile ?? authfile, certDir: certDir,
            tlsVerify: tlsVerify, noCreds: noCreds, registryToken: registryToken, retryTimes: retryTimes, retryDelay: retryDelay,
            registriesConf: registriesConf)
    }
}

/// The flags of single-image commands (inspect, list-tags, delete).
struct ImageAccess: ParsableArguments {
    @Option(help: "path of the authentication file (default: the containers-auth.json search path)")
    var authfile: String?
    @Option(help: ArgumentHelp("Use USERNAME[:PASSWORD] for accessing the registry", valueName: "USERNAME[:PASSWORD]"))
    var creds: String?
    @Option(help: "Username for accessing the registry")
    var username: String?
    @Option(help: "Password for accessing the registry")
    var password: String?
    @Option(name: .customLong("cert-dir"), help: ArgumentHelp("use certificates at PATH (*.crt, *.cert, *.key) to connect to the registry", valueName: "PATH"))
    var certDir: String?
    @Option(name: .customLong("tls-verify"), help: ArgumentHelp("require HTTPS and verify certificates when talking to the registry (false also allows plain HTTP)", valueName: "bool"))
    var tlsVerify: Bool?
    @Flag(name: .customLong("no-creds"), help: "Access the registry anonymously")
    var noCreds = false
    @Option(name: .customLong("registry-token"), help: "Provide a Bearer token for accessing the registry")
    var registryToken: String?
    @OptionGroup var retry: RetryFlags
    @Option(name: .customLong("registries-conf"), help: ArgumentHelp("read mirrors, insecure and blocked registries from FILE (default: the registries.conf podman reads)", valueName: "FILE"))
    var registriesConf: String?

    var flags: AccessFlags {
        AccessFlags(
            creds: creds, username: username, password: password, authfile: authfile, certDir: certDir, tlsVerify: tlsVerify,
            noCreds: noCreds, registryToken: registryToken, retryTimes: retry.times, retryDelay: retry.delay, registriesConf: registriesConf)
    }
}

struct RetryFlags: ParsableArguments {
    @Option(name: .customLong("retry-times"), help: "the number of times to possibly retry")
    var times = 3
    @Option(name: .customLong("retry-delay"), help: "Fixed delay between retries (default: exponential backoff)")
    var delay: String?
}

/// `--all` and `--multi-arch` as skopeo reads them, plus platform lists.
func parseSelection(all: Bool, multiArch: String?) throws -> CopyOptions.Selection {
    if all, multiArch != nil { throw CLIError("Cannot use --all and --multi-arch flags together") }
    if all { return .all }
    switch multiArch {
    case nil, "system": return .system
    case "all": return .all
    case "index-only": return .indexOnly
    case let list?:
        let platforms = list.split(separator: ",").map { Platform(parsing: $0.trimmingCharacters(in: .whitespaces)) }
        guard !platforms.isEmpty, platforms.allSatisfy({ $0 != nil }) else {
            throw CLIError("unknown --multi-arch value '\(list)' (system, all, index-only, or os/arch[/variant],…)")
        }
        return .platforms(platforms.compactMap { $0 })
    }
}

/// The platform flags skopeo takes globally.
struct PlatformFlags: ParsableArguments {
    @Option(name: .customLong("override-arch"), help: ArgumentHelp("use ARCH instead of the architecture of the machine for choosing images", valueName: "ARCH"))
    var arch: String?
    @Option(name: .customLong("override-os"), help: ArgumentHelp("use OS instead of the running OS for choosing images", valueName: "OS"))
    var os: String?
    @Option(name: .customLong("override-variant"), help: ArgumentHelp("use VARIANT instead of the running architecture variant for choosing images", valueName: "VARIANT"))
    var variant: String?

    var platform: Platform? {
        guard arch != nil || os != nil || variant != nil else { return nil }
        let current = Platform.current
        return Platform(architecture: arch ?? current.architecture, os: os ?? current.os, variant: variant ?? (arch == nil ? current.variant : nil))
    }
}

/// A transport name, with `local:NAME` for an image in Berth's local store (the `oci:` layout
/// under `$BERTH_ROOT/images`, entries named by full reference).
func parseName(_ text: String) throws -> ImageName {
    if text.hasPrefix("local:") {
        let name = String(text.dropFirst("local:".count))
        guard !name.isEmpty else { throw CLIError("invalid image name '\(text)': local: needs an image name") }
        let stored = (try? ImageReference(parsing: name)).map { $0.description } ?? name
        return LocalStore(root: LocalStore.defaultRoot()).image(stored)
    }
    do { return try ImageName(parsing: text) } catch { throw CLIError(error.description) }
}

enum Prompt {
    /// Reads a password from the terminal without echo; refuses when stdin is not a terminal.
    static func password(_ prompt: String) throws -> String {
        guard isatty(STDIN_FILENO) == 1, let entered = getpass(prompt) else {
            throw CLIError("a password is needed and stdin is not a terminal (use --password-stdin or USER:PASS)")
        }
        return String(cString: entered)
    }
}

/// skopeo's simple-signing flags of copy and sync.
struct SigningFlags: ParsableArguments {
    @Option(name: .customLong("sign-by"), help: ArgumentHelp("Sign the image using a GPG key with the specified FINGERPRINT", valueName: "FINGERPRINT"))
    var fingerprint: String?
    @Option(name: .customLong("sign-passphrase-file"), help: "Read a passphrase for signing an image from PATH")
    var passphraseFile: String?
    @Option(name: .customLong("sign-identity"), help: ArgumentHelp("Identity of signed image, must be a fully specified docker reference", valueName: "REFERENCE"))
    var identity: String?

    @Option(name: .customLong("sign-by-sigstore-private-key"), help: ArgumentHelp("Sign the image using a sigstore private key at PATH", valueName: "PATH"))
    var sigstoreKey: String?

    func apply(to options: inout CopyOptions) throws {
        if fingerprint == nil, sigstoreKey == nil, passphraseFile != nil || identity != nil {
            throw CLIError("--sign-passphrase-file and --sign-identity need --sign-by or --sign-by-sigstore-private-key")
        }
        options.signBy = fingerprint
        options.signPassphrase = try passphrase(passphraseFile)
        if let sigstoreKey {
            let pem = String(decoding: try readInput(sigstoreKey), as: UTF8.self)
            let key = try SigstoreKeys.decrypt(pem: pem, passphrase: try options.signPassphrase ?? Prompt.password("Passphrase for \(sigstoreKey): "))
            options.sigstoreSigner = { manifest, identity in try SigstoreKeys.sign(manifest: manifest, identity: identity, key: key) }
        }
        if let identity {
            do { options.signIdentity = try ImageReference(parsing: identity) } catch { throw CLIError("--sign-identity: \(error.description)") }
        }
    }
}

/// `--policy` and `--insecure-policy`, as skopeo's global flags.
struct PolicyFlags: ParsableArguments {
    @Option(name: .customLong("policy"), help: ArgumentHelp("Path to a trust policy file (default: ~/.config/containers/policy.json, else /etc/containers/policy.json)", valueName: "PATH"))
    var path: String?
    @Flag(name: .customLong("insecure-policy"), help: "run the tool without any policy check")
    var insecure = false

    /// The policy to enforce; nil with --insecure-policy or when no policy file exists.
    func load() throws -> Policy? {
        if insecure {
            guard path == nil else { throw CLIError("--policy and --insecure-policy are mutually exclusive") }
            return nil
        }
        guard let file = path ?? Policy.defaultPath(environment: ProcessInfo.processInfo.environment) else { return nil }
        do { return try Policy(file: file) } catch { throw CLIError(error.description) }
    }
}

/// `--registries.d`, as skopeo's global flag: where lookaside storage and sigstore attachments
/// are configured.
struct RegistriesDFlag: ParsableArguments {
    @Option(name: .customLong("registries.d"), help: ArgumentHelp("use registry configuration files in DIR (e.g. for lookaside signature storage)", valueName: "DIR"))
    var directory: String?

    func load() throws -> RegistriesD {
        do { return try RegistriesD(directory: directory ?? RegistriesD.defaultDirectory()) } catch { throw CLIError(error.description) }
    }
}
