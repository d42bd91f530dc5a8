import Crypto
import Foundation
import NIOCore
import OCI
import RegistryStorage
@testable import RegistryServer
import RegistryUI
import Signing

/// Images for the UI tests: configs with labels, env and history (hostile ones too), indexes
/// with an attestation manifest, SBOM and signature referrers.
enum UIFixtures {
    /// What a pusher can put in every field the UI shows; none of it may run or link.
    static let script = "<script>window.__x=1</script>"
    static let attribute = "\"><img src=x onerror=window.__x=1>"
    static let javascriptURL = "javascript:window.__x=1"

    static func image(
        os: String = "linux", architecture: String = "amd64", labels: [String: String] = [:], env: [String] = ["PATH=/usr/bin"],
        history: [String] = ["/bin/sh -c #(nop) ADD file:abc in / ", "/bin/sh -c apk add curl"], annotations: [String: String]? = nil,
        subject: [String: Any]? = nil, artifactType: String? = nil, layerType: String = MediaType.ociLayerTarGzip, layerBodies: [[UInt8]]? = nil
    ) -> Fixtures.Image {
        let layers = layerBodies ?? history.map { _ in Fixtures.random(512) }
        let config = Fixtures.json([
            "architecture": architecture, "os": os, "created": "2026-11-01T10:00:00Z",
            "config": ["Env": env, "Entrypoint": ["/bin/app"], "Cmd": ["--serve"], "WorkingDir": "/srv", "User": "app",
                       "ExposedPorts": ["8080/tcp": [:] as [String: Any]], "Labels": labels],
            "rootfs": ["type": "layers", "diff_ids": layers.map { Fixtures.digest($0) }],
            "history": history.map { ["created_by": $0] },
            "n": Int.random(in: 0..<1_000_000_000),
        ])
        var manifest: [String: Any] = [
            "schemaVersion": 2, "mediaType": MediaType.ociManifest,
            "config": Fixtures.descriptor(artifactType == nil ? MediaType.ociConfig : "application/vnd.oci.empty.v1+json", artifactType == nil ? config : Array("{}".utf8)),
            "layers": layers.map { Fixtures.descriptor(layerType, $0) },
        ]
        if let annotations { manifest["annotations"] = annotations }
        if let subject { manifest["subject"] = subject }
        if let artifactType { manifest["artifactType"] = artifactType }
        return Fixtures.Image(config: artifactType == nil ? config : Array("{}".utf8), layers: layers, manifest: Fixtures.json(manifest))
    }

    /// An SPDX SBOM referring to `subject`.
    static func spdx(subject: Fixtures.Image) -> Fixtures.Image {
        let document = Fixtures.json([
            "spdxVersion": "SPDX-2.3", "name": "app",
            "packages": [
                ["name": "openssl", "versionInfo": "3.0.15", "licenseConcluded": "Apache-2.0"],
                ["name": "musl", "versionInfo": "1.2.5", "licenseDeclared": "MIT"],
                ["name": script, "versionInfo": attribute, "licenseConcluded": "NOASSERTION"],
            ],
        ])
        return image(
            history: [], subject: Fixtures.descriptor(MediaType.ociManifest, subject.manifest), artifactType: "application/spdx+json",
            layerType: "application/spdx+json", layerBodies: [document])
    }

    /// A cosign signature of `subject`: a referrer (OCI 1.1 mode), or for the `.sig` tag
    /// (`legacy`) a plain image manifest with neither subject nor artifact type. Signed with
    /// `key` when given (the layer then carries cosign's signature annotation).
    static func cosignSignature(subject: Fixtures.Image, key: P256.Signing.PrivateKey? = nil, legacy: Bool = false) throws -> Fixtures.Image {
        var payload = Fixtures.json([
            "critical": ["identity": ["docker-reference": "registry.example/team/app"], "image": ["docker-manifest-digest": subject.digest],
                         "type": SigstoreSignature.payloadType],
            "optional": [:] as [String: Any],
        ])
        var annotations: [String: String] = [:]
        if let key {
            let signature = try SigstoreSignature(
                blob: try SigstoreKeys.sign(manifest: subject.manifest, identity: try ImageReference(parsing: "registry.example/team/app:v1"), key: key))
            payload = signature.payload
            annotations = signature.annotations
        }
        let config = Array("{}".utf8)
        var layer = Fixtures.descriptor(SigstoreSignature.signatureMediaType, payload)
        if !annotations.isEmpty { layer["annotations"] = annotations }
        var manifest: [String: Any] = [
            "schemaVersion": 2, "mediaType": MediaType.ociManifest,
            "config": Fixtures.descriptor(legacy ? MediaType.ociConfig : "application/vnd.oci.empty.v1+json", config), "layers": [layer],
        ]
        if !legacy {
            manifest["subject"] = Fixtures.descriptor(MediaType.ociManifest, subject.manifest)
            manifest["artifactType"] = "application/vnd.dev.cosign.artifact.sig.v1+json"
        }
        return Fixtures.Image(config: config, layers: [payload], manifest: Fixtures.json(manifest))
    }

