/// A repository name as the distribution spec's grammar allows it:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 characters.
public struct RepositoryName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let maxLength = 255
    public let value: String

    public init(parsing string: some StringProtocol) throws(NameError) {
        guard !string.isEmpty, string.utf8.count <= Self.maxLength else { throw .invalidRepository(String(string.prefix(300))) }
        for component in String(string).split(separator: "/", omittingEmptySubsequences: false) {
            guard Self.isValidComponent(component) else { throw .invalidRepository(String(string)) }
        }
        value = String(string)
    }

    public var description: String { value }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    private static func isValidComponent(_ component: Substring) -> Bool {
        let bytes = Array(component.utf8)
        guard let first = bytes.first, let last = bytes.last, isAlnum(first), isAlnum(last) else { return false }
        var i = 0
        while i < bytes.count {
            if isAlnum(bytes[i]) {
                i += 1
                continue
            }
            // A separator run: ".", "_", "__" or "-+", always followed by an alphanumeric.
            var j = i
            while j < bytes.count, !isAlnum(bytes[j]) { j += 1 }
            let run = bytes[i..<j]
            let ok =
                run.elementsEqual([UInt8(ascii: ".")]) || run.elementsEqual([UInt8(ascii: "_")])
                || run.elementsEqual([UInt8(ascii: "_"), UInt8(ascii: "_")]) || run.allSatisfy { $0 == UInt8(ascii: "-") }
            guard ok else { return false }
            i = j
        }
        return true
    }

    private static func isAlnum(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
public struct Tag: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: String

    public init(parsing string: some StringProtocol) throws(NameError) {
        let bytes = Array(string.utf8)
        guard let first = bytes.first, bytes.count <= 128, Self.isWordByte(first),
            bytes.dropFirst().allSatisfy({ Self.isWordByte($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") })
        else { throw .invalidTag(String(string.prefix(200))) }
        value = String(string)
    }

    public var description: String { value }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    private static func isWordByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_")
    }
}

/// What a `/manifests/<reference>` path names: a tag or a digest.
public enum ManifestReference: Hashable, Sendable, CustomStringConvertible {
    case tag(Tag)
    case digest(Digest)

    public init(parsing string: some StringProtocol) throws(ReferenceError) {
        if Digest.looksLikeDigest(string) {
            do { self = .digest(try Digest(parsing: string)) } catch { throw .digest(error) }
        } else {
            do { self = .tag(try Tag(parsing: string)) } catch { throw .name(error) }
        }
    }

    public var description: String {
        switch self {
        case .tag(let t): t.value
        case .digest(let d): d.description
        }
    }
}

public enum ReferenceError: Error, Equatable {
    case digest(DigestError)
    case name(NameError)
}

public enum NameError: Error, Equatable, CustomStringConvertible {
    case invalidRepository(String)
    case invalidTag(String)

    public var description: String {
        switch self {
        case .invalidRepository(let s): "invalid repository name '\(s.prefix(300))'"
        case .invalidTag(let s): "invalid tag '\(s.prefix(200))'"
        }
    }
}
