import Logging
import RegistryStorage

/// A registry opened from a configuration without serving it, for the offline commands
/// (`garbage-collect`, `storage migrate`): the stores are closed when `body` returns or throws.
extension ServerConfig {
    public func withRegistry<T: Sendable>(logger: Logger, _ body: (Registry) async throws -> T) async throws -> T {
        let stores = try await RegistryStores(blobs: blobStorage, postgres: postgres, databasePath: resolvedDatabasePath, logger: logger)
        let result: T
        do {
            try await stores.checkReachable()
            result = try await body(Registry(blobs: stores.blobs, metadata: stores.metadata, options: registryOptions))
        } catch {
            try? await stores.close()
            throw error
        }
        try await stores.close()
        return result
    }

    /// The registry's behaviour this configuration asks for.
    var registryOptions: Registry.Options {
        var options = Registry.Options()
        options.deleteEnabled = deleteEnabled
        options.readOnly = readOnly
        options.maxManifestBytes = maxManifestBytes
        options.requireReferences = requireManifestReferences
        options.deleteSignatureTags = deleteSignatureTags
        return options
    }
}
