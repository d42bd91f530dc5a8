import ArgumentParser
import Foundation
import OCI
import Signing

struct StandaloneSign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "standalone-sign", abstract: "Create a signature using local files",
        discussion: """
            Sign MANIFEST as DOCKER-REFERENCE with the GPG key KEY-FINGERPRINT (from $GNUPGHOME) and write \
            the simple-signing signature (a binary OpenPGP message) to --output.

            Example: berth standalone-sign manifest.json 127.0.0.1:5000/team/app:v1 0123ABCD… --output app.sig
            """)

    @Argument(help: "MANIFEST") var manifest: String
    @Argument(help: "DOCKER-REFERENCE") var reference: String
    @Argument(help: "KEY-FINGERPRINT") var fingerprint: String
    @Option(name: [.short, .customLong("output")], help: "output the signature to SIGNATURE") var output: String
    @Option(name: .customLong("passphrase-file"), help: "file that contains a passphrase for the --sign-by key") var passphraseFile: String?

    func run() throws {
        let signature = try SimpleSigning.sign(
            manifest: try readInput(manifest), dockerReference: reference, fingerprint: fingerprint, passphrase: try passphrase(passphraseFile))
        do { try Data(signature).write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
            throw CLIError("cannot write \(output): \(FileSystemFailure.reason(error))")
        }
    }
}

struct StandaloneVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "standalone-verify", abstract: "Verify a signature using local files",
        discussion: """
            Verify that SIGNATURE signs MANIFEST as DOCKER-REFERENCE with one of KEY-FINGERPRINTS \
            (comma-separated, or "any"), using $GNUPGHOME or --public-key-file.

            Example: berth standalone-verify manifest.json 127.0.0.1:5000/team/app:v1 0123ABCD… app.sig
            """)

    @Argument(help: "MANIFEST") var manifest: String
    @Argument(help: "DOCKER-REFERENCE") var reference: String
    @Argument(help: "KEY-FINGERPRINTS") var fingerprints: String
    @Argument(help: "SIGNATURE") var signature: String
    @Option(name: .customLong("public-key-file"), help: "File containing public keys. If not specified, will use local GPG keys.") var publicKeyFile: String?

    func run() throws {
        let accepted = fingerprints == "any" ? nil : fingerprints.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if fingerprints == "any", publicKeyFile == nil { throw CLIError("\"any\" key fingerprints require --public-key-file") }
        let (payload, fingerprint) = try SimpleSigning.verify(
            signature: try readInput(signature), manifest: try readInput(manifest), dockerReference: reference, acceptedFingerprints: accepted,
            publicKeys: try publicKeyFile.map { [try readInput($0)] })
        print("Signature verified using fingerprint \(fingerprint), digest \(payload.manifestDigest)")
    }
}

func readInput(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("\(path): cannot read") }
    return Array(data)
}

/// The first line of a passphrase file, as skopeo reads it.
func passphrase(_ file: String?) throws -> String? {
    guard let file else { return nil }
    let text = String(decoding: try readInput(file), as: UTF8.self)
    return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
}
