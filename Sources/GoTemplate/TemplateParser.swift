/// A template that could not be read or run, with where (`1:14` is line 1, column 14), in
/// the words Go's text/template uses where there are some.
public struct TemplateError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = "template: " + description }
}

/// The parsed template: text and actions, with `if`, `range` and `with` holding their bodies.
indirect enum Node: Equatable, Sendable {
    case text(String)
    case action(Pipeline)
    case branch(Kind, Pipeline, body: [Node], otherwise: [Node])

    enum Kind: Equatable, Sendable { case `if`, range, with }
}

/// `$i, $v := .A | f "x"`: commands joined by `|`, each value passed on as the last argument of
/// the next.
struct Pipeline: Equatable, Sendable {
    var variables: [String] = []
    var commands: [[Operand]] = []
}

indirect enum Operand: Equatable, Sendable {
    /// `.`, `.A.B`, `$`, `$x.A`: `variable` nil for the dot.
    case path(variable: String?, fields: [String])
    case literal(TemplateValue)
    case function(String)
    /// `(pipeline).A.B`
    case group(Pipeline, fields: [String])
}

/// Reads Go template syntax: `{{` `}}` actions with `-` trimming, comments, pipelines, and the
/// `if`/`else if`/`else`/`range`/`with`/`end` structure. `define`, `template`, `block` and
/// `break`/`continue` are refused by name.
struct TemplateParser {
    /// How deep `if`/`range`/`with` (and `else if` chains) and parentheses may nest: parsing and
    /// running recurse that deep, and a template from a command line has no need of more.
    static let maximumDepth = 200

    private let source: [Character]
    private var position = 0
    private var depth = 0

    init(_ source: String) { self.source = Array(source) }

    mutating func parse() throws(TemplateError) -> [Node] {
        let (nodes, end) = try parseList()
        switch end {
        case nil: return nodes
        case .end?: throw error("unexpected {{end}}")
        case .otherwise?: throw error("unexpected {{else}}")
        }
    }

    /// What ended a list of nodes: `{{end}}`, or `{{else}}` with what follows it (`if .X` in
    /// `{{else if .X}}`).
    private enum ListEnd { case end, otherwise([Token]) }

    /// Nodes until `{{end}}` or `{{else…}}`, or the end of the template (nil).
    private mutating func parseList() throws(TemplateError) -> ([Node], ListEnd?) {
        var nodes: [Node] = []
        while position < source.count {
            guard let open = nextAction(from: position) else {
                nodes.append(.text(String(source[position...])))
                position = source.count
                break
            }
            var text = String(source[position..<open])
            position = open + 2
            if peek("-"), position + 1 < source.count, source[position + 1].isWhitespace {
                text = String(text.reversed().drop(while: \.isWhitespace).reversed())
                position += 1
            }
            if !text.isEmpty { nodes.append(.text(text)) }
            let (content, trimAfter) = try actionContent()
            if trimAfter { while position < source.count, source[position].isWhitespace { position += 1 } }
            var lexer = TemplateLexer(content, at: describe(open))
            let tokens = try lexer.tokens()
            guard let first = tokens.first else { throw error("missing value for command", at: open) }
            switch first {
            case .word("end"):
                guard tokens.count == 1 else { throw error("unexpected \(tokens[1]) in end", at: open) }
                return (nodes, .end)
            case .word("else"):
                return (nodes, .otherwise(Array(tokens.dropFirst())))
            case .word(let keyword) where ["if", "range", "with"].contains(keyword):
                nodes.append(try branch(keyword, Array(tokens.dropFirst()), at: open))
            case .word(let keyword) where ["define", "template", "block", "break", "continue"].contains(keyword):
                throw error("{{\(keyword)}} is not supported by berth's templates", at: open)
            default:
                if case .comment = first { continue }
                var reader = PipelineReader(tokens: tokens, at: describe(open))
                nodes.append(.action(try reader.pipeline(declaring: true)))
            }
        }
        return (nodes, nil)
    }

