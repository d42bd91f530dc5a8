import Foundation
import OCI
import Testing

/// `standalone-sign`/`standalone-verify` against skopeo's, with keys generated for the test.
@Suite(.enabled(if: Interop.enabled("skopeo") && Interop.enabled("gpg"), "skopeo or gpg is not installed"))
struct StandaloneSigningTests {
    func manifestFile(_ berth: BerthCommand) throws -> (path: String, tampered: String) {
        let manifest = Fixtures.image().manifest
        let path = berth.path("manifest.json")
        try Data(manifest).write(to: URL(fileURLWithPath: path))
        let tampered = berth.path("tampered.json")
        try Data(manifest + Array(" ".utf8)).write(to: URL(fileURLWithPath: tampered))
        return (path, tampered)
    }

    @Test func signaturesVerifyAcrossBerthAndSkopeo() async throws {
        let skopeo = try Interop.tool("skopeo")
        let home = try await GPGHome()
        defer { home.cleanup() }
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let (manifest, tampered) = try manifestFile(berth)
        let reference = "127.0.0.1:5000/team/app:v1"
        let ours = berth.path("berth.sig")
        let theirs = berth.path("skopeo.sig")
        let env = home.environment.merging(berth.environment) { _, berthValue in berthValue }.merging(["GNUPGHOME": home.path]) { $1 }
        let signed = try await Interop.run(Interop.berthBinary, ["standalone-sign", manifest, reference, home.fingerprint, "--output", ours], environment: env)
        #expect(signed.status == 0, "\(signed.stderr)")
        let skopeoSigned = try await Interop.run(skopeo, ["standalone-sign", manifest, reference, home.fingerprint, "-o", theirs], environment: env)
        #expect(skopeoSigned.status == 0, "\(skopeoSigned.stderr)")

        for signature in [ours, theirs] {
            let skopeoVerifies = try await Interop.run(skopeo, ["standalone-verify", manifest, reference, home.fingerprint, signature], environment: env)
            #expect(skopeoVerifies.status == 0, "\(signature): \(skopeoVerifies.stderr)")
            let berthVerifies = try await Interop.run(Interop.berthBinary, ["standalone-verify", manifest, reference, home.fingerprint, signature], environment: env)
            let digest = Digest.of(try readFile(manifest)).description
            #expect(berthVerifies.status == 0 && berthVerifies.stdout.contains(digest), "\(berthVerifies.stderr)")
            for (arguments, message) in [
                (["standalone-verify", tampered, reference, home.fingerprint, signature], "does not match"),
                (["standalone-verify", manifest, "127.0.0.1:5000/team/app:v2", home.fingerprint, signature], "does not match"),
                (["standalone-verify", manifest, reference, "0123456789ABCDEF", signature], "not one of the accepted keys"),
                (["standalone-verify", manifest, reference, home.fingerprint, manifest], "GPG"),
            ] {
                let refused = try await Interop.run(Interop.berthBinary, arguments, environment: env)
                #expect(refused.status == 1 && refused.stderr.hasPrefix("berth: ") && refused.stderr.contains(message), "\(arguments): \(refused.stderr)")
                let skopeoRefuses = try await Interop.run(skopeo, arguments, environment: env)
                #expect(skopeoRefuses.status != 0, "skopeo \(arguments)")
            }
        }
        // With only the public key and no keyring at all.
        let publicKey = try await home.exportPublicKey()
        let empty = berth.path("empty-gnupg")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let keyOnly = try await Interop.run(
            Interop.berthBinary, ["standalone-verify", "--public-key-file", publicKey, manifest, reference, "any", ours],
            environment: env.merging(["GNUPGHOME": empty]) { $1 })
        #expect(keyOnly.status == 0, "\(keyOnly.stderr)")
    }

    @Test func unknownExpiredAndRevokedKeysAreRefused() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let (manifest, _) = try manifestFile(berth)
        let reference = "127.0.0.1:5000/team/app:v1"
        let expiring = try await GPGHome()
        defer { expiring.cleanup() }
        let revoked = try await GPGHome()
        defer { revoked.cleanup() }
        func berthRun(_ home: GPGHome, _ arguments: [String]) async throws -> Interop.Output {
            try await Interop.run(Interop.berthBinary, arguments, environment: berth.environment.merging(["GNUPGHOME": home.path]) { $1 })
        }
        let unknown = try await berthRun(revoked, ["standalone-sign", manifest, reference, "0123456789ABCDEF0123456789ABCDEF01234567", "--output", berth.path("u.sig")])
        #expect(unknown.status == 1 && unknown.stderr.hasPrefix("berth: ") && unknown.stderr.split(separator: "\n").count == 1, "\(unknown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: berth.path("u.sig")))

        for home in [expiring, revoked] {
            let signed = try await berthRun(home, ["standalone-sign", manifest, reference, home.fingerprint, "--output", berth.path("\(home.fingerprint).sig")])
            #expect(signed.status == 0, "\(signed.stderr)")
        }
        try await revoked.revoke()
        try await expiring.expireSoon()
        try await Task.sleep(for: .seconds(2))
        for (home, why) in [(expiring, "expired"), (revoked, "revoked")] {
            let verified = try await berthRun(home, ["standalone-verify", manifest, reference, home.fingerprint, berth.path("\(home.fingerprint).sig")])
            #expect(verified.status == 1 && verified.stderr.lowercased().contains(why) && verified.stderr.split(separator: "\n").count == 1, "\(verified.stderr)")
            let skopeo = try await Interop.run(
                try Interop.tool("skopeo"), ["standalone-verify", manifest, reference, home.fingerprint, berth.path("\(home.fingerprint).sig")],
                environment: home.environment)
            #expect(skopeo.status != 0, "skopeo accepted \(home.fingerprint)")
        }
        // An expired key cannot sign any more.
        let late = try await berthRun(expiring, ["standalone-sign", manifest, reference, expiring.fingerprint, "--output", berth.path("late.sig")])
        #expect(late.status == 1 && !FileManager.default.fileExists(atPath: berth.path("late.sig")), "\(late.stderr)")
    }

    @Test func aPassphraseIsReadFromItsFile() async throws {
        let home = try await GPGHome(passphrase: "correct horse")
        defer { home.cleanup() }
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let (manifest, _) = try manifestFile(berth)
        let env = berth.environment.merging(["GNUPGHOME": home.path]) { $1 }
        let right = berth.path("right")
        let wrong = berth.path("wrong")
        try Data("correct horse\nignored second line\n".utf8).write(to: URL(fileURLWithPath: right))
        try Data("battery staple\n".utf8).write(to: URL(fileURLWithPath: wrong))
        let refused = try await Interop.run(
            Interop.berthBinary, ["standalone-sign", "--passphrase-file", wrong, manifest, "a/b:c", home.fingerprint, "-o", berth.path("x.sig")], environment: env)
        #expect(refused.status == 1 && refused.stderr.hasPrefix("berth: GPG") && refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: berth.path("x.sig")))
        let signed = try await Interop.run(
            Interop.berthBinary, ["standalone-sign", "--passphrase-file", right, manifest, "a/b:c", home.fingerprint, "-o", berth.path("y.sig")], environment: env)
        #expect(signed.status == 0, "\(signed.stderr)")
        let verified = try await Interop.run(Interop.berthBinary, ["standalone-verify", manifest, "docker.io/a/b:c", home.fingerprint, berth.path("y.sig")], environment: env)
        #expect(verified.status == 0, "\(verified.stderr)")
    }

    func readFile(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
}
