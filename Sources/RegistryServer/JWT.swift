import Crypto
import Foundation

/// The compact JWS form registry tokens use, ES256 only: what the token issuer signs and the
/// token authenticator checks.
enum JWT {
    struct Decoded {
        var header: [String: Any]
        var claims: [String: Any]
        /// `header.claims` as sent: the bytes the signature covers.
        var signingInput: Data
        var signature: Data
    }

    static func sign(claims: [String: Any], key: P256.Signing.PrivateKey, keyID: String) throws -> String {
        let header = encode(try JSONSerialization.data(withJSONObject: ["typ": "JWT", "alg": "ES256", "kid": keyID], options: .sortedKeys))
        let payload = encode(try JSONSerialization.data(withJSONObject: claims, options: .sortedKeys))
        let signature = try key.signature(for: Data("\(header).\(payload)".utf8))
        return "\(header).\(payload).\(encode(signature.rawRepresentation))"
    }

    static func decode(_ token: Substring) -> Decoded? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = base64URL(parts[0]), let claimsData = base64URL(parts[1]),
            let signature = base64URL(parts[2]),
            let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any],
            let claims = try? JSONSerialization.jsonObject(with: claimsData) as? [String: Any]
        else { return nil }
        return Decoded(header: header, claims: claims, signingInput: Data("\(parts[0]).\(parts[1])".utf8), signature: signature)
    }

    static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64URL(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    /// libtrust's key ID, which distribution looks up a token's `kid` by: the first 240 bits of
    /// the SHA-256 of the DER public key, base32 without padding, in twelve groups of four.
    static func libtrustKeyID(_ key: P256.Signing.PublicKey) -> String {
        let hash = Array(SHA256.hash(data: key.derRepresentation).prefix(30))
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bits = 0
        var value = 0
        var text = ""
        for byte in hash {
            value = (value << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                text.append(alphabet[(value >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        var groups: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            groups.append(String(rest.prefix(4)))
            rest = rest.dropFirst(4)
        }
        return groups.joined(separator: ":")
    }
}
