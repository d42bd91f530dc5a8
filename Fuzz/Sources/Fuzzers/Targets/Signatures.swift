import Foundation
@testable import Signing

/// containers-signature(5) simple-signing payloads (both types), and sigstore-json signature blobs.
enum SimpleSigningTarget {
    static func run(_ bytes: [UInt8]) {
        _ = try? SignaturePayload(parsing: bytes)
        _ = try? SignaturePayload(parsing: bytes, type: SigstoreSignature.payloadType)
        _ = try? SigstoreSignature(blob: bytes)
    }
}

/// cosign key files: an encrypted private key (scrypt parameters limited to cosign's), and a
/// public key checked against a real signature from testdata/sigstore.
enum CosignKeyTarget {
    static let signature = try! SigstoreSignature(
        blob: Array(FileManager.default.contents(atPath: Harness.testdata("sigstore/dir-img-cosign-valid/signature-1"))!))

    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? SigstoreKeys.decrypt(pem: text, passphrase: "")
        _ = try? signature.verify(publicKeys: [text])
    }
}
