import Foundation
import OCI

/// containers-policy.json(5): which images may be copied, by transport and scope, and what their
/// signatures must prove. Unknown fields make the whole file invalid, as containers/image has it.
public struct Policy: Sendable {
    enum Requirement: Sendable {
        case insecureAcceptAnything
        case reject
        case signedBy(keys: [[UInt8]], identity: IdentityRule)
        /// Key-based cosign signatures (Fulcio, PKI and Rekor requirements are refused when parsed).
        case sigstoreSigned(keys: [String], identity: IdentityRule)
    }

    enum IdentityRule: Sendable, Equatable {
        case matchRepoDigestOrExact, matchExact, matchRepository
        case exactReference(String)
        case exactRepository(String)
        case remapIdentity(prefix: String, signedPrefix: String)
    }

    let defaultRequirements: [Requirement]
    /// transport → scope → requirements; the scope "" is the transport's default.
    let transports: [String: [String: [Requirement]]]

    /// The file `--policy` names, else `$HOME/.config/containers/policy.json`, else
    /// `/etc/containers/policy.json`; nil when none exists.
    public static func defaultPath(environment: [String: String]) -> String? {
        let home = environment["HOME"] ?? NSHomeDirectory()
        return ["\(home)/.config/containers/policy.json", "/etc/containers/policy.json"].first { FileManager.default.fileExists(atPath: $0) }
    }

