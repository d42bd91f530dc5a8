import Testing

@testable import Transports

@Suite struct SemverTests {
    @Test(arguments: [
        (">= 1.2.0, < 2", ["1.2.0", "1.9.9", "v1.3"], ["1.1.9", "2.0.0", "latest", "1.5.0-rc.1"]),
        ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.0"]),
        ("^1.2.3", ["1.2.3", "1.9.0"], ["2.0.0", "1.2.2"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
        ("1.2.x", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("1.2", ["1.2.0", "1.2.5"], ["1.3.0"]),
        ("< 1.0 || >= 3", ["0.9.0", "3.1.0"], ["1.0.0", "2.5.0"]),
        (">= 1.0.0-rc.1", ["1.0.0-rc.2", "1.0.0", "2.0.0"], ["1.0.0-beta.1", "0.9.0"]),
        ("!= 1.0.0", ["1.0.1"], ["1.0.0"]),
    ])
    func constraints(_ text: String, _ accepted: [String], _ rejected: [String]) throws {
        let constraint = try SemverConstraint(parsing: text)
        for tag in accepted { #expect(constraint.matches(tag), "\(text) should accept \(tag)") }
        for tag in rejected { #expect(!constraint.matches(tag), "\(text) should reject \(tag)") }
    }

    @Test(arguments: ["", ">= ", "~> x.y", ">= one"])
    func invalidConstraints(_ text: String) {
        #expect(throws: SyncError.self) { try SemverConstraint(parsing: text) }
    }

    @Test func prereleasesOrderAsTheSpecSays() {
        let ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]
        let versions = ordered.compactMap { SemanticVersion($0) }
        #expect(versions.count == ordered.count)
        #expect(versions == versions.sorted())
    }
}
