/// Semantic versions and Masterminds/semver constraints, as skopeo sync's `images-by-semver` reads
/// them: `>= 1.2.0, < 2` (comma = and), `||` (or), `=`, `!=`, `>`, `<`, `>=`, `<=`, `~1.2`
/// (patch updates), `^1.2` (minor updates), `1.2.x` wildcards and bare versions. Tags that are
/// not versions (`latest`) never match; prereleases match only a constraint that names one.
struct SemanticVersion: Comparable, Sendable {
    let major: Int
    let minor: Int
    let patch: Int
    let prerelease: [String]

    /// `1`, `1.2`, `1.2.3`, `v1.2.3`, `1.2.3-rc.1`, `1.2.3+build` (build metadata ignored).
    init?(_ text: some StringProtocol) {
        var rest = Substring(text)
        if rest.first == "v" || rest.first == "V" { rest = rest.dropFirst() }
        if let plus = rest.firstIndex(of: "+") { rest = rest[..<plus] }
        var prerelease: [String] = []
        if let dash = rest.firstIndex(of: "-") {
            prerelease = rest[rest.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !prerelease.contains(where: \.isEmpty) else { return nil }
            rest = rest[..<dash]
        }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) && $0.count < 10 }) else { return nil }
        let numbers = parts.map { Int($0)! }
        major = numbers[0]
        minor = numbers.count > 1 ? numbers[1] : 0
        patch = numbers.count > 2 ? numbers[2] : 0
        self.prerelease = prerelease
    }

    init(_ major: Int, _ minor: Int, _ patch: Int, prerelease: [String] = []) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease
    }

    static func < (a: Self, b: Self) -> Bool {
        if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch) { return (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch) }
        if a.prerelease.isEmpty || b.prerelease.isEmpty { return !a.prerelease.isEmpty && b.prerelease.isEmpty }
        for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
            switch (Int(x), Int(y)) {
            case let (i?, j?): return i < j
            case (.some, nil): return true
            case (nil, .some): return false
            default: return x < y
            }
        }
        return a.prerelease.count < b.prerelease.count
    }
}

struct SemverConstraint: Sendable {
    private struct Bound: Sendable {
        enum Op: String, Sendable { case eq = "=", ne = "!=", gt = ">", lt = "<", ge = ">=", le = "<=" }
        let op: Op
        let version: SemanticVersion

        func accepts(_ v: SemanticVersion) -> Bool {
            switch op {
            case .eq: v == version
            case .ne: v != version
            case .gt: v > version
            case .lt: v < version
            case .ge: v >= version
            case .le: v <= version
            }
        }
    }

    /// Alternatives (`||`), each a conjunction of bounds.
    private let alternatives: [[Bound]]
    private let allowsPrerelease: Bool

    init(parsing text: String) throws(SyncError) {
        var alternatives: [[Bound]] = []
        for alternative in text.components(separatedBy: "||") {
            var bounds: [Bound] = []
            for term in Self.terms(alternative) {
                bounds += try Self.bounds(term, in: text)
            }
            guard !bounds.isEmpty else { throw .invalidConstraint(text, "empty constraint") }
            alternatives.append(bounds)
        }
        self.alternatives = alternatives
        allowsPrerelease = alternatives.contains { $0.contains { !$0.version.prerelease.isEmpty } }
    }

    func matches(_ tag: String) -> Bool {
        guard let version = SemanticVersion(tag) else { return false }
        if !version.prerelease.isEmpty && !allowsPrerelease { return false }
        return alternatives.contains { $0.allSatisfy { $0.accepts(version) } }
    }

    /// Splits `>= 1.2, < 2` and `>=1.2 <2` into `>=1.2`, `<2`.
    private static func terms(_ alternative: String) -> [String] {
        var terms: [String] = []
        var current = ""
        for token in alternative.replacingOccurrences(of: ",", with: " ").split(separator: " ") {
            if token.allSatisfy({ "<>=!~^".contains($0) }) {
                current += token
            } else {
                terms.append(current + token)
                current = ""
            }
        }
        if !current.isEmpty { terms.append(current) }
        return terms
    }

    private static func bounds(_ term: String, in text: String) throws(SyncError) -> [Bound] {
        let operators = ["!=", ">=", "<=", "=", ">", "<", "~>", "~", "^"]
        let op = operators.first { term.hasPrefix($0) } ?? ""
        var versionText = String(term.dropFirst(op.count))
        if versionText.hasPrefix("v") { versionText.removeFirst() }
        let parts = versionText.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let wildcard = parts.firstIndex { ["x", "X", "*"].contains($0) }
        let given = wildcard ?? parts.count
        let numeric = Array(parts.prefix(given)).joined(separator: ".")
        guard given > 0 || op.isEmpty || op == "=" else { throw .invalidConstraint(text, "'\(term)' has no version") }
        if given == 0 { return [Bound(op: .ge, version: SemanticVersion(0, 0, 0))] }
        guard let version = SemanticVersion(numeric) else { throw .invalidConstraint(text, "'\(term)' is not a version") }
        let upper: SemanticVersion
        switch given {
        case 1: upper = SemanticVersion(version.major + 1, 0, 0)
        case 2: upper = SemanticVersion(version.major, version.minor + 1, 0)
        default: upper = SemanticVersion(version.major, version.minor, version.patch + 1)
        }
        switch op {
        case "", "=":
            return given >= 3 && wildcard == nil ? [Bound(op: .eq, version: version)] : [Bound(op: .ge, version: version), Bound(op: .lt, version: upper)]
        case "!=": return [Bound(op: .ne, version: version)]
        case ">": return [Bound(op: given >= 3 ? .gt : .ge, version: given >= 3 ? version : upper)]
        case "<": return [Bound(op: .lt, version: version)]
        case ">=": return [Bound(op: .ge, version: version)]
        case "<=": return given >= 3 ? [Bound(op: .le, version: version)] : [Bound(op: .lt, version: upper)]
        case "~", "~>":
            let top = given == 1 ? SemanticVersion(version.major + 1, 0, 0) : SemanticVersion(version.major, version.minor + 1, 0)
            return [Bound(op: .ge, version: version), Bound(op: .lt, version: top)]
        case "^":
            let top =
                version.major > 0 || given == 1 ? SemanticVersion(version.major + 1, 0, 0)
                : version.minor > 0 || given == 2 ? SemanticVersion(0, version.minor + 1, 0) : SemanticVersion(0, 0, version.patch + 1)
            return [Bound(op: .ge, version: version), Bound(op: .lt, version: top)]
        default: throw .invalidConstraint(text, "unknown operator in '\(term)'")
        }
    }
}