    public init(file: String) throws(PolicyError) {
        guard let data = FileManager.default.contents(atPath: file) else { throw .invalid(file, "cannot read") }
        guard let top = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw .invalid(file, "not a JSON object") }
        let baseDirectory = (file as NSString).deletingLastPathComponent
        func requirements(_ value: Any?, _ at: String) throws(PolicyError) -> [Requirement] {
            guard let list = value as? [[String: Any]], !list.isEmpty else { throw .invalid(file, "\(at) must be a non-empty list of requirements") }
            var parsed: [Requirement] = []
            for entry in list { parsed.append(try Self.requirement(entry, at: at, file: file, baseDirectory: baseDirectory)) }
            return parsed
        }
        try Self.only(top, ["default", "transports"], "", file)
        defaultRequirements = try requirements(top["default"], "default")
        var transports: [String: [String: [Requirement]]] = [:]
        if let value = top["transports"] {
            guard let map = value as? [String: Any] else { throw .invalid(file, "transports must be an object") }
            for (transport, scopes) in map {
                guard let scopes = scopes as? [String: Any] else { throw .invalid(file, "transports.\(transport) must be an object") }
                var parsed: [String: [Requirement]] = [:]
                for (scope, value) in scopes { parsed[scope] = try requirements(value, "transports.\(transport).\(scope)") }
                transports[transport] = parsed
            }
        }
        self.transports = transports
    }

    /// Decides whether an image may be copied. `transport`/`scope` select the requirements (for
    /// docker the scope is the reference; for dir and oci the absolute path); `reference` is what
    /// signature identities are matched against; `signatures` are the image's simple signatures
    /// of `manifest`.
    public func check(
        transport: String, scope: String, reference: ImageReference?, manifest: [UInt8], signatures: [[UInt8]], describedAs name: String
    ) throws(PolicyError) {
        for requirement in requirements(transport: transport, scope: scope) {
            switch requirement {
            case .insecureAcceptAnything: continue
            case .reject: throw .rejected(name, "Running image \(name) is rejected by policy.")
            case .sigstoreSigned(let keys, let identity):
                let attachments = signatures.filter(SigstoreSignature.isSigstore).compactMap { try? SigstoreSignature(blob: $0) }
                let candidates = attachments.filter(\.isSignature)
                guard !candidates.isEmpty else {
                    throw .rejected(name, "A signature was required, but no signature exists (\(attachments.count) sigstore non-signature attachments)")
                }
                var reasons: [String] = []
                var accepted = false
                for signature in candidates where !accepted {
                    do {
                        let payload = try signature.verify(publicKeys: keys)
                        if let reason = Self.mismatch(payload, manifest: manifest, identity: identity, reference: reference, name: name) {
                            reasons.append(reason)
                        } else {
                            accepted = true
                        }
                    } catch {
                        reasons.append(error.description)
                    }
                }
                guard accepted else { throw .rejected(name, "no valid signature: \(reasons.joined(separator: "; "))") }
            case .signedBy(let keys, let identity):
                let signatures = signatures.filter { !SigstoreSignature.isSigstore($0) }
                guard !signatures.isEmpty else { throw .rejected(name, "A signature was required, but no signature exists") }
                var reasons: [String] = []
                var accepted = false
                for signature in signatures where !accepted {
                    do {
                        let (bytes, _) = try GPG.verify(signature, publicKeys: keys)
                        let payload = try SignaturePayload(parsing: bytes)
                        if let reason = Self.mismatch(payload, manifest: manifest, identity: identity, reference: reference, name: name) {
                            reasons.append(reason)
                            continue
                        }
                        accepted = true
                    } catch {
                        reasons.append(error.description)
                    }
                }
                guard accepted else { throw .rejected(name, "no valid signature: \(reasons.joined(separator: "; "))") }
            }
        }
    }

    /// Why a cryptographically valid payload does not vouch for this image, or nil when it does.
    static func mismatch(_ payload: SignaturePayload, manifest: [UInt8], identity: IdentityRule, reference: ImageReference?, name: String) -> String? {
        guard Digest.of(manifest, algorithm: payload.manifestDigest.algorithm) == payload.manifestDigest else {
            return "signature is for manifest \(payload.manifestDigest), not this one"
        }
        guard matches(identity, image: reference, signed: payload.dockerReference) else {
            return "signature identity \(payload.dockerReference) is not accepted for \(reference?.description ?? name)"
        }
        return nil
    }

    private func requirements(transport: String, scope: String) -> [Requirement] {
        guard let scopes = transports[transport] else { return defaultRequirements }
        for candidate in Self.scopes(transport: transport, scope) {
            if let found = scopes[candidate] { return found }
        }
        return scopes[""] ?? defaultRequirements
    }

    /// Most specific first: `host/ns/repo:tag`, `host/ns/repo`, `host/ns`, `host`, `*.domain`…;
    /// for paths, the path and each parent directory.
    public static func scopes(transport: String, _ scope: String) -> [String] {
        var candidates: [String] = [scope]
        if transport == "docker" {
            var name = scope
            if let at = name.firstIndex(of: "@") { name = String(name[..<at]) }
            if let colon = name.lastIndex(of: ":"), !name[colon...].contains("/") { name = String(name[..<colon]) }
            var parts = name.split(separator: "/").map(String.init)
            while !parts.isEmpty {
                candidates.append(parts.joined(separator: "/"))
                parts.removeLast()
            }
            var host = name.split(separator: "/").first.map(String.init) ?? ""
            if let colon = host.firstIndex(of: ":") { host = String(host[..<colon]) }
            var labels = host.split(separator: ".").map(String.init)
            while labels.count > 1 {
                labels.removeFirst()
                candidates.append("*." + labels.joined(separator: "."))
            }
        } else {
            var path = scope
            while path.count > 1 {
                path = (path as NSString).deletingLastPathComponent
                candidates.append(path)
            }
        }
        return candidates
    }

    /// `image` is nil for transports without a docker reference (dir:, oci:), which only the
    /// exact* rules can accept.
    static func matches(_ rule: IdentityRule, image: ImageReference?, signed: String) -> Bool {
        guard let signedReference = try? ImageReference(parsing: signed) else { return false }
        switch rule {
        case .exactReference(let expected):
            return (try? ImageReference(parsing: expected))?.description == signedReference.description
        case .exactRepository(let expected):
            guard let expected = try? ImageReference(parsing: expected) else { return false }
            return "\(expected.registry)/\(expected.repository)" == "\(signedReference.registry)/\(signedReference.repository)"
        default:
            break
        }
        guard let image else { return false }
        let imageRepository = "\(image.registry)/\(image.repository)"
        let signedRepository = "\(signedReference.registry)/\(signedReference.repository)"
        switch rule {
        case .matchExact:
            return image.tag != nil && image.digest == nil && image.description == signedReference.description
        case .matchRepoDigestOrExact:
            if image.digest != nil { return imageRepository == signedRepository }
            return image.tag != nil && image.description == signedReference.description
        case .matchRepository:
            return imageRepository == signedRepository
        case .exactReference, .exactRepository:
            return false
        case .remapIdentity(let prefix, let signedPrefix):
            let full = image.description
            guard full == prefix || full.hasPrefix(prefix + "/") || full.hasPrefix(prefix + ":") || full.hasPrefix(prefix + "@"),
                let remapped = try? ImageReference(parsing: signedPrefix + full.dropFirst(prefix.count))
            else { return matches(.matchRepoDigestOrExact, image: image, signed: signed) }
            return matches(.matchRepoDigestOrExact, image: remapped, signed: signed)
        }
    }

    private static func requirement(_ entry: [String: Any], at: String, file: String, baseDirectory: String) throws(PolicyError) -> Requirement {
        switch entry["type"] as? String {
        case "insecureAcceptAnything":
            try only(entry, ["type"], at, file)
            return .insecureAcceptAnything
        case "reject":
            try only(entry, ["type"], at, file)
            return .reject
        case "signedBy":
            try only(entry, ["type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"], at, file)
            guard entry["keyType"] as? String == "GPGKeys" else { throw .invalid(file, "\(at): keyType must be GPGKeys") }
            var keys: [[UInt8]] = []
            let paths = (entry["keyPath"].map { [$0] } ?? []) + ((entry["keyPaths"] as? [Any]) ?? [])
            for case let path as String in paths {
                let resolved = path.hasPrefix("/") ? path : "\(baseDirectory)/\(path)"
                guard let data = FileManager.default.contents(atPath: resolved) else { throw .invalid(file, "\(at): cannot read key file \(resolved)") }
                keys.append(Array(data))
            }
            if let data = entry["keyData"] as? String {
                guard let decoded = Data(base64Encoded: data) else { throw .invalid(file, "\(at): keyData is not base64") }
                keys.append(Array(decoded))
            }
            guard [entry["keyPath"], entry["keyPaths"], entry["keyData"]].compactMap({ $0 }).count == 1, !keys.isEmpty else {
                throw .invalid(file, "\(at): exactly one of keyPath, keyPaths, keyData is required")
            }
            return .signedBy(keys: keys, identity: try identity(entry["signedIdentity"], at: at, file: file))
        case "sigstoreSigned":
            try only(entry, ["type", "keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki", "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas", "signedIdentity"], at, file)
            if let unsupported = ["fulcio", "pki", "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas"].first(where: { entry[$0] != nil }) {
                throw .invalid(file, "\(at): sigstoreSigned with \(unsupported) is not supported (only public keys)")
            }
            var keys: [String] = []
            let paths = (entry["keyPath"].map { [$0] } ?? []) + ((entry["keyPaths"] as? [Any]) ?? [])
            for case let path as String in paths {
                let resolved = path.hasPrefix("/") ? path : "\(baseDirectory)/\(path)"
                guard let data = FileManager.default.contents(atPath: resolved) else { throw .invalid(file, "\(at): cannot read key file \(resolved)") }
                keys.append(String(decoding: data, as: UTF8.self))
            }
            for case let data as String in (entry["keyData"].map { [$0] } ?? []) + ((entry["keyDatas"] as? [Any]) ?? []) {
                guard let decoded = Data(base64Encoded: data) else { throw .invalid(file, "\(at): keyData is not base64") }
                keys.append(String(decoding: decoded, as: UTF8.self))
            }
            guard [entry["keyPath"], entry["keyPaths"], entry["keyData"], entry["keyDatas"]].compactMap({ $0 }).count == 1, !keys.isEmpty else {
                throw .invalid(file, "\(at): exactly one of keyPath, keyPaths, keyData, keyDatas is required")
            }
            return .sigstoreSigned(keys: keys, identity: try identity(entry["signedIdentity"], at: at, file: file))
        case let other:
            throw .invalid(file, "\(at): unknown policy requirement type \"\(other ?? "")\"")
        }
    }

    private static func identity(_ value: Any?, at: String, file: String) throws(PolicyError) -> IdentityRule {
        guard let value else { return .matchRepoDigestOrExact }
        guard let rule = value as? [String: Any] else { throw .invalid(file, "\(at): signedIdentity must be an object") }
        switch rule["type"] as? String {
        case "matchRepoDigestOrExact": try only(rule, ["type"], at, file); return .matchRepoDigestOrExact
        case "matchExact": try only(rule, ["type"], at, file); return .matchExact
        case "matchRepository": try only(rule, ["type"], at, file); return .matchRepository
        case "exactReference":
            try only(rule, ["type", "dockerReference"], at, file)
            guard let reference = rule["dockerReference"] as? String else { throw .invalid(file, "\(at): exactReference needs dockerReference") }
            return .exactReference(reference)
        case "exactRepository":
            try only(rule, ["type", "dockerRepository"], at, file)
            guard let repository = rule["dockerRepository"] as? String else { throw .invalid(file, "\(at): exactRepository needs dockerRepository") }
            return .exactRepository(repository)
        case "remapIdentity":
            try only(rule, ["type", "prefix", "signedPrefix"], at, file)
            guard let prefix = rule["prefix"] as? String, let signedPrefix = rule["signedPrefix"] as? String else {
                throw .invalid(file, "\(at): remapIdentity needs prefix and signedPrefix")
            }
            return .remapIdentity(prefix: prefix, signedPrefix: signedPrefix)
        case let other:
            throw .invalid(file, "\(at): unknown signedIdentity type \"\(other ?? "")\"")
        }
    }

    private static func only(_ object: [String: Any], _ keys: Set<String>, _ at: String, _ file: String) throws(PolicyError) {
        if let unknown = Set(object.keys).subtracting(keys).sorted().first { throw .invalid(file, "\(at.isEmpty ? "" : "\(at): ")unknown field \"\(unknown)\"") }
    }
}

public enum PolicyError: Error, CustomStringConvertible {
    case invalid(String, String)
    case rejected(String, String)

    public var description: String {
        switch self {
        case .invalid(let file, let why): "invalid policy \(file): \(why)"
        case .rejected(let image, let why): "\(image): \(why)"
        }
    }
}
