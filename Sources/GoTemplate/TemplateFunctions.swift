import Foundation

/// Go's template functions and podman's additions, over `TemplateValue`s.
enum TemplateFunctions {
    static let names: Set<String> = [
        "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "print", "printf", "println",
        "json", "join", "lower", "upper", "split", "truncate",
    ]

    static func call(_ name: String, _ arguments: [TemplateValue]) throws(TemplateError) -> TemplateValue {
        func count(_ expected: Int) throws(TemplateError) {
            guard arguments.count == expected else { throw TemplateError("wrong number of args for \(name): want \(expected) got \(arguments.count)") }
        }
        func atLeast(_ expected: Int) throws(TemplateError) {
            guard arguments.count >= expected else { throw TemplateError("wrong number of args for \(name): want at least \(expected) got \(arguments.count)") }
        }
        switch name {
        case "and":
            try atLeast(1)
            return arguments.first { !$0.isTrue } ?? arguments[arguments.count - 1]
        case "or":
            try atLeast(1)
            return arguments.first(where: \.isTrue) ?? arguments[arguments.count - 1]
        case "not":
            try count(1)
            return .bool(!arguments[0].isTrue)
        case "eq":
            try atLeast(2)
            return .bool(arguments.dropFirst().contains { equal(arguments[0], $0) })
        case "ne":
            try count(2)
            return .bool(!equal(arguments[0], arguments[1]))
        case "lt", "le", "gt", "ge":
            try count(2)
            let order = try compare(arguments[0], arguments[1], name)
            return .bool(name == "lt" ? order < 0 : name == "le" ? order <= 0 : name == "gt" ? order > 0 : order >= 0)
        case "len":
            try count(1)
            switch arguments[0] {
            case .string(let text): return .int(Int64(text.utf8.count))
            case .array(let values): return .int(Int64(values.count))
            case .object(let fields): return .int(Int64(fields.count))
            case let other: throw TemplateError("len of type \(other.typeName)")
            }
        case "index":
            try atLeast(1)
            var current = arguments[0]
            for key in arguments.dropFirst() { current = try index(current, key) }
            return current
        case "print":
            // fmt.Sprint: a space between two operands when neither is a string.
            var text = ""
            for (position, argument) in arguments.enumerated() {
                if position > 0, !isString(argument), !isString(arguments[position - 1]) { text += " " }
                text += argument.printed
            }
            return .string(text)
        case "println":
            return .string(arguments.map(\.printed).joined(separator: " ") + "\n")
        case "printf":
            try atLeast(1)
            guard case .string(let format) = arguments[0] else { throw TemplateError("printf needs a format string first") }
            return .string(try Printf.format(format, Array(arguments.dropFirst())))
        case "json":
            try count(1)
            return .string(arguments[0].json)
        case "join":
            try count(2)
            guard case .array(let values) = arguments[0], case .string(let separator) = arguments[1] else {
                throw TemplateError("join takes a list and a separator string")
            }
            return .string(values.map(\.printed).joined(separator: separator))
        case "lower", "upper":
            try count(1)
            let text = arguments[0].printed
            return .string(name == "lower" ? text.lowercased() : text.uppercased())
        case "split":
            try count(2)
            guard case .string(let text) = arguments[0], case .string(let separator) = arguments[1], !separator.isEmpty else {
                throw TemplateError("split takes a string and a non-empty separator")
            }
            return .array(text.components(separatedBy: separator).map(TemplateValue.string))
        case "truncate":
            try count(2)
            guard case .int(let length) = arguments[1], length >= 0 else { throw TemplateError("truncate takes a string and a length") }
            return .string(String(arguments[0].printed.prefix(Int(length))))
        default:
            throw TemplateError("function \"\(name)\" not defined")
        }
    }

    private static func isString(_ value: TemplateValue) -> Bool {
        if case .string = value { true } else { false }
    }

    private static func number(_ value: TemplateValue) -> Double? {
        switch value {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    private static func equal(_ a: TemplateValue, _ b: TemplateValue) -> Bool {
        if let x = number(a), let y = number(b) { return x == y }
        return a == b
    }

    private static func compare(_ a: TemplateValue, _ b: TemplateValue, _ name: String) throws(TemplateError) -> Int {
        if let x = number(a), let y = number(b) { return x < y ? -1 : x > y ? 1 : 0 }
        if case .string(let x) = a, case .string(let y) = b { return x < y ? -1 : x > y ? 1 : 0 }
        throw TemplateError("\(name): incompatible types for comparison (\(a.typeName) and \(b.typeName))")
    }

    private static func index(_ value: TemplateValue, _ key: TemplateValue) throws(TemplateError) -> TemplateValue {
        switch (value, key) {
        case (.array(let values), .int(let position)):
            guard position >= 0, position < values.count else { throw TemplateError("index out of range: \(position)") }
            return values[Int(position)]
        case (.object(let fields), .string(let name)): return fields[name] ?? .absent
        case (.absent, _), (.null, _): return .absent
        default: throw TemplateError("can't index item of type \(value.typeName) with \(key.typeName)")
        }
    }
}

/// Go's `printf` for the verbs templates use: `%v %s %d %q %t %f %%`, with `-`, a width and a
/// precision (`%.12s` cuts a string, `%.2f` rounds).
enum Printf {
    static func format(_ format: String, _ arguments: [TemplateValue]) throws(TemplateError) -> String {
        var output = ""
        var remaining = arguments[...]
        var characters = format[...]
        while let character = characters.popFirst() {
            guard character == "%" else { output.append(character); continue }
            var left = false
            var width = ""
            while characters.first == "-" { left = true; characters.removeFirst() }
            while let digit = characters.first, digit.isNumber { width.append(digit); characters.removeFirst() }
            var precision: Int?
            if characters.first == "." {
                characters.removeFirst()
                var digits = ""
                while let digit = characters.first, digit.isNumber { digits.append(digit); characters.removeFirst() }
                precision = digits.count <= 7 ? Int(digits) ?? 0 : .max
            }
            // Go's own bound (a million), past which it prints %!(BADWIDTH) or %!(BADPREC).
            guard width.count <= 7, (Int(width) ?? 0) <= 1_000_000, (precision ?? 0) <= 1_000_000 else {
                throw TemplateError("printf: width or precision above 1000000")
            }
            guard let verb = characters.popFirst() else { throw TemplateError("printf: format ends in %") }
            if verb == "%" { output.append("%"); continue }
            guard let argument = remaining.popFirst() else { throw TemplateError("printf: missing argument for %\(verb)") }
            let text: String
            switch (verb, argument) {
            case ("v", _), ("s", _): text = precision.map { String(argument.printed.prefix($0)) } ?? argument.printed
            case ("d", .int(let value)): text = String(value)
            case ("t", .bool(let value)): text = String(value)
            case ("q", .string(let value)): text = TemplateValue.quoted(value)
            case ("f", .double(let value)): text = String(format: "%.\(precision ?? 6)f", value)
            case ("f", .int(let value)): text = String(format: "%.\(precision ?? 6)f", Double(value))
            default: throw TemplateError("printf: %\(verb) does not take a \(argument.typeName)")
            }
            let padding = String(repeating: " ", count: max(0, (Int(width) ?? 0) - text.count))
            output += left ? text + padding : padding + text
        }
        guard remaining.isEmpty else { throw TemplateError("printf: \(remaining.count) argument(s) left over") }
        return output
    }
}
