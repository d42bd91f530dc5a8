import Foundation

/// An OCI image manifest (also the shape of a Docker schema 2 manifest).
public struct ImageManifest: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(
        mediaType: String? = MediaType.ociManifest, artifactType: String? = nil, config: Descriptor, layers: [Descriptor],
        subject: Descriptor? = nil, annotations: [String: String]? = nil
    ) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.subject = subject
        self.annotations = annotations
    }
}

/// An OCI image index (also the shape of a Docker manifest list).
public struct ImageIndex: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(
        mediaType: String? = MediaType.ociIndex, artifactType: String? = nil, manifests: [Descriptor],
        subject: Descriptor? = nil, annotations: [String: String]? = nil
    ) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.manifests = manifests
        self.subject = subject
        self.annotations = annotations
    }
}

/// What a registry needs to know about a pushed manifest, whatever its kind.
public struct ManifestSummary: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case image(config: Descriptor, layers: [Descriptor])
        case index(manifests: [Descriptor])
    }
    public let mediaType: String
    public let kind: Kind
    public let artifactType: String?
    public let subject: Descriptor?
    public let annotations: [String: String]?

    /// The referrers API's `artifactType`: the manifest's own, else its config's media type.
    public var effectiveArtifactType: String? {
        if let artifactType { return artifactType }
        if case .image(let config, _) = kind { return config.mediaType }
        return nil
    }

    /// Parses and checks a manifest body. `contentType` is the request's `Content-Type`, if any.
    public init(parsing body: [UInt8], contentType: String?) throws(ManifestError) {
        let declared = contentType.map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces) }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(body))
        } catch {
            throw .invalid("manifest is not valid JSON: \(Self.describe(error))")
        }
        if header.schemaVersion == 1 || declared == MediaType.dockerSchema1 || declared == MediaType.dockerSchema1Signed {
            throw .invalid("schema 1 manifests are not supported")
        }
        guard header.schemaVersion == 2 else { throw .invalid("schemaVersion must be 2") }
        if let inBody = header.mediaType, let declared, !declared.isEmpty, inBody != declared {
            throw .invalid("Content-Type '\(declared)' contradicts the manifest's mediaType '\(inBody)'")
        }
        let mediaType: String
        if let inBody = header.mediaType {
            mediaType = inBody
        } else if let declared, MediaType.indexTypes.contains(declared) || MediaType.imageManifestTypes.contains(declared) {
            mediaType = declared
        } else {
            mediaType = header.manifests != nil ? MediaType.ociIndex : MediaType.ociManifest
        }
        do {
            if MediaType.imageManifestTypes.contains(mediaType) {
                let m = try JSONDecoder().decode(ImageManifest.self, from: Data(body))
                kind = .image(config: m.config, layers: m.layers)
                artifactType = m.artifactType
                subject = m.subject
                annotations = m.annotations
            } else if MediaType.indexTypes.contains(mediaType) {
                let i = try JSONDecoder().decode(ImageIndex.self, from: Data(body))
                kind = .index(manifests: i.manifests)
                artifactType = i.artifactType
                subject = i.subject
                annotations = i.annotations
            } else {
                throw ManifestError.invalid("unsupported manifest media type '\(mediaType.prefix(200))'")
            }
        } catch let error as ManifestError {
            throw error
        } catch {
            throw .invalid("manifest does not match its media type \(mediaType): \(Self.describe(error))")
        }
        self.mediaType = mediaType
        if case .image(let config, let layers) = kind {
            for d in [config] + layers where d.size < 0 { throw .invalid("descriptor \(d.digest) has a negative size") }
        }
    }

    private struct Header: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var manifests: [AnyDecodable]?
    }

    private struct AnyDecodable: Decodable {
        init(from decoder: any Decoder) throws {}
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): c.debugDescription
        case DecodingError.keyNotFound(let k, _): "missing field '\(k.stringValue)'"
        case DecodingError.typeMismatch(_, let c): "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.valueNotFound(_, let c): "null at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        default: "\(error)"
        }
    }
}

public enum ManifestError: Error, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let s): s
        }
    }
}
