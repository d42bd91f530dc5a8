import Crypto
import CryptoExtras
import Foundation
import OCI

/// cosign's key files: an ECDSA P-256 PKCS#8 key encrypted with scrypt and NaCl secretbox inside
/// a PEM block (`ENCRYPTED COSIGN PRIVATE KEY`, or `ENCRYPTED SIGSTORE PRIVATE KEY` from newer
/// cosign), and signatures made with it in containers/image's `sigstore-json` form.
public enum SigstoreKeys {
    static let labels = ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"]
    static let allowedScrypt: Set<[Int]> = [[32768, 8, 1], [65536, 8, 1], [131072, 8, 1]]

    /// Decrypts a private key file with its passphrase (which may be empty).
    public static func decrypt(pem: String, passphrase: String) throws(SignatureError) -> P256.Signing.PrivateKey {
        guard let body = pemBody(pem) else { throw .invalidPayload("not an encrypted cosign/sigstore private key (PEM label)") }
        struct Encrypted: Decodable {
            struct KDF: Decodable {
                struct Params: Decodable {
                    let N: Int
                    let r: Int
                    let p: Int
                }
                let name: String
                let params: Params
                let salt: Data
            }
            struct Cipher: Decodable {
                let name: String
                let nonce: Data
            }
            let kdf: KDF
            let cipher: Cipher
            let ciphertext: Data
        }
        guard let encrypted = try? JSONDecoder().decode(Encrypted.self, from: body) else { throw .invalidPayload("malformed encrypted key") }
        let params = encrypted.kdf.params
        guard encrypted.kdf.name == "scrypt", allowedScrypt.contains([params.N, params.r, params.p]), encrypted.cipher.name == "nacl/secretbox" else {
            throw .invalidPayload("unsupported key encryption (\(encrypted.kdf.name) N=\(params.N), \(encrypted.cipher.name))")
        }
        let key = try derive(passphrase, salt: Array(encrypted.kdf.salt), n: params.N, r: params.r, p: params.p)
        guard let plaintext = SecretBox.open(Array(encrypted.ciphertext), nonce: Array(encrypted.cipher.nonce), key: key) else {
            throw .invalidPayload("cannot decrypt the private key: wrong passphrase")
        }
        guard isPKCS8(plaintext), let privateKey = try? P256.Signing.PrivateKey(derRepresentation: plaintext) else {
            throw .invalidPayload("the decrypted key is not a PKCS#8 ECDSA P-256 private key")
        }
        return privateKey
    }

    /// A new key pair: the private key encrypted as cosign writes it, and the public key PEM.
    public static func generate(passphrase: String) throws(SignatureError) -> (privateKey: String, publicKey: String) {
        let key = P256.Signing.PrivateKey()
        let salt = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let nonce = (0..<24).map { _ in UInt8.random(in: 0...255) }
        let derived = try derive(passphrase, salt: salt, n: 32768, r: 8, p: 1)
        let box = SecretBox.seal(Array(key.derRepresentation), nonce: nonce, key: derived)
        let json = #"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"\#(Data(salt).base64EncodedString())"},"#
            + #""cipher":{"name":"nacl/secretbox","nonce":"\#(Data(nonce).base64EncodedString())"},"ciphertext":"\#(Data(box).base64EncodedString())"}"#
        return (pem("ENCRYPTED COSIGN PRIVATE KEY", Array(json.utf8)), key.publicKey.pemRepresentation + "\n")
    }

    /// A `sigstore-json` signature blob (as `dir:` stores it) for `manifest` under `identity`.
    public static func sign(manifest: [UInt8], identity: ImageReference, key: P256.Signing.PrivateKey) throws(SignatureError) -> [UInt8] {
        let payload = SignaturePayload(dockerReference: identity.description, manifestDigest: Digest.of(manifest)).encoded(type: SigstoreSignature.payloadType)
        guard let signature = try? key.signature(for: payload) else { throw .invalidPayload("signing failed") }
        return SigstoreSignature(
            mimeType: SigstoreSignature.signatureMediaType, payload: payload,
            annotations: [SigstoreSignature.signatureAnnotation: signature.derRepresentation.base64EncodedString()]
        ).blob
    }

    private static func derive(_ passphrase: String, salt: [UInt8], n: Int, r: Int, p: Int) throws(SignatureError) -> [UInt8] {
        do {
            let key = try KDF.Scrypt.deriveKey(from: Array(passphrase.utf8), salt: salt, outputByteCount: 32, rounds: n, blockSize: r, parallelism: p)
            return key.withUnsafeBytes { Array($0) }
        } catch {
            throw .invalidPayload("scrypt failed: \(error)")
        }
    }

    /// PKCS#8 `PrivateKeyInfo` starts with version 0 and an algorithm SEQUENCE; SEC1's
    /// `ECPrivateKey` with version 1 and an OCTET STRING, which cosign refuses.
    static func isPKCS8(_ der: [UInt8]) -> Bool {
        guard der.count > 4, der[0] == 0x30 else { return false }
        var index = 2
        if der[1] & 0x80 != 0 { index += Int(der[1] & 0x7f) }
        guard index + 3 < der.count else { return false }
        return Array(der[index..<index + 4]) == [0x02, 0x01, 0x00, 0x30]
    }

    static func pemBody(_ pem: String) -> Data? {
        for label in labels {
            // The END marker is looked for after BEGIN: one before it made a reversed range (a trap,
            // found by fuzzing).
            guard let start = pem.range(of: "-----BEGIN \(label)-----"),
                let end = pem.range(of: "-----END \(label)-----", range: start.upperBound..<pem.endIndex)
            else { continue }
            return Data(base64Encoded: String(pem[start.upperBound..<end.lowerBound]).filter { !$0.isWhitespace })
        }
        return nil
    }

    static func pem(_ label: String, _ bytes: [UInt8]) -> String {
        let base64 = Data(bytes).base64EncodedString()
        let lines = stride(from: 0, to: base64.count, by: 64).map { offset -> String in
            let start = base64.index(base64.startIndex, offsetBy: offset)
            return String(base64[start..<(base64.index(start, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex)])
        }
        return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
    }
}
