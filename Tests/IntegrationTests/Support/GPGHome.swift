import Foundation
import TestSupport

/// A throwaway GnuPG home with one generated key (gpg-agent's socket path must stay short, so
/// it lives directly under /tmp), removed with its agent by `cleanup`.
struct GPGHome {
    let path: String
    let fingerprint: String
    let gpg: String

    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["GNUPGHOME"] = path
        return environment
    }

    init(passphrase: String = "") async throws {
        gpg = try Interop.tool("gpg")
        path = "/tmp/berth-gpg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var environment = ProcessInfo.processInfo.environment
        environment["GNUPGHOME"] = path
        let made = try await Interop.run(
            gpg, ["--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase, "--quick-gen-key", "Berth Test <test@berth.invalid>", "default", "default", "never"],
            environment: environment)
        guard made.status == 0 else { throw TestFailure("gpg --quick-gen-key failed: \(made.stderr)") }
        let listing = try await Interop.run(gpg, ["--batch", "--with-colons", "--list-keys"], environment: environment)
        guard let line = listing.stdout.split(separator: "\n").first(where: { $0.hasPrefix("fpr:") }) else { throw TestFailure("no fingerprint") }
        fingerprint = String(line.split(separator: ":", omittingEmptySubsequences: false)[9])
    }

    /// The public key, exported to a file.
    func exportPublicKey() async throws -> String {
        let file = "\(path)/public.gpg"
        let exported = try await Interop.run("/bin/sh", ["-c", "'\(gpg)' --batch --export \(fingerprint) > '\(file)'"], environment: environment)
        guard exported.status == 0 else { throw TestFailure("gpg --export failed") }
        return file
    }

    /// Makes the key expire a second from now (the test then waits past it).
    func expireSoon() async throws {
        let changed = try await Interop.run(
            gpg, ["--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-set-expire", fingerprint, "seconds=1"], environment: environment)
        guard changed.status == 0 else { throw TestFailure("gpg --quick-set-expire failed: \(changed.stderr)") }
    }

    /// Imports the revocation certificate gpg wrote when it made the key.
    func revoke() async throws {
        let certificate = "\(path)/openpgp-revocs.d/\(fingerprint).rev"
        // gpg guards the certificate against accidental import with a leading ':'.
        let script = "sed 's/^:-----/-----/' '\(certificate)' | '\(gpg)' --batch --import"
        let imported = try await Interop.run("/bin/sh", ["-c", script], environment: environment)
        guard imported.status == 0 else { throw TestFailure("revocation import failed: \(imported.stderr)") }
    }

    /// The agent is stopped before its home goes (a stopping agent left running recreated its
    /// socket directory after the removal, and the home stayed behind).
    func cleanup() {
        _ = try? Spawn.run("/usr/bin/gpgconf", ["--homedir", path, "--kill", "gpg-agent"], environment: nil, timeout: .seconds(30))
        try? FileManager.default.removeItem(atPath: path)
    }
}

extension GPGHome {
    /// skopeo's verdicts under a policy that requires this key's signature for `host`: whether
    /// `accepted` copies and `rejected` does not (each into a fresh dir under `scratch`).
    /// A policy file requiring this key's signature for `host` (identities remapped when asked).
    func signedByPolicy(host: String, remap: (prefix: String, signedPrefix: String)? = nil, scratch: BerthCommand) async throws -> String {
        let policy = scratch.path("policy-\(UUID().uuidString.prefix(6)).json")
        let key = try await exportPublicKey()
        let identity = remap.map { #", "signedIdentity": {"type": "remapIdentity", "prefix": "\#($0.prefix)", "signedPrefix": "\#($0.signedPrefix)"}"# } ?? ""
        try Data(
            """
            {"default": [{"type": "reject"}],
             "transports": {"docker": {"\(host)": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "\(key)"\(identity)}]}}}
            """.utf8
        ).write(to: URL(fileURLWithPath: policy))
        return policy
    }

    /// skopeo's verdicts under `signedByPolicy`: whether `accepted` copies and `rejected` does not.
    func skopeoPolicyVerdicts(host: String, accepted: String, rejected: String, scratch: BerthCommand) async throws -> (accepted: Interop.Output, rejected: Interop.Output) {
        let skopeo = try Interop.tool("skopeo")
        let policy = try await signedByPolicy(host: host, scratch: scratch)
        func copy(_ image: String) async throws -> Interop.Output {
            try await Interop.run(
                skopeo, ["--policy", policy, "copy", "--src-tls-verify=false", image, "dir:\(scratch.path("verdict-\(UUID().uuidString.prefix(6))"))"],
                environment: environment)
        }
        return (try await copy(accepted), try await copy(rejected))
    }
}
