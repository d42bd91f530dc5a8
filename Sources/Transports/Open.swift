import OCI
import RegistryClient

/// How one side of a copy is reached.
public struct AccessOptions: Sendable {
    public var client = ClientOptions()
    /// `dir:` destinations: store layers uncompressed (`--dest-decompress`).
    public var decompress = false
    /// `docker-archive:` destinations: more names for the image (`--additional-tag`).
    public var additionalTags: [ImageReference] = []
    /// Where registries keep signatures they cannot store themselves (`--registries.d`).
    public var registriesD = RegistriesD()
    /// Mirrors, location rewrites, insecure and blocked registries (`--registries-conf`).
    public var registriesConf = RegistriesConf()
    /// Credentials for another host than the one named (a mirror), from the auth files: explicit
    /// credentials (`--creds`) are never sent to a mirror.
    public var credentialsForHost: (@Sendable (_ registry: String, _ repository: String) async throws -> Credentials?)?

    public init() {}
}

extension ImageName {
    public func openSource(_ access: AccessOptions) throws -> any ImageSource {
        switch self {
        case .docker(let reference): try DockerSource(reference, access: access)
        case .oci(let path, let reference): try OCILayoutSource(files: DirectoryFiles(location: path), reference: reference, name: self)
        case .ociArchive(let path, let reference): try OCIArchive.source(path: path, reference: reference)
        case .dir(let path): try DirSource(path: path)
        case .dockerArchive(let path, let reference, let index): try DockerArchiveSource(path: path, reference: reference, index: index)
        }
    }

    public func openDestination(_ access: AccessOptions) throws -> any ImageDestination {
        if case .dockerArchive = self {} else if !access.additionalTags.isEmpty {
            throw TransportError.unsupported(description, "--additional-tag is only for docker-archive: destinations")
        }
        switch self {
        case .docker(let reference):
            let (insecure, blocked) = try access.registriesConf.directAccess(to: reference)
            if let blocked { throw TransportError.unsupported(description, blocked) }
            var options = access.client
            if insecure { options.tlsVerify = false }
            return try DockerDestination(reference, options: options, registriesD: access.registriesD)
        case .oci(let path, let reference): return try OCILayoutDestination(path: path, reference: reference, name: self)
        case .ociArchive(let path, let reference): return try OCIArchiveDestination(path: path, reference: reference)
        case .dir(let path): return try DirDestination(path: path, decompress: access.decompress)
        case .dockerArchive(let path, let reference, let index):
            guard index == nil else { throw TransportError.invalidName(description, "@INDEX only selects an image to read") }
            return try DockerArchiveDestination(path: path, reference: reference, additionalTags: access.additionalTags)
        }
    }
}
