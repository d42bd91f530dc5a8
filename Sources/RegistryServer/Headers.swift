import HTTPTypes

extension HTTPField.Name {
    static let dockerContentDigest = Self("Docker-Content-Digest")!
    static let dockerAPIVersion = Self("Docker-Distribution-API-Version")!
    static let dockerUploadUUID = Self("Docker-Upload-UUID")!
    static let ociSubject = Self("OCI-Subject")!
    static let ociTag = Self("OCI-Tag")!
    static let ociFiltersApplied = Self("OCI-Filters-Applied")!
    /// The `ns` a proxy scoped the request by (the spec's "Registry Proxying").
    static let ociNamespace = Self("OCI-Namespace")!
    static let range = Self("Range")!
    static let contentRange = Self("Content-Range")!
    static let link = Self("Link")!
    static let supportsSignatures = Self("X-Registry-Supports-Signatures")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
}
