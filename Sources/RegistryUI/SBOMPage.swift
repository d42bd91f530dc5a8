import Foundation
import Hummingbird
import OCI
import RegistryStorage

/// An SPDX or CycloneDX JSON document as a package table.
struct SBOMDocument {
    struct Package {
        let name: String
        let version: String
        let license: String
    }

    let format: String
    let packages: [Package]

    init?(_ bytes: [UInt8]) {
        guard let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        if let version = json["spdxVersion"] as? String {
            format = version
            packages = (json["packages"] as? [[String: Any]] ?? []).map { package in
                let license = [package["licenseConcluded"], package["licenseDeclared"]].compactMap { $0 as? String }
                    .first { $0 != "NOASSERTION" && $0 != "NONE" } ?? ""
                return Package(name: package["name"] as? String ?? "", version: package["versionInfo"] as? String ?? "", license: license)
            }
        } else if json["bomFormat"] as? String == "CycloneDX" {
            format = "CycloneDX \(json["specVersion"] as? String ?? "")"
            packages = (json["components"] as? [[String: Any]] ?? []).map { component in
                let licenses = (component["licenses"] as? [[String: Any]] ?? []).compactMap { entry -> String? in
                    if let expression = entry["expression"] as? String { return expression }
                    let license = entry["license"] as? [String: Any]
                    return license?["id"] as? String ?? license?["name"] as? String
                }
                return Package(name: component["name"] as? String ?? "", version: component["version"] as? String ?? "", license: licenses.joined(separator: " OR "))
            }
        } else {
            return nil
        }
    }
}

extension RegistryUI {
    static let packagesShown = 5000

    func sbomPage(_ repository: RepositoryName, _ query: FormFields, _ visit: Visit) async throws -> Response {
        guard let text = query["digest"], let digest = try? Digest(parsing: text), let manifest = try? await registry.manifest(repository, .digest(digest)),
            let image = ManifestFacts(manifest.payload).image
        else { throw PageFailure(.notFound, "Not found", "\(repository) has no such SBOM.") }
        // The document is the layer of an SBOM type, else the first layer (cosign's `.sbom` tag).
        let layer = image.layers.first { ArtifactKind.sbomTypes.contains($0.mediaType) } ?? image.layers.first
        guard let layer, let document = SBOMDocument(try await readBlob(repository, layer.digest)) else {
            throw PageFailure(.unprocessableContent, "Not readable", "The SBOM is not SPDX or CycloneDX JSON; download it instead.")
        }
        let subject = image.subject?.digest.description ?? ""
        let model: [String: Any] = [
            "repository": repository.value, "subjectShort": Formatting.short(subject.isEmpty ? digest.description : subject),
            "imageHref": "\(settings.basePath)/image/\(repository)?ref=\(subject.isEmpty ? digest.description : subject)",
            "format": document.format, "count": document.packages.count, "truncated": document.packages.count > Self.packagesShown,
            "shown": Self.packagesShown, "downloadHref": downloadHref(repository, layer.digest, kind: "blob"),
            "packages": document.packages.prefix(Self.packagesShown).map { ["name": $0.name, "version": $0.version, "license": $0.license] },
        ]
        return page("SBOM", template: "sbom", model, visit)
    }
}
