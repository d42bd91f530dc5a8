/// What an artifact attached to an image is, by its artifact type (or, for cosign's tags, its
/// layers' media type): cosign's OCI 1.1 types, sigstore bundles, Notation, simple signing;
/// SPDX, CycloneDX, Syft; in-toto and DSSE attestations.
public enum ArtifactKind: String, CaseIterable, Sendable {
    case signature, sbom, attestation, other

    public static let sigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
    public static let signatureTypes: Set<String> = [
        "application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.cncf.notary.signature",
        "application/vnd.dev.cosign.simplesigning.v1+json", sigstoreBundle,
    ]
    public static let sbomTypes: Set<String> = [
        "application/vnd.dev.cosign.artifact.sbom.v1+json", "application/spdx+json", "text/spdx+json", "text/spdx",
        "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+xml", "application/vnd.syft+json",
    ]
    public static let attestationTypes: Set<String> = [
        "application/vnd.dev.cosign.artifact.att.v1+json", "application/vnd.in-toto+json", "application/vnd.dsse.envelope.v1+json",
    ]

    /// A sigstore bundle is a signature unless its annotations name another predicate (an
    /// attestation); without annotations (a listing that has none) it counts as a signature.
    public init(artifactType type: String, annotations: [String: String] = [:]) {
        if type == Self.sigstoreBundle, let predicate = annotations["dev.sigstore.bundle.predicateType"], predicate != "https://sigstore.dev/cosign/sign/v1" {
            self = .attestation
        } else if Self.signatureTypes.contains(type) {
            self = .signature
        } else if Self.sbomTypes.contains(type) {
            self = .sbom
        } else if Self.attestationTypes.contains(type) {
            self = .attestation
        } else {
            self = .other
        }
    }
}
