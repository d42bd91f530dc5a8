import Crypto
import Dispatch
import Foundation
import OCI
import Signing

/// Whether a signature verifies against the keys the operator trusts for its repository
/// (`berth.ui.trust`). A badge says "signed by <key>" only after the cryptographic check and
/// only when the signed payload names this very image.
enum TrustVerdict: Equatable {
    case verified(key: String)
    /// A well-formed signature that none of the trusted keys made.
    case unknownKey
    case invalid(String)
    /// No key is configured for this repository, so nothing was checked.
    case noKeys

    var text: String {
        switch self {
        case .verified(let key): "signed by \(key)"
        case .unknownKey: "signature present, key unknown"
        case .invalid(let why): "invalid: \(why)"
        case .noKeys: "not verified (no trust keys for this repository)"
        }
    }

    var badgeClass: String {
        switch self {
        case .verified: "ok"
        case .invalid: "bad"
        case .unknownKey, .noKeys: "warn"
        }
    }
}

extension RegistryUI {
    func trustKeys(_ repository: RepositoryName, _ kind: TrustKey.Kind) -> [TrustKey] {
        settings.trust.filter { $0.kind == kind && $0.repositories.contains { $0.matches(repository.value) } }
    }

    /// A cosign signature: the simple-signing payload (a layer's bytes) and the layer's annotations.
    func verifyCosign(payload: [UInt8], annotations: [String: String], subject: OCI.Digest, _ repository: RepositoryName) -> TrustVerdict {
        let keys = trustKeys(repository, .sigstore)
        guard !keys.isEmpty else { return .noKeys }
        guard let encoded = annotations[SigstoreSignature.signatureAnnotation], let der = Data(base64Encoded: encoded),
            (try? P256.Signing.ECDSASignature(derRepresentation: der)) != nil
        else { return .invalid("no well-formed \(SigstoreSignature.signatureAnnotation) annotation") }
        let signature = SigstoreSignature(mimeType: SigstoreSignature.signatureMediaType, payload: payload, annotations: annotations)
        for key in keys {
            guard let signed = try? signature.verify(publicKeys: [String(decoding: key.key, as: UTF8.self)]) else { continue }
            return signed.manifestDigest == subject ? .verified(key: key.name) : .invalid("it signs \(signed.manifestDigest), not this image")
        }
        return .unknownKey
    }

    /// An OpenPGP simple signature from the extension API. gpg runs on a thread of its own: a
    /// check takes a keyring import and a verify, too long to hold a cooperative thread.
    func verifySimple(_ content: [UInt8], subject: OCI.Digest, _ repository: RepositoryName) async -> TrustVerdict {
        let keys = trustKeys(repository, .gpg)
        guard !keys.isEmpty else { return .noKeys }
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                for key in keys {
                    do {
                        let (bytes, _) = try GPG.verify(content, publicKeys: [key.key])
                        let signed = try SignaturePayload(parsing: bytes)
                        continuation.resume(returning: signed.manifestDigest == subject ? .verified(key: key.name) : .invalid("it signs \(signed.manifestDigest), not this image"))
                        return
                    } catch SignatureError.gpg(let why) where why.contains("No public key") {
                        continue
                    } catch {
                        continuation.resume(returning: .invalid("\(error)"))
                        return
                    }
                }
                continuation.resume(returning: .unknownKey)
            }
        }
    }
}
