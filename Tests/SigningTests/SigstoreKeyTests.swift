import Crypto
import Foundation
import OCI
import Testing

@testable import Signing

@Suite struct SecretBoxTests {
    func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    @Test func poly1305MatchesRFC8439() {
        let key = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
        let tag = Poly1305.tag(Array("Cryptographic Forum Research Group".utf8), key: key)
        #expect(tag == hex("a8061dc1305136c6c22b8baf0c0127a9"))
    }

    @Test func secretboxRoundTripsAndRejectsTampering() {
        let key = (0..<32).map { UInt8($0) }
        let nonce = (0..<24).map { UInt8(100 + $0) }
        let message = Array("a key that cosign would encrypt, longer than one Salsa20 block of sixty-four bytes".utf8)
        var box = SecretBox.seal(message, nonce: nonce, key: key)
        #expect(box.count == message.count + 16)
        #expect(SecretBox.open(box, nonce: nonce, key: key) == message)
        box[20] ^= 1
        #expect(SecretBox.open(box, nonce: nonce, key: key) == nil)
    }
}

@Suite
struct SigstoreKeyVectorTests {
    func read(_ name: String) throws -> String {
        try String(contentsOf: SigstoreVectors.root.appendingPathComponent(name), encoding: .utf8)
    }

    @Test(arguments: [
        ("cosign-keys_test-pemsigstorekey", "hello"), ("cosign-keys_test-pemcosignkey", "hello"),
        ("sigstore-rs-cosign_generated_encrypted_empty_private", ""), ("sigstore-rs-ecdsa_encrypted_private", "123"),
    ])
    func publishedKeysDecryptToTheirPublicKeys(_ name: String, _ password: String) throws {
        let key = try SigstoreKeys.decrypt(pem: try read("keys/\(name).key"), passphrase: password)
        let published = try P256.Signing.PublicKey(pemRepresentation: try read("keys/\(name).pub"))
        #expect(key.publicKey.rawRepresentation == published.rawRepresentation)
        #expect(throws: SignatureError.self) { try SigstoreKeys.decrypt(pem: try read("keys/\(name).key"), passphrase: password + "x") }
        // A signature made with it verifies against its public key and not against cosign.pub.
        let manifest = Array(try Data(contentsOf: SigstoreVectors.root.appendingPathComponent("dir-img-cosign-valid/manifest.json")))
        let blob = try SigstoreKeys.sign(manifest: manifest, identity: try ImageReference(parsing: "example.com/team/app:v1"), key: key)
        let signature = try SigstoreSignature(blob: blob)
        #expect(try signature.verify(publicKeys: [try read("keys/\(name).pub")]).manifestDigest == Digest.of(manifest))
        #expect(throws: SignatureError.self) { try signature.verify(publicKeys: [try read("cosign.pub")]) }
    }

    /// Found by fuzzing key files: an END marker before the BEGIN one made a reversed range (a trap).
    @Test func anEndMarkerBeforeTheBeginMarkerIsNotAKey() {
        let pem = "-----END ENCRYPTED COSIGN PRIVATE KEY-----\n-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\nAAAA\n"
        #expect(throws: SignatureError.self) { try SigstoreKeys.decrypt(pem: pem, passphrase: "") }
    }

    @Test func aSEC1KeyIsRefusedAfterItDecrypts() throws {
        #expect(throws: SignatureError.invalidPayload("the decrypted key is not a PKCS#8 ECDSA P-256 private key")) {
            try SigstoreKeys.decrypt(pem: try read("keys/cosign-keys_test-pemcosigneckey.key"), passphrase: "hello")
        }
    }

    @Test func generatedKeysDecryptAndSign() throws {
        let (privateKey, publicKey) = try SigstoreKeys.generate(passphrase: "s3cret")
        #expect(privateKey.hasPrefix("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n") && publicKey.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        let key = try SigstoreKeys.decrypt(pem: privateKey, passphrase: "s3cret")
        #expect(key.publicKey.pemRepresentation + "\n" == publicKey)
    }
}
