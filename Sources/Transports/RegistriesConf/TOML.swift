/// The part of TOML 1.0 that containers-registries.conf(5) files use: comments, bare, quoted and
/// dotted keys, basic and literal strings, booleans, integers, arrays (over several lines),
/// inline tables, `[tables]` and `[[arrays of tables]]`. Multi-line strings, floats and dates are
/// refused with the line they are on, as is anything redefined.
enum TOMLValue: Equatable, Sendable {
    case string(String)
    case bool(Bool)
    case integer(Int64)
    case array([TOMLValue])
    case table([String: TOMLValue])

    var string: String? { if case .string(let value) = self { value } else { nil } }
    var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
    var array: [TOMLValue]? { if case .array(let value) = self { value } else { nil } }
    var table: [String: TOMLValue]? { if case .table(let value) = self { value } else { nil } }
}

struct TOMLError: Error, Equatable {
    let line: Int
    let problem: String
}

struct TOMLParser {
    private let bytes: [UInt8]
    private var position = 0
    private var line = 1
    /// The document, and where `key = value` lines currently go (a path of keys, and for an
    /// array of tables the last element of it).
    private var root: [String: TOMLValue] = [:]
    private var current: [String] = []
    /// Tables defined by a header or as arrays of tables: defining one twice is an error.
    private var defined: Set<[String]> = []

