import Foundation

/// A parsed `--format` template, run over JSON values.
///
/// What it takes of Go's text/template: text and `{{ }}` actions with `{{-`/`-}}` trimming and
/// `/* comments */`; fields (`.A.B`, `$.A`, `$x.A`, `(pipeline).A`), string, raw-string, number,
/// `true`/`false`/`nil` literals; pipelines with `|` and `$x :=`; `if`/`else if`/`else`, `range`
/// (lists and maps, with `$i, $v :=`), `with`; Go's functions `and or not eq ne lt le gt ge len
/// index print printf println` and the ones podman adds (`json join lower upper split
/// truncate`). Values print as Go's `%v` prints them. What it does not take (`define`,
/// `template`, `block`, `break`, other functions) is refused when the template is parsed.
public struct GoTemplate: Sendable {
    let nodes: [Node]

    public init(_ source: String) throws(TemplateError) {
        var parser = TemplateParser(source)
        nodes = try parser.parse()
    }

    /// A template as podman and skopeo take one on the command line: `\t` and `\n` written out
    /// stand for a tab and a newline, and each rendering ends with a newline.
    public init(commandLine source: String) throws(TemplateError) {
        var text = source.replacingOccurrences(of: "\\t", with: "\t").replacingOccurrences(of: "\\n", with: "\n")
        if !text.hasSuffix("\n") { text += "\n" }
        try self.init(text)
    }

    public func render(_ data: TemplateValue) throws(TemplateError) -> String {
        var output = ""
        var variables = ["": data]
        try run(nodes, dot: data, variables: &variables, into: &output)
        return output
    }

    private func run(_ nodes: [Node], dot: TemplateValue, variables: inout [String: TemplateValue], into output: inout String) throws(TemplateError) {
        for node in nodes {
            switch node {
            case .text(let text):
                output += text
            case .action(let pipeline):
                let value = try evaluate(pipeline, dot: dot, variables: variables)
                if let name = pipeline.variables.first { variables[name] = value } else { output += value.printed }
            case .branch(.if, let pipeline, let body, let otherwise):
                var scope = variables
                let value = try evaluate(pipeline, dot: dot, variables: variables)
                try run(value.isTrue ? body : otherwise, dot: dot, variables: &scope, into: &output)
            case .branch(.with, let pipeline, let body, let otherwise):
                var scope = variables
                let value = try evaluate(pipeline, dot: dot, variables: variables)
                if let name = pipeline.variables.first { scope[name] = value }
                try run(value.isTrue ? body : otherwise, dot: value.isTrue ? value : dot, variables: &scope, into: &output)
            case .branch(.range, let pipeline, let body, let otherwise):
                var unnamed = pipeline
                unnamed.variables = []
                let items: [(key: TemplateValue, value: TemplateValue)]
                switch try evaluate(unnamed, dot: dot, variables: variables) {
                case .array(let values): items = values.enumerated().map { (.int(Int64($0.offset)), $0.element) }
                case .object(let fields): items = fields.keys.sorted().map { (.string($0), fields[$0]!) }
                case .absent, .null: items = []
                case let other: throw TemplateError("range can't iterate over \(other.printed.prefix(80))")
                }
                var scope = variables
                if items.isEmpty { try run(otherwise, dot: dot, variables: &scope, into: &output) }
                for item in items {
                    var scope = variables
                    switch pipeline.variables.count {
                    case 1: scope[pipeline.variables[0]] = item.value
                    case 2: (scope[pipeline.variables[0]], scope[pipeline.variables[1]]) = (item.key, item.value)
                    default: break
                    }
                    try run(body, dot: item.value, variables: &scope, into: &output)
                }
            }
        }
    }

    private func evaluate(_ pipeline: Pipeline, dot: TemplateValue, variables: [String: TemplateValue]) throws(TemplateError) -> TemplateValue {
        var piped: TemplateValue?
        for command in pipeline.commands {
            piped = try evaluate(command, dot: dot, variables: variables, piped: piped)
        }
        return piped ?? .absent
    }

    private func evaluate(_ command: [Operand], dot: TemplateValue, variables: [String: TemplateValue], piped: TemplateValue?) throws(TemplateError) -> TemplateValue {
        guard let first = command.first else { throw TemplateError("empty command") }
        if case .function(let name) = first {
            var arguments: [TemplateValue] = []
            for operand in command.dropFirst() { arguments.append(try value(of: operand, dot: dot, variables: variables)) }
            if let piped { arguments.append(piped) }
            return try TemplateFunctions.call(name, arguments)
        }
        guard command.count == 1, piped == nil else { throw TemplateError("can't give argument to non-function \(first)") }
        return try value(of: first, dot: dot, variables: variables)
    }

    private func value(of operand: Operand, dot: TemplateValue, variables: [String: TemplateValue]) throws(TemplateError) -> TemplateValue {
        switch operand {
        case .literal(let value): return value
        case .path(nil, let fields): return try Self.walk(dot, fields)
        case .path(let name?, let fields):
            guard let start = variables[name] else { throw TemplateError("undefined variable: $\(name)") }
            return try Self.walk(start, fields)
        case .group(let pipeline, let fields): return try Self.walk(try evaluate(pipeline, dot: dot, variables: variables), fields)
        case .function(let name): throw TemplateError("function \(name) needs parentheses to be an argument: (\(name) …)")
        }
    }

    /// `.A.B` from `value`: a field a JSON object lacks is nil, as a missing key of a Go map.
    private static func walk(_ value: TemplateValue, _ fields: [String]) throws(TemplateError) -> TemplateValue {
        var current = value
        for field in fields {
            switch current {
            case .object(let object): current = object[field] ?? .absent
            case .absent, .null: return .absent
            default: throw TemplateError("can't evaluate field \(field) in type \(current.typeName)")
            }
        }
        return current
    }
}