    /// Two platforms and BuildKit's attestation manifest for the first.
    static func multiPlatform() -> (index: [UInt8], children: [Fixtures.Image]) {
        let amd = image(architecture: "amd64"), arm = image(architecture: "arm64", history: ["/bin/sh -c #(nop) ADD file:def in / "])
        let attestation = image(history: [], artifactType: nil, layerType: "application/vnd.in-toto+json", layerBodies: [Array("{}".utf8)])
        var entries: [[String: Any]] = [amd, arm].enumerated().map { index, child in
            var entry = Fixtures.descriptor(MediaType.ociManifest, child.manifest)
            entry["platform"] = ["os": "linux", "architecture": index == 0 ? "amd64" : "arm64"]
            return entry
        }
        var attestationEntry = Fixtures.descriptor(MediaType.ociManifest, attestation.manifest)
        attestationEntry["platform"] = ["os": "unknown", "architecture": "unknown"]
        attestationEntry["annotations"] = ["vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd.digest]
        entries.append(attestationEntry)
        let index = Fixtures.json(["schemaVersion": 2, "mediaType": MediaType.ociIndex, "manifests": entries])
        return (index, [amd, arm, attestation])
    }

    /// The UI of an open registry (anyone reads; deletes follow `storage.delete.enabled`).
    static func openUI(_ config: inout ServerConfig, _ change: (inout UISettings) -> Void = { _ in }) {
        var settings = UISettings()
        change(&settings)
        config.ui = settings
    }
}

/// A browser-like client of the UI: keeps the session cookie, reads CSRF tokens from forms.
struct UIClient {
    let http: HTTP
    var cookie: String?

    init(_ http: HTTP) { self.http = http }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Reply {
        try await http.get(path, headers: headers + (cookie.map { [("Cookie", "\(SessionCookie.name)=\($0)")] } ?? []))
    }

    /// A same-origin form POST as a browser sends it.
    func post(_ path: String, _ fields: [(String, String)], site: String? = "same-origin", extraHeaders: [(String, String)] = []) async throws -> Reply {
        var headers: [(String, String)] = [("Content-Type", "application/x-www-form-urlencoded")]
        if let site { headers.append(("Sec-Fetch-Site", site)) }
        if let cookie { headers.append(("Cookie", "\(SessionCookie.name)=\(cookie)")) }
        let body = fields.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return try await http.send(.POST, path, headers: headers + extraHeaders, body: Array(body.utf8))
    }

    /// Keeps the session a reply set (or cleared).
    mutating func keep(_ reply: Reply) {
        for header in reply.headers[canonicalForm: "Set-Cookie"] where header.hasPrefix("\(SessionCookie.name)=") {
            let value = header.dropFirst(SessionCookie.name.count + 1).prefix { $0 != ";" }
            cookie = value.isEmpty ? nil : String(value)
        }
    }

    mutating func signIn(_ user: String, _ password: String) async throws -> Reply {
        let reply = try await post("/ui/login", [("username", user), ("password", password), ("next", "/ui/")])
        keep(reply)
        return reply
    }

    /// The CSRF token in a page's forms.
    static func csrf(_ page: Reply) -> String? {
        guard let range = page.text.range(of: #"name="csrf" value=""#) else { return nil }
        return String(page.text[range.upperBound...].prefix { $0 != "\"" })
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

enum SessionCookie {
    static let name = "__Host-berth_session"
}

extension Registry {
    /// Stores an image directly, for servers whose API needs tokens the test does not care about.
    func pushForTests(_ image: Fixtures.Image, to repository: String, as tag: String) async throws {
        try await pushForTests(blobs: [image.config] + image.layers, manifest: image.manifest, to: repository, as: tag)
    }

    func pushForTests(blobs: [[UInt8]] = [], manifest: [UInt8], type: String = MediaType.ociManifest, to repository: String, as tag: String) async throws {
        let name = try RepositoryName(parsing: repository)
        for blob in blobs {
            let body = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
                continuation.yield(ByteBuffer(bytes: blob))
                continuation.finish()
            }
            _ = try await putBlob(name, digest: try Digest(parsing: Fixtures.digest(blob)), length: Int64(blob.count), body: body)
        }
        _ = try await putManifest(name, try ManifestReference(parsing: tag), contentType: type, body: manifest, extraTags: [])
    }
}
