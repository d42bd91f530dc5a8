import ArgumentParser
import Foundation
import Signing

struct GenerateSigstoreKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate-sigstore-key", abstract: "Generate a sigstore public/private key pair",
        discussion: """
            Writes PREFIX.private (an encrypted ECDSA P-256 key in cosign's format, readable only by \
            you) and PREFIX.pub. The passphrase comes from --passphrase-file, else from the terminal.

            Example: berth generate-sigstore-key --output-prefix mykey
            """)

    @Option(name: .customLong("output-prefix"), help: "Write the keys to PREFIX.pub and PREFIX.private") var prefix: String
    @Option(name: .customLong("passphrase-file"), help: "Read a passphrase for the private key from PATH") var passphraseFile: String?

    func run() throws {
        let privatePath = "\(prefix).private"
        let publicPath = "\(prefix).pub"
        for path in [privatePath, publicPath] where FileManager.default.fileExists(atPath: path) {
            throw CLIError("refusing to overwrite \(path)")
        }
        let secret: String
        if let file = try passphrase(passphraseFile) {
            secret = file
        } else {
            secret = try Prompt.password("Enter a passphrase: ")
            guard try Prompt.password("Enter the same passphrase again: ") == secret else { throw CLIError("the passphrases do not match") }
        }
        let (privateKey, publicKey) = try SigstoreKeys.generate(passphrase: secret)
        guard FileManager.default.createFile(atPath: privatePath, contents: Data(privateKey.utf8), attributes: [.posixPermissions: 0o600]),
            FileManager.default.createFile(atPath: publicPath, contents: Data(publicKey.utf8), attributes: [.posixPermissions: 0o644])
        else { throw CLIError("cannot write \(privatePath) and \(publicPath)") }
        print("Key written to \"\(privatePath)\" and \"\(publicPath)\"")
    }
}
