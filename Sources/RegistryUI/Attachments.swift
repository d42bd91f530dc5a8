import Foundation
import OCI
import RegistryStorage
import Signing

/// What is attached to an image, from the three places it can be: the referrers API (OCI 1.1
/// subjects), cosign's `sha256-<hex>.sig/.att/.sbom` tags, and the signature extension API.
extension ArtifactKind {
    var title: String {
        switch self {
        case .signature: "Signatures"
        case .sbom: "SBOMs"
        case .attestation: "Attestations"
        case .other: "Other artifacts"
        }
    }
}

extension RegistryUI {
    func attachedGroups(_ repository: RepositoryName, _ subjects: [Digest]) async throws -> [[String: Any]] {
        var items: [ArtifactKind: [[String: Any]]] = [:]
        func add(
            _ kind: ArtifactKind, digest: String, type: String, via: String, details: [String], verdict: TrustVerdict? = nil, sbom: Digest? = nil,
            download: String
        ) {
            var item: [String: Any] = [
                "digest": digest, "digestShort": Formatting.short(digest), "type": type, "via": via, "details": details, "downloadHref": download,
            ]
            if let verdict {
                item["status"] = verdict.text
                item["statusClass"] = verdict.badgeClass
            }
            if let sbom { item["sbomHref"] = "\(settings.basePath)/sbom/\(repository)?digest=\(sbom)" }
            items[kind, default: []].append(item)
        }
        for subject in subjects {
            let referrers = try await registry.referrers(repository, subject: subject, artifactType: nil, after: nil, limit: 500).items
            for referrer in referrers {
                let type = referrer.artifactType ?? referrer.mediaType
                let annotations = referrer.annotations ?? [:]
                let kind = ArtifactKind(artifactType: type, annotations: annotations)
                let details = annotations.keys.sorted().prefix(8).map { "\($0): \(annotations[$0]!)" }
                let download = downloadHref(repository, referrer.digest, kind: "manifest")
                if kind == .signature, let layers = await signatureLayers(repository, referrer.digest), !layers.isEmpty {
                    for (layer, claim, verdict) in layers {
                        add(.signature, digest: referrer.digest.description, type: type, via: "referrers API",
                            details: details + (claim.map { ["claims \($0)"] } ?? []) + ["layer \(Formatting.short(layer.digest.description))"], verdict: verdict,
                            download: download)
                    }
                    continue
                }
                add(kind, digest: referrer.digest.description, type: type, via: "referrers API", details: details,
                    verdict: kind == .signature ? .invalid("no simple-signing layer") : nil, sbom: kind == .sbom ? referrer.digest : nil, download: download)
            }
            for (suffix, kind) in ManifestFacts.cosignSuffixes {
                guard let tag = try? Tag(parsing: "\(subject.algorithm.rawValue)-\(subject.encoded).\(suffix)"),
                    let attached = try? await registry.manifest(repository, .tag(tag))
                else { continue }
                let facts = ManifestFacts(attached.payload)
                let download = downloadHref(repository, attached.digest, kind: "manifest")
                if kind == .signature {
                    for (layer, claim, verdict) in await signatureLayers(repository, attached.digest, subject: subject) ?? [] {
                        add(.signature, digest: attached.digest.description, type: layer.mediaType, via: "cosign tag \(tag)",
                            details: claim.map { ["claims \($0)"] } ?? [], verdict: verdict, download: download)
                    }
                    continue
                }
                add(kind, digest: attached.digest.description, type: facts.image?.layers.first?.mediaType ?? attached.mediaType, via: "cosign tag \(tag)",
                    details: ["\(facts.image?.layers.count ?? 0) layer(s)"], sbom: kind == .sbom ? attached.digest : nil, download: download)
            }
            for signature in (try? await registry.signatures(repository, subject)) ?? [] {
                let verdict = await verifySimple(signature.content, subject: subject, repository)
                add(.signature, digest: subject.description, type: "OpenPGP simple signing", via: "extension API",
                    details: ["\(signature.name)", "\(signature.content.count) bytes"], verdict: verdict, download: downloadHref(repository, subject, kind: "manifest"))
            }
        }
        return ArtifactKind.allCases.compactMap { kind in
            guard let list = items[kind], !list.isEmpty else { return nil }
            return ["key": kind.rawValue, "title": kind.title, "count": list.count, "items": list]
        }
    }

    /// The simple-signing layers of a cosign signature manifest: what each claims the image is
    /// called (`docker-reference`) and whether it verifies for `subject` (the manifest's own
    /// subject when nil). Nil when the manifest is not an image manifest.
    private func signatureLayers(_ repository: RepositoryName, _ digest: Digest, subject: Digest? = nil) async
        -> [(Descriptor, String?, TrustVerdict)]?
    {
        guard let manifest = try? await registry.manifest(repository, .digest(digest)), let image = ManifestFacts(manifest.payload).image,
            let subject = subject ?? image.subject?.digest
        else { return nil }
        var found: [(Descriptor, String?, TrustVerdict)] = []
        for layer in image.layers.prefix(20) where layer.mediaType == SigstoreSignature.signatureMediaType {
            guard layer.size <= 64 << 10, let payload = try? await readBlob(repository, layer.digest) else {
                found.append((layer, nil, .invalid("the payload is missing or too large")))
                continue
            }
            let json = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any]
            let identity = (json?["critical"] as? [String: Any])?["identity"] as? [String: Any]
            let verdict = verifyCosign(payload: payload, annotations: layer.annotations ?? [:], subject: subject, repository)
            found.append((layer, identity?["docker-reference"] as? String, verdict))
        }
        return found
    }
}