    static func parse(_ text: String) throws(TOMLError) -> [String: TOMLValue] {
        var parser = TOMLParser(bytes: Array(text.utf8))
        try parser.document()
        return parser.root
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    private func fail(_ problem: String) -> TOMLError { TOMLError(line: line, problem: problem) }

    private mutating func document() throws(TOMLError) {
        while true {
            skipBlank(newlines: true)
            guard let byte = peek else { return }
            if byte == UInt8(ascii: "[") {
                try header()
            } else {
                let key = try dottedKey()
                skipBlank(newlines: false)
                try expect(UInt8(ascii: "="), "expected '=' after the key")
                skipBlank(newlines: false)
                let value = try value(depth: 0)
                try assign(value, at: current, key)
            }
            try endOfLine()
        }
    }

    private mutating func header() throws(TOMLError) {
        position += 1
        let isArray = peek == UInt8(ascii: "[")
        if isArray { position += 1 }
        skipBlank(newlines: false)
        let path = try dottedKey()
        skipBlank(newlines: false)
        try expect(UInt8(ascii: "]"), "expected ']' to close the table header")
        if isArray { try expect(UInt8(ascii: "]"), "expected ']]' to close the array-of-tables header") }
        if isArray {
            try appendTable(at: path)
        } else {
            guard !defined.contains(path) else { throw fail("table [\(path.joined(separator: "."))] defined twice") }
            defined.insert(path)
            let here = line
            try Self.update(&root, path, line: line) { (value: inout TOMLValue?) throws(TOMLError) in
                if value == nil { value = .table([:]) }
                guard value?.table != nil else { throw TOMLError(line: here, problem: "[\(path.joined(separator: "."))] is already a value") }
            }
        }
        current = path
    }

    /// `[[path]]`: a new, empty table at the end of the array at `path`.
    private mutating func appendTable(at path: [String]) throws(TOMLError) {
        let here = line
        try Self.update(&root, path, line: line) { (value: inout TOMLValue?) throws(TOMLError) in
            switch value {
            case nil: value = .array([.table([:])])
            case .array(var elements)? where elements.allSatisfy({ $0.table != nil }):
                elements.append(.table([:]))
                value = .array(elements)
            default: throw TOMLError(line: here, problem: "[[\(path.joined(separator: "."))]] is already a value that is not an array of tables")
            }
        }
        // Tables under the new element may be defined again.
        defined = defined.filter { !($0.count > path.count && Array($0.prefix(path.count)) == path) }
    }

    private mutating func assign(_ value: TOMLValue, at table: [String], _ key: [String]) throws(TOMLError) {
        let path = table + key
        let here = line
        try Self.update(&root, path, line: line) { (slot: inout TOMLValue?) throws(TOMLError) in
            guard slot == nil else { throw TOMLError(line: here, problem: "key \(key.joined(separator: ".")) defined twice") }
            slot = value
        }
    }

    /// Walks `path` from the root (into the last element of arrays of tables, creating tables on
    /// the way) and lets `body` change the value at its end.
    private static func update(
        _ root: inout [String: TOMLValue], _ path: [String], line: Int, _ body: (inout TOMLValue?) throws(TOMLError) -> Void
    ) throws(TOMLError) {
        func descend(_ table: inout [String: TOMLValue], _ rest: ArraySlice<String>) throws(TOMLError) {
            let key = rest.first!
            if rest.count == 1 {
                var slot = table[key]
                try body(&slot)
                table[key] = slot
                return
            }
            switch table[key] {
            case nil:
                var inner: [String: TOMLValue] = [:]
                try descend(&inner, rest.dropFirst())
                table[key] = .table(inner)
            case .table(var inner)?:
                try descend(&inner, rest.dropFirst())
                table[key] = .table(inner)
            case .array(var elements)? where elements.last?.table != nil:
                var inner = elements.removeLast().table!
                try descend(&inner, rest.dropFirst())
                elements.append(.table(inner))
                table[key] = .array(elements)
            default:
                throw TOMLError(line: line, problem: "\(key) is a value, not a table")
            }
        }
        try descend(&root, path[...])
    }

    private mutating func dottedKey() throws(TOMLError) -> [String] {
        var keys = [try simpleKey()]
        while true {
            skipBlank(newlines: false)
            guard peek == UInt8(ascii: ".") else { return keys }
            position += 1
            skipBlank(newlines: false)
            keys.append(try simpleKey())
        }
    }

    private mutating func simpleKey() throws(TOMLError) -> String {
        switch peek {
        case UInt8(ascii: "\"")?: return try basicString()
        case UInt8(ascii: "'")?: return try literalString()
        default:
            let start = position
            while let byte = peek, Self.isBare(byte) { position += 1 }
            guard position > start else { throw fail("expected a key") }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }
    }

    private static func isBare(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == 0x2d || byte == 0x5f
    }

    private mutating func value(depth: Int) throws(TOMLError) -> TOMLValue {
        guard depth < 64 else { throw fail("values nested too deeply") }
        switch peek {
        case UInt8(ascii: "\"")?: return .string(try basicString())
        case UInt8(ascii: "'")?: return .string(try literalString())
        case UInt8(ascii: "[")?: return try array(depth: depth)
        case UInt8(ascii: "{")?: return try inlineTable(depth: depth)
        default:
            let start = position
            while let byte = peek, Self.isBare(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":") {
                position += 1
            }
            let word = String(decoding: bytes[start..<position], as: UTF8.self)
            switch word {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default:
                guard let number = Int64(word.replacingOccurrences(of: "_", with: "")) else {
                    throw fail(word.isEmpty ? "expected a value" : "unsupported value '\(word.prefix(40))' (strings need quotes)")
                }
                return .integer(number)
            }
        }
    }

    private mutating func array(depth: Int) throws(TOMLError) -> TOMLValue {
        position += 1
        var elements: [TOMLValue] = []
        while true {
            skipBlank(newlines: true)
            if peek == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            elements.append(try value(depth: depth + 1))
            skipBlank(newlines: true)
            if peek == UInt8(ascii: ",") {
                position += 1
            } else if peek != UInt8(ascii: "]") {
                throw fail("expected ',' or ']' in an array")
            }
        }
    }

    private mutating func inlineTable(depth: Int) throws(TOMLError) -> TOMLValue {
        position += 1
        var table: [String: TOMLValue] = [:]
        skipBlank(newlines: false)
        if peek == UInt8(ascii: "}") {
            position += 1
            return .table([:])
        }
        while true {
            skipBlank(newlines: false)
            let key = try simpleKey()
            skipBlank(newlines: false)
            try expect(UInt8(ascii: "="), "expected '=' in an inline table")
            skipBlank(newlines: false)
            guard table[key] == nil else { throw fail("key \(key) defined twice") }
            table[key] = try value(depth: depth + 1)
            skipBlank(newlines: false)
            if peek == UInt8(ascii: ",") {
                position += 1
            } else {
                try expect(UInt8(ascii: "}"), "expected ',' or '}' in an inline table")
                return .table(table)
            }
        }
    }

    private mutating func basicString() throws(TOMLError) -> String {
        position += 1
        if peek == UInt8(ascii: "\""), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "\"") {
            throw fail("multi-line strings are not supported")
        }
        var scalars: [UInt8] = []
        while let byte = peek {
            position += 1
            switch byte {
            case UInt8(ascii: "\""): return String(decoding: scalars, as: UTF8.self)
            case UInt8(ascii: "\n"): throw fail("unterminated string")
            case UInt8(ascii: "\\"):
                guard let escape = peek else { throw fail("unterminated string") }
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): scalars.append(escape)
                case UInt8(ascii: "n"): scalars.append(0x0a)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "r"): scalars.append(0x0d)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0c)
                case UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let count = escape == UInt8(ascii: "u") ? 4 : 8
                    guard position + count <= bytes.count, let code = UInt32(String(decoding: bytes[position..<(position + count)], as: UTF8.self), radix: 16),
                        let scalar = Unicode.Scalar(code)
                    else { throw fail("invalid \\u escape") }
                    position += count
                    scalars += Array(String(Character(scalar)).utf8)
                default: throw fail("invalid escape '\\\(Character(Unicode.Scalar(escape)))'")
                }
            default: scalars.append(byte)
            }
        }
        throw fail("unterminated string")
    }

    private mutating func literalString() throws(TOMLError) -> String {
        position += 1
        let start = position
        while let byte = peek {
            if byte == UInt8(ascii: "'") {
                defer { position += 1 }
                return String(decoding: bytes[start..<position], as: UTF8.self)
            }
            guard byte != UInt8(ascii: "\n") else { break }
            position += 1
        }
        throw fail("unterminated string")
    }

    private mutating func expect(_ byte: UInt8, _ problem: String) throws(TOMLError) {
        guard peek == byte else { throw fail(problem) }
        position += 1
    }

    /// Spaces, tabs and comments; with `newlines`, line ends too (counted).
    private mutating func skipBlank(newlines: Bool) {
        while let byte = peek {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                position += 1
            } else if byte == UInt8(ascii: "#") {
                while let next = peek, next != UInt8(ascii: "\n") { position += 1 }
            } else if newlines, byte == UInt8(ascii: "\n") {
                position += 1
                line += 1
            } else {
                return
            }
        }
    }

    private mutating func endOfLine() throws(TOMLError) {
        skipBlank(newlines: false)
        guard let byte = peek else { return }
        guard byte == UInt8(ascii: "\n") else { throw fail("unexpected text after a value") }
    }
}
