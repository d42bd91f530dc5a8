// Signing: image signatures. Simple signing (containers-signature(5)): the payload, signed as an
// OpenPGP message through libgpgme.

import Foundation
import OCI

/// The claim a simple signature makes: this manifest digest is the image known by this name.
public struct SignaturePayload: Sendable, Equatable {
    public static let type = "atomic container signature"

    public let dockerReference: String
    public let manifestDigest: Digest
    public let creator: String?
    public let timestamp: Int64?

    public init(dockerReference: String, manifestDigest: Digest, creator: String? = "berth", timestamp: Int64? = Int64(Date().timeIntervalSince1970)) {
        self.dockerReference = dockerReference
        self.manifestDigest = manifestDigest
        self.creator = creator
        self.timestamp = timestamp
    }

    /// Compact JSON with sorted keys, as containers/image writes it.
    public func encoded(type: String = SignaturePayload.type) -> [UInt8] {
        var optional: [String: Any] = [:]
        if let creator { optional["creator"] = creator }
        if let timestamp { optional["timestamp"] = timestamp }
        let document: [String: Any] = [
            "critical": [
                "identity": ["docker-reference": dockerReference],
                "image": ["docker-manifest-digest": manifestDigest.description],
                "type": type,
            ],
            "optional": optional,
        ]
        // Both inputs are strings and integers, so serialisation cannot fail.
        return Array(try! JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// Parses a payload strictly: exactly `critical` and `optional` at the top, nothing unknown
    /// anywhere under `critical`; unknown members of `optional` are accepted (containers-signature(5)).
    /// Sigstore payloads have their own `type`, and cosign writes `"optional": null`.
    public init(parsing bytes: [UInt8], type: String = SignaturePayload.type) throws(SignatureError) {
        guard let top = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { throw .invalidPayload("not a JSON object") }
        try Self.exactly(top, ["critical", "optional"], "")
        guard let critical = top["critical"] as? [String: Any] else { throw .invalidPayload("critical is not an object") }
        try Self.exactly(critical, ["identity", "image", "type"], "critical.")
        guard critical["type"] as? String == type else { throw .invalidPayload("critical.type is not \"\(type)\"") }
        guard let identity = critical["identity"] as? [String: Any], let image = critical["image"] as? [String: Any] else {
            throw .invalidPayload("critical.identity and critical.image must be objects")
        }
        try Self.exactly(identity, ["docker-reference"], "critical.identity.")
        try Self.exactly(image, ["docker-manifest-digest"], "critical.image.")
        guard let reference = identity["docker-reference"] as? String, let digestText = image["docker-manifest-digest"] as? String,
            let digest = try? Digest(parsing: digestText)
        else { throw .invalidPayload("docker-reference and docker-manifest-digest must be a reference and a digest") }
        let optional: [String: Any]
        if top["optional"] is NSNull, type != Self.type {
            optional = [:]
        } else {
            guard let object = top["optional"] as? [String: Any] else { throw .invalidPayload("optional is not an object") }
            optional = object
        }
        dockerReference = reference
        manifestDigest = digest
        creator = optional["creator"] as? String
        timestamp = (optional["timestamp"] as? NSNumber)?.int64Value
    }

    private static func exactly(_ object: [String: Any], _ keys: Set<String>, _ path: String) throws(SignatureError) {
        let present = Set(object.keys)
        if let unknown = present.subtracting(keys).sorted().first { throw .invalidPayload("unknown key \"\(path)\(unknown)\"") }
        if let missing = keys.subtracting(present).sorted().first { throw .invalidPayload("missing key \"\(path)\(missing)\"") }
    }
}

public enum SignatureError: Error, Equatable, CustomStringConvertible {
    case invalidPayload(String)
    case gpg(String)
    case verificationFailed(String)
    case untrustedKey(String)
    case identityMismatch(expected: String, signed: String)
    case digestMismatch(expected: Digest, signed: Digest)

    public var description: String {
        switch self {
        case .invalidPayload(let why): "invalid signature payload: \(why)"
        case .gpg(let why): "GPG: \(why)"
        case .verificationFailed(let why): "cryptographic signature verification failed: \(why)"
        case .untrustedKey(let fingerprint): "signature by key \(fingerprint), which is not one of the accepted keys"
        case .identityMismatch(let expected, let signed): "Docker reference \(signed) does not match \(expected)"
        case .digestMismatch(let expected, let signed): "Signature for docker digest \"\(signed)\" does not match \(expected)"
        }
    }
}

/// skopeo's `standalone-sign` and `standalone-verify`, and the checks containers/image applies to
/// every simple signature: a valid OpenPGP signature by an accepted key, over a payload naming
/// this manifest's digest and exactly this image.
public enum SimpleSigning {
    public static func sign(manifest: [UInt8], dockerReference: String, fingerprint: String, passphrase: String? = nil) throws(SignatureError) -> [UInt8] {
        let identity = try normalized(dockerReference)
        let payload = SignaturePayload(dockerReference: identity, manifestDigest: Digest.of(manifest))
        return try GPG.sign(payload.encoded(), fingerprint: fingerprint, passphrase: passphrase)
    }

    /// `acceptedFingerprints` nil accepts any key the keyring (or `publicKeys`) trusts.
    public static func verify(
        signature: [UInt8], manifest: [UInt8], dockerReference: String, acceptedFingerprints: [String]?, publicKeys: [[UInt8]]? = nil
    ) throws(SignatureError) -> (payload: SignaturePayload, fingerprint: String) {
        let (bytes, fingerprint) = try GPG.verify(signature, publicKeys: publicKeys)
        if let accepted = acceptedFingerprints {
            let signer = fingerprint.uppercased()
            // A 16-digit key ID is accepted as the end of the full fingerprint.
            guard accepted.contains(where: { !$0.isEmpty && signer.hasSuffix($0.uppercased()) }) else { throw .untrustedKey(fingerprint) }
        }
        let payload = try SignaturePayload(parsing: bytes)
        let expected = try normalized(dockerReference)
        guard (try? normalized(payload.dockerReference)) == expected else {
            throw .identityMismatch(expected: expected, signed: payload.dockerReference)
        }
        let digest = Digest.of(manifest, algorithm: payload.manifestDigest.algorithm)
        guard digest == payload.manifestDigest else { throw .digestMismatch(expected: digest, signed: payload.manifestDigest) }
        return (payload, fingerprint)
    }

    /// The fully expanded form, `docker.io/library/busybox:latest`, as signatures name images.
    static func normalized(_ reference: String) throws(SignatureError) -> String {
        do { return try ImageReference(parsing: reference).description } catch { throw .invalidPayload(error.description) }
    }
}
