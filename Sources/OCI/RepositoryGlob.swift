/// A repository name pattern: `*` any run of characters within one path component, `**` any run
/// including `/`, `?` one character other than `/`; everything else literally. (The token
/// server's access rules and the UI's trust keys name repositories with it.)
public struct RepositoryGlob: Sendable, Equatable {
    public struct Invalid: Error {
        public let reason: String
    }

    private enum Token: Equatable {
        case literal(Character)
        case one, segment, any
    }

    private let tokens: [Token]

    public init(_ pattern: String) throws(Invalid) {
        guard !pattern.isEmpty else { throw Invalid(reason: "empty") }
        guard !pattern.contains("***") else { throw Invalid(reason: "*** is not meaningful; use ** for any depth") }
        var tokens: [Token] = []
        var characters = Substring(pattern)
        while let character = characters.first {
            characters = characters.dropFirst()
            switch character {
            case "*":
                if characters.first == "*" {
                    characters = characters.dropFirst()
                    tokens.append(.any)
                } else {
                    tokens.append(.segment)
                }
            case "?": tokens.append(.one)
            case "a"..."z", "0"..."9", ".", "_", "-", "/": tokens.append(.literal(character))
            default: throw Invalid(reason: "'\(character)' cannot appear in a repository name (lowercase letters, digits, . _ - / and the wildcards * ** ?)")
            }
        }
        self.tokens = tokens
    }

    public func matches(_ name: String) -> Bool {
        let characters = Array(name)
        // Memoised on (token, character) positions, so a pattern with many stars stays linear-ish.
        var known: [Int: Bool] = [:]
        func match(_ t: Int, _ c: Int) -> Bool {
            let key = t * (characters.count + 1) + c
            if let answer = known[key] { return answer }
            let answer: Bool
            if t == tokens.count {
                answer = c == characters.count
            } else {
                switch tokens[t] {
                case .literal(let expected): answer = c < characters.count && characters[c] == expected && match(t + 1, c + 1)
                case .one: answer = c < characters.count && characters[c] != "/" && match(t + 1, c + 1)
                case .segment: answer = match(t + 1, c) || (c < characters.count && characters[c] != "/" && match(t, c + 1))
                case .any: answer = match(t + 1, c) || (c < characters.count && match(t, c + 1))
                }
            }
            known[key] = answer
            return answer
        }
        return match(0, 0)
    }
}
