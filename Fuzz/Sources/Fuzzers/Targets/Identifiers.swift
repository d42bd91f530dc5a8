import OCI

/// Digest parsing: any bytes either parse to a digest whose text parses back to itself, or throw.
enum DigestTarget {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let digest = try? Digest(parsing: text) {
            precondition((try? Digest(parsing: digest.description)) == digest, "a digest's text does not parse back")
        }
    }
}

/// Image references (`registry/name:tag@digest`): parse or throw, and a parsed reference's text
/// parses back to the same reference.
enum ReferenceTarget {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let reference = try? ImageReference(parsing: text) {
            precondition((try? ImageReference(parsing: reference.description)) == reference, "a reference's text does not parse back")
        }
        _ = try? RepositoryName(parsing: text)
        _ = try? Tag(parsing: text)
    }
}
