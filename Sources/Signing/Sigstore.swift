import Crypto
import Foundation
import OCI

/// A sigstore (cosign) signature as containers/image stores it in `dir:`
/// (`\0sigstore-json\n{"mimeType":…,"payload":<base64>,"annotations":{…}}`) and cosign in
/// `.sig` layers: the payload bytes, signed with ECDSA P-256 over SHA-256.
public struct SigstoreSignature: Sendable, Equatable {
    public static let signatureMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
    public static let signatureAnnotation = "dev.cosignproject.cosign/signature"
    public static let payloadType = "cosign container image signature"
    static let framing = Array("\u{0}sigstore-json\n".utf8)

    public let mimeType: String
    public let payload: [UInt8]
    public let annotations: [String: String]

    /// Whether a stored signature blob is in sigstore framing (else it is an OpenPGP message).
    public static func isSigstore(_ blob: [UInt8]) -> Bool { blob.starts(with: framing) }

    public init(mimeType: String, payload: [UInt8], annotations: [String: String]) {
        self.mimeType = mimeType
        self.payload = payload
        self.annotations = annotations
    }

    public init(blob: [UInt8]) throws(SignatureError) {
        guard Self.isSigstore(blob) else {
            if blob.first == 0 { throw .invalidPayload("unknown signature format") }
            throw .invalidPayload("not a sigstore signature")
        }
        struct Stored: Decodable {
            let mimeType: String
            let payload: Data
            let annotations: [String: String]?
        }
        guard let stored = try? JSONDecoder().decode(Stored.self, from: Data(blob.dropFirst(Self.framing.count))) else {
            throw .invalidPayload("malformed sigstore-json signature")
        }
        mimeType = stored.mimeType
        payload = Array(stored.payload)
        annotations = stored.annotations ?? [:]
    }

    /// The stored form: the framing, then the JSON object (keys sorted, payload in base64).
    public var blob: [UInt8] {
        let object: [String: Any] = ["mimeType": mimeType, "payload": Data(payload).base64EncodedString(), "annotations": annotations]
        let json = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Self.framing + Array(json)
    }

    /// Whether this is a signature rather than another cosign attachment.
    public var isSignature: Bool { mimeType == Self.signatureMediaType }

    /// Checks the signature with any of `publicKeys` (PEM `PUBLIC KEY`), then parses the payload.
    public func verify(publicKeys: [String]) throws(SignatureError) -> SignaturePayload {
        guard let encoded = annotations[Self.signatureAnnotation], let der = Data(base64Encoded: encoded) else {
            throw .invalidPayload("missing \(Self.signatureAnnotation) annotation")
        }
        guard let signature = try? P256.Signing.ECDSASignature(derRepresentation: der) else { throw .invalidPayload("malformed ECDSA signature") }
        var keys: [P256.Signing.PublicKey] = []
        for pem in publicKeys {
            guard let key = try? P256.Signing.PublicKey(pemRepresentation: pem) else { throw .invalidPayload("not an ECDSA P-256 public key") }
            keys.append(key)
        }
        guard keys.contains(where: { $0.isValidSignature(signature, for: payload) }) else {
            throw .verificationFailed("the sigstore signature matches none of the keys")
        }
        return try SignaturePayload(parsing: payload, type: Self.payloadType)
    }
}
