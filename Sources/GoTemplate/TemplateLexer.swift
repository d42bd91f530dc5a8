/// One piece of an action.
enum Token: Equatable, CustomStringConvertible {
    /// `.` (no fields) or `.A.B`.
    case dot([String])
    /// `$` (name "") or `$x`, with fields: `$x.A`.
    case variable(String, [String])
    case literal(TemplateValue)
    /// A keyword or a function name.
    case word(String)
    case pipe, open, close, comma, declare, comment

    var description: String {
        switch self {
        case .dot(let fields): fields.isEmpty ? "\".\"" : "\"." + fields.joined(separator: ".") + "\""
        case .variable(let name, let fields): "\"$" + ([name] + fields).joined(separator: ".") + "\""
        case .literal(let value): value.json
        case .word(let word): "\"\(word)\""
        case .pipe: "\"|\""
        case .open: "\"(\""
        case .close: "\")\""
        case .comma: "\",\""
        case .declare: "\":=\""
        case .comment: "comment"
        }
    }
}

/// Splits the inside of one `{{ }}` into tokens.
struct TemplateLexer {
    private let text: [Character]
    private let at: String
    private var index = 0

    init(_ text: String, at: String) {
        self.text = Array(text)
        self.at = at
    }

    mutating func tokens() throws(TemplateError) -> [Token] {
        var tokens: [Token] = []
        while true {
            while index < text.count, text[index].isWhitespace { index += 1 }
            guard index < text.count else { return tokens }
            let character = text[index]
            switch character {
            case "/" where starts(with: "/*"):
                guard tokens.isEmpty, String(text).trimmingWhitespace.hasSuffix("*/") else { throw error("comment must be the whole action") }
                return [.comment]
            case "|": index += 1; tokens.append(.pipe)
            case "(": index += 1; tokens.append(.open)
            case ")": index += 1; tokens.append(.close)
            case ",": index += 1; tokens.append(.comma)
            case ":" where starts(with: ":="): index += 2; tokens.append(.declare)
            case "\"": tokens.append(.literal(.string(try quoted())))
            case "`": tokens.append(.literal(.string(try raw())))
            case ".":
                index += 1
                if index < text.count, text[index].isNumber { throw error("numbers like .5 are not supported") }
                tokens.append(.dot(fields()))
            case "$":
                index += 1
                let name = identifier()
                tokens.append(.variable(name, fields()))
            case "-", "+", "0"..."9": tokens.append(.literal(try number()))
            default:
                let word = identifier()
                guard !word.isEmpty else { throw error("unexpected \"\(character)\" in command") }
                switch word {
                case "true": tokens.append(.literal(.bool(true)))
                case "false": tokens.append(.literal(.bool(false)))
                case "nil": tokens.append(.literal(.null))
                default: tokens.append(.word(word))
                }
            }
        }
    }

    private func starts(with prefix: String) -> Bool {
        let pattern = Array(prefix)
        return index + pattern.count <= text.count && Array(text[index..<index + pattern.count]) == pattern
    }

    private mutating func identifier() -> String {
        let start = index
        while index < text.count, text[index].isLetter || text[index].isNumber || text[index] == "_" { index += 1 }
        return String(text[start..<index])
    }

    /// `.A.B` after a dot or a variable: the field names, the first one already past its dot for a
    /// `.`-token.
    private mutating func fields() -> [String] {
        var fields: [String] = []
        if index < text.count, text[index].isLetter || text[index] == "_" { fields.append(identifier()) }
        while index + 1 < text.count, text[index] == ".", text[index + 1].isLetter || text[index + 1] == "_" {
            index += 1
            fields.append(identifier())
        }
        return fields
    }

    private mutating func quoted() throws(TemplateError) -> String {
        index += 1
        var value = ""
        while index < text.count {
            let character = text[index]
            index += 1
            switch character {
            case "\"": return value
            case "\\":
                guard index < text.count else { break }
                let escaped = text[index]
                index += 1
                switch escaped {
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "r": value.append("\r")
                case "\\", "\"", "'": value.append(escaped)
                default: throw error("unknown escape \\\(escaped) in string")
                }
            default: value.append(character)
            }
        }
        throw error("unterminated quoted string")
    }

    private mutating func raw() throws(TemplateError) -> String {
        index += 1
        let start = index
        while index < text.count, text[index] != "`" { index += 1 }
        guard index < text.count else { throw error("unterminated raw quoted string") }
        defer { index += 1 }
        return String(text[start..<index])
    }

    private mutating func number() throws(TemplateError) -> TemplateValue {
        let start = index
        if text[index] == "-" || text[index] == "+" { index += 1 }
        while index < text.count {
            let character = text[index]
            let signOfExponent = (character == "-" || character == "+") && (text[index - 1] == "e" || text[index - 1] == "E")
            guard character.isNumber || character == "." || character == "e" || character == "E" || signOfExponent else { break }
            index += 1
        }
        let literal = String(text[start..<index])
        if let value = Int64(literal) { return .int(value) }
        if let value = Double(literal) { return .double(value) }
        throw error("bad number syntax: \"\(literal)\"")
    }

    private func error(_ message: String) -> TemplateError { TemplateError("\(at): \(message)") }
}

extension String {
    var trimmingWhitespace: String { String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
}
