import OCI

/// A registry read whole, for copying it into another: a Berth registry on any backend
/// (`Registry`) or a CNCF distribution storage tree (`DistributionTree`).
public protocol RegistrySource: Sendable {
    /// Every repository, in byte order.
    func repositoryNames() async throws -> [RepositoryName]
    func inventory(_ repository: RepositoryName) async throws -> RepositoryInventory
    /// A manifest of the inventory, its bytes exactly as stored.
    func storedManifest(_ repository: RepositoryName, _ digest: Digest) async throws -> StoredManifest
    /// The extension API's signatures of a manifest.
    func signatures(_ repository: RepositoryName, _ digest: Digest) async throws -> [StoredSignature]
    func openBlob(_ digest: Digest) async throws -> any BlobReader
}

extension Registry: RegistrySource {
    public func repositoryNames() async throws -> [RepositoryName] {
        var names: [RepositoryName] = []
        var last: String?
        while true {
            let page = try await metadata.repositories(after: last, limit: 1000)
            names += page.items.compactMap { try? RepositoryName(parsing: $0) }
            guard page.hasMore, let next = page.items.last else { return names }
            last = next
        }
    }

    public func inventory(_ repository: RepositoryName) async throws -> RepositoryInventory {
        guard let inventory = try await metadata.inventory(repository) else { throw RegistryError.nameUnknown(repository) }
        return inventory
    }

    public func storedManifest(_ repository: RepositoryName, _ digest: Digest) async throws -> StoredManifest {
        try await manifest(repository, .digest(digest))
    }
}
