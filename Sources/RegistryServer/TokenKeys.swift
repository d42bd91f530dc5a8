import Crypto
import CryptoExtras
import Foundation
import NIOSSL
import X509

/// A key that registry tokens may be signed with: ES256 (P-256) or RS256 (RSA, as GitLab's and
/// docker_auth's token servers sign by default).
enum TokenVerificationKey: Sendable {
    case ecdsa(P256.Signing.PublicKey)
    case rsa(_RSA.Signing.PublicKey)

    /// Whether `token` carries a valid signature by this key under the algorithm its header names.
    func verifies(_ token: JWT.Decoded) -> Bool {
        switch (self, token.header["alg"] as? String) {
        case (.ecdsa(let key), "ES256"):
            guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: token.signature) else { return false }
            return key.isValidSignature(signature, for: token.signingInput)
        case (.rsa(let key), "RS256"):
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: token.signature), for: token.signingInput, padding: .insecurePKCS1v1_5)
        default:
            return false
        }
    }

    /// The certificates of `rootcertbundle`, read once for both the keys it lists and the roots
    /// of `x5c` chains.
    static func bundle(_ path: String) throws(ConfigError) -> [Certificate] {
        let certificates: [NIOSSLCertificate]
        do { certificates = try NIOSSLCertificate.fromPEMFile(path) } catch {
            throw ConfigError(key: "auth.token.rootcertbundle", problem: "cannot read certificates from \(path)")
        }
        let parsed = certificates.compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
        guard parsed.contains(where: { TokenVerificationKey($0.publicKey) != nil }) else {
            throw ConfigError(key: "auth.token.rootcertbundle", problem: "no P-256 or RSA certificate in \(path)")
        }
        return parsed
    }

    /// A certificate's key, when it is P-256 or RSA.
    init?(_ key: Certificate.PublicKey) {
        if let ecdsa = P256.Signing.PublicKey(key) {
            self = .ecdsa(ecdsa)
        } else if let rsa = _RSA.Signing.PublicKey(key) {
            self = .rsa(rsa)
        } else {
            return nil
        }
    }

    /// The keys of a JWK Set file (`{"keys": [...]}`): EC P-256 and RSA keys; others are skipped.
    static func jwks(in path: String) throws(ConfigError) -> [TokenVerificationKey] {
        let key = "auth.token.jwks"
        guard let data = FileManager.default.contents(atPath: path),
            let set = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let entries = set["keys"] as? [[String: Any]]
        else { throw ConfigError(key: key, problem: "\(path) is not a JWK Set ({\"keys\": [...]})") }
        var keys: [TokenVerificationKey] = []
        for (index, entry) in entries.enumerated() {
            func field(_ name: String) throws(ConfigError) -> Data {
                guard let text = entry[name] as? String, let value = JWT.base64URL(text[...]) else {
                    throw ConfigError(key: key, problem: "\(path): key \(index) has no valid '\(name)'")
                }
                return value
            }
            switch (entry["kty"] as? String, entry["crv"] as? String) {
            case ("EC", "P-256"):
                guard let ecdsa = try? P256.Signing.PublicKey(rawRepresentation: try field("x") + field("y")) else {
                    throw ConfigError(key: key, problem: "\(path): key \(index) is not a P-256 point")
                }
                keys.append(.ecdsa(ecdsa))
            case ("RSA", _):
                guard let rsa = try? _RSA.Signing.PublicKey(n: try field("n"), e: try field("e")) else {
                    throw ConfigError(key: key, problem: "\(path): key \(index) is not a usable RSA key (2048 bits or more)")
                }
                keys.append(.rsa(rsa))
            default:
                continue
            }
        }
        guard !keys.isEmpty else { throw ConfigError(key: key, problem: "no EC P-256 or RSA key in \(path)") }
        return keys
    }
}

/// Tokens that carry their signing certificate chain in the `x5c` header (base64 DER, leaf
/// first): as distribution does, the chain must lead to a `rootcertbundle` certificate, and the
/// leaf's key must have signed the token.
struct TokenCertificateChains: Sendable {
    let roots: [Certificate]

    /// The leaf's key, when `chain` is valid now up to one of the roots.
    func leafKey(_ chain: [String]) async -> TokenVerificationKey? {
        let parsed = chain.compactMap { Data(base64Encoded: $0).flatMap { try? Certificate(derEncoded: Array($0)) } }
        guard let leaf = parsed.first, parsed.count == chain.count, !roots.isEmpty else { return nil }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy() }
        guard case .validCertificate = await verifier.validate(leaf: leaf, intermediates: CertificateStore(parsed.dropFirst())) else { return nil }
        return TokenVerificationKey(leaf.publicKey)
    }
}
