/// The media types the registry and the client need to recognise.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"
    public static let ociLayerTarGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerTar = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerTarZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerTarGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"
    public static let ociNonDistributableTarGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    public static let dockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    public static let octetStream = "application/octet-stream"

    /// Types whose document lists child manifests rather than a config and layers.
    public static let indexTypes: Set<String> = [ociIndex, dockerManifestList]
    /// Types whose document has a config and layers.
    public static let imageManifestTypes: Set<String> = [ociManifest, dockerManifest]

    /// Layers a registry is not expected to hold (the image-spec's non-distributable layers and
    /// Docker's foreign layers), so a manifest may name them without pushing them.
    public static func isNonDistributable(_ mediaType: String) -> Bool {
        mediaType.hasPrefix("application/vnd.oci.image.layer.nondistributable.") || mediaType == dockerForeignLayer
    }

    /// How a layer's bytes are compressed, as its media type says.
    public enum Compression: String, Sendable {
        case none, gzip, zstd
    }

    /// Whether the media type is a filesystem layer (a tar, maybe compressed) rather than an
    /// artifact's blob, which is copied as it is.
    public static func isImageLayer(_ mediaType: String) -> Bool {
        mediaType.hasPrefix("application/vnd.oci.image.layer.v1.tar") || mediaType.hasPrefix("application/vnd.docker.image.rootfs.diff.tar")
    }

    public static func compression(ofLayer mediaType: String) -> Compression {
        if mediaType.hasSuffix("+zstd") { return .zstd }
        if mediaType.hasSuffix("+gzip") || mediaType.hasSuffix(".tar.gzip") { return .gzip }
        return .none
    }

    /// The Docker schema 2 or OCI media type for the same kind of document or layer, as skopeo's
    /// conversions write them; nil when the target format cannot express it (zstd in Docker).
    public static func convert(_ mediaType: String, toOCI: Bool) -> String? {
        let pairs: [(docker: String, oci: String)] = [
            (dockerManifest, ociManifest), (dockerManifestList, ociIndex), (dockerConfig, ociConfig),
            (dockerLayerTarGzip, ociLayerTarGzip), (dockerLayerTar, ociLayerTar), (dockerForeignLayer, ociNonDistributableTarGzip),
        ]
        if toOCI {
            if let pair = pairs.first(where: { $0.docker == mediaType }) { return pair.oci }
            return mediaType.hasPrefix("application/vnd.docker.") ? nil : mediaType
        }
        if let pair = pairs.first(where: { $0.oci == mediaType }) { return pair.docker }
        if mediaType == ociLayerTarZstd || mediaType.hasPrefix("application/vnd.oci.") { return nil }
        return mediaType
    }

    /// A layer media type for `compression` in the same family (OCI or Docker) as `mediaType`.
    public static func layer(_ mediaType: String, withCompression compression: Compression) -> String? {
        let docker = mediaType.hasPrefix("application/vnd.docker.")
        switch (docker, compression) {
        case (true, .gzip): return dockerLayerTarGzip
        case (true, .none): return dockerLayerTar
        case (true, .zstd): return nil
        case (false, .gzip): return ociLayerTarGzip
        case (false, .none): return ociLayerTar
        case (false, .zstd): return ociLayerTarZstd
        }
    }
}
