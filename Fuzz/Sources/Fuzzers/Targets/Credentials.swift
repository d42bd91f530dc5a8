import Foundation
import Logging
@testable import RegistryClient
@testable import RegistryServer

/// Bearer tokens as any client may send them, checked against a root certificate and a JWK Set
/// whose private keys were thrown away (Fuzz/Fixtures): every token is refused, none crashes the
/// verifier — JWS decoding, JSON, `x5c` certificate chains and ECDSA/RSA signature checks included.
enum BearerTokenTarget {
    static let authenticator = try! TokenAuthenticator(
        realm: "https://auth.example/token", service: "registry", issuer: "issuer",
        rootCertBundle: Harness.fixture("token-root.pem"), jwks: Harness.fixture("token-keys.jwks"))

    static func run(_ bytes: [UInt8]) {
        let header = "Bearer " + String(decoding: bytes, as: UTF8.self)
        let accepted = Harness.blocking {
            let needs = [TokenAuthenticator.Scope(type: "repository", name: "team/app", actions: ["pull"])]
            return (try? await authenticator.authorize(header, needs: needs, realm: "r")) != nil
        }
        precondition(!accepted, "a token nobody can sign was accepted")
        _ = JWT.decode(String(decoding: bytes, as: UTF8.self)[...])
    }
}

/// htpasswd files (first byte even) and Basic `Authorization` headers checked against one
/// (first byte odd): only the fixture's user with its password gets in.
enum HtpasswdTarget {
    static let users = try! HtpasswdAuthenticator(realm: "r", path: Harness.fixture("htpasswd"), failureDelay: .zero, logger: Logger(label: "fuzz"))

    static func run(_ bytes: [UInt8]) {
        guard let mode = bytes.first else { return }
        let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
        if mode % 2 == 0 {
            if case .success(let entries) = HtpasswdAuthenticator.parse(text) {
                precondition(entries.keys.allSatisfy { !$0.isEmpty && !$0.contains(":") }, "an htpasswd user name with a colon")
            }
            return
        }
        let user = Harness.blocking { try? await users.authenticate(text) }
        precondition(user == nil || user == "fuzz", "signed in as \(user ?? "")")
    }
}

/// auth.json as podman, skopeo and docker write it (or anyone else): credentials looked up for a
/// repository; a credential helper it names is looked for on a PATH that has none.
enum AuthFileTarget {
    static func run(_ bytes: [UInt8]) {
        let file = AuthFile(path: Harness.file("auth.json", bytes))
        _ = Harness.blocking {
            try? await file.credentials(registry: "registry.example", repository: "team/app", environment: ["PATH": "/nonexistent"])
        }
    }
}