    private mutating func branch(_ keyword: String, _ tokens: [Token], at open: Int) throws(TemplateError) -> Node {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw error("nested more than \(Self.maximumDepth) levels deep", at: open) }
        let kind: Node.Kind = keyword == "if" ? .if : keyword == "range" ? .range : .with
        var reader = PipelineReader(tokens: tokens, at: describe(open))
        let pipeline = try reader.pipeline(declaring: kind != .if)
        if pipeline.commands.isEmpty { throw error("missing value for \(keyword)", at: open) }
        let (body, end) = try parseList()
        var otherwise: [Node] = []
        switch end {
        case .end?: break
        case .otherwise(let rest)? where rest.isEmpty:
            let (nodes, close) = try parseList()
            guard case .end? = close else { throw error("expected {{end}} after {{else}} of {{\(keyword)}}", at: open) }
            otherwise = nodes
        case .otherwise(let rest)?:
            // `{{else if X}}…{{end}}` is `{{else}}{{if X}}…{{end}}{{end}}` with one shared end.
            guard case .word(let next)? = rest.first, ["if", "with"].contains(next) else { throw error("unexpected \(rest[0]) after else", at: open) }
            otherwise = [try branch(next, Array(rest.dropFirst()), at: open)]
        case nil: throw error("unexpected EOF: {{\(keyword)}} has no {{end}}", at: open)
        }
        return .branch(kind, pipeline, body: body, otherwise: otherwise)
    }

    /// The text of the action starting at `position`, which is left after its `}}`.
    private mutating func actionContent() throws(TemplateError) -> (String, Bool) {
        let start = position
        var inString: Character?
        var index = position
        while index + 1 < source.count {
            let character = source[index]
            if let quote = inString {
                if character == "\\", quote == "\"" { index += 2; continue }
                if character == quote { inString = nil }
            } else if character == "\"" || character == "`" || character == "'" {
                inString = character
            } else if character == "}", source[index + 1] == "}" {
                var content = String(source[start..<index])
                var trim = false
                if content.hasSuffix(" -") || content.hasSuffix("\t-") || content.hasSuffix("\n-") {
                    content.removeLast()
                    trim = true
                }
                position = index + 2
                return (content, trim)
            }
            index += 1
        }
        throw error("unclosed action", at: start - 2)
    }

    /// Where the next `{{` starts, from `start` on.
    private func nextAction(from start: Int) -> Int? {
        var index = start
        while index + 1 < source.count {
            if source[index] == "{", source[index + 1] == "{" { return index }
            index += 1
        }
        return nil
    }

    private func peek(_ character: Character) -> Bool { position < source.count && source[position] == character }

    private func describe(_ offset: Int) -> String {
        var line = 1
        var column = 1
        for character in source[..<min(offset, source.count)] {
            if character == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return "\(line):\(column)"
    }

    private func error(_ message: String, at offset: Int? = nil) -> TemplateError {
        TemplateError("\(describe(offset ?? position)): \(message)")
    }
}

/// Turns an action's tokens into a pipeline.
struct PipelineReader {
    let tokens: [Token]
    let at: String
    private var index = 0
    private var depth = 0

    init(tokens: [Token], at: String) {
        self.tokens = tokens
        self.at = at
    }

    mutating func pipeline(declaring: Bool) throws(TemplateError) -> Pipeline {
        var pipeline = Pipeline()
        if declaring, let declared = declarations() { pipeline.variables = declared }
        var command: [Operand] = []
        while index < tokens.count {
            let token = tokens[index]
            index += 1
            switch token {
            case .pipe:
                guard !command.isEmpty else { throw error("missing command before |") }
                pipeline.commands.append(command)
                command = []
            case .close:
                index -= 1
                pipeline.commands.append(command)
                return pipeline
            default:
                command.append(try operand(token))
            }
        }
        if command.isEmpty, !pipeline.commands.isEmpty { throw error("missing command after |") }
        if !command.isEmpty { pipeline.commands.append(command) }
        if !pipeline.variables.isEmpty, pipeline.commands.isEmpty { throw error("missing value for declaration") }
        return pipeline
    }

    /// `$x :=` or `$i, $v :=` at the start, consumed; nil (and nothing consumed) otherwise.
    private mutating func declarations() -> [String]? {
        var names: [String] = []
        var probe = index
        while probe < tokens.count, case .variable(let name, let fields) = tokens[probe], fields.isEmpty {
            names.append(name)
            probe += 1
            if probe < tokens.count, tokens[probe] == .comma { probe += 1; continue }
            break
        }
        guard !names.isEmpty, names.count <= 2, probe < tokens.count, tokens[probe] == .declare else { return nil }
        index = probe + 1
        return names
    }

    private mutating func operand(_ token: Token) throws(TemplateError) -> Operand {
        switch token {
        case .dot(let fields): return .path(variable: nil, fields: fields)
        case .variable(let name, let fields): return .path(variable: name, fields: fields)
        case .literal(let value): return .literal(value)
        case .word(let name):
            guard TemplateFunctions.names.contains(name) else { throw error("function \"\(name)\" not defined") }
            return .function(name)
        case .open:
            depth += 1
            defer { depth -= 1 }
            guard depth <= TemplateParser.maximumDepth else { throw error("parentheses nested more than \(TemplateParser.maximumDepth) deep") }
            let inner = try pipeline(declaring: false)
            guard index < tokens.count, tokens[index] == .close else { throw error("unclosed left paren") }
            index += 1
            var fields: [String] = []
            if index < tokens.count, case .dot(let more) = tokens[index], !more.isEmpty {
                fields = more
                index += 1
            }
            return .group(inner, fields: fields)
        default: throw error("unexpected \(token) in operand")
        }
    }

    private func error(_ message: String) -> TemplateError { TemplateError("\(at): \(message)") }
}
