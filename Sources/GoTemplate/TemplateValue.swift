// GoTemplate: the `--format` templates of skopeo, podman and docker (Go's text/template:
// `{{.State.Status}}`, `{{range .RepoTags}}{{.}} {{end}}`, `{{json .Config}}`), parsed and
// evaluated over the JSON a command prints. Depends on nothing but Foundation.

import Foundation

/// A JSON value as a template sees it. Objects stand in for Go's structs and maps: a field a
/// JSON object does not have is `absent` (`<no value>`, as a map key Go does not find), a JSON
/// null is Go's nil pointer (`<nil>`).
public enum TemplateValue: Sendable, Equatable, Decodable {
    case absent
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([TemplateValue])
    case object([String: TemplateValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // JSONDecoder takes a Bool only from true/false and an Int64 only from an integer.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([TemplateValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: TemplateValue].self))
        }
    }

    /// The JSON text `json` prints: compact, keys sorted (Go's encoding of a map).
    public init(json: Data) throws {
        self = try JSONDecoder().decode(TemplateValue.self, from: json)
    }

    /// Go's truth: false, 0, nil and empty strings, lists and maps are false.
    var isTrue: Bool {
        switch self {
        case .absent, .null: false
        case .bool(let value): value
        case .int(let value): value != 0
        case .double(let value): value != 0
        case .string(let value): !value.isEmpty
        case .array(let value): !value.isEmpty
        case .object(let value): !value.isEmpty
        }
    }

    /// As Go's `fmt` prints it with `%v`: lists as `[a b]`, maps as `map[k:v]` with sorted keys.
    var printed: String {
        switch self {
        case .absent: "<no value>"
        case .null: "<nil>"
        case .bool(let value): value ? "true" : "false"
        case .int(let value): String(value)
        case .double(let value): Self.goFloat(value)
        case .string(let value): value
        case .array(let values): "[" + values.map(\.printed).joined(separator: " ") + "]"
        case .object(let fields): "map[" + fields.keys.sorted().map { "\($0):\(fields[$0]!.printed)" }.joined(separator: " ") + "]"
        }
    }

    /// Go's `%v` of a float64: the shortest digits that read back (Swift's description has the
    /// same ones), as `%e` when the exponent is below -4 or at least 6 — `1.5`, `123456`,
    /// `1e+06`, `2e+19`, `1e-05`.
    static func goFloat(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        let sign = value.sign == .minus ? "-" : ""
        if value == 0 { return sign + "0" }
        var text = "\(value.magnitude)"
        var exponent = 0
        if let e = text.firstIndex(of: "e") {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        var digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
        // `point`: how many of `digits` stand before the decimal point (negative: zeros after it).
        var point = parts[0].count + exponent
        while digits.count > 1, digits.first == "0" {
            digits.removeFirst()
            point -= 1
        }
        while digits.count > 1, digits.last == "0" { digits.removeLast() }
        let power = point - 1
        if power < -4 || power >= 6 {
            let mantissa = digits.count > 1 ? "\(digits.prefix(1)).\(digits.dropFirst())" : digits
            return sign + mantissa + (power < 0 ? "e-" : "e+") + (abs(power) < 10 ? "0" : "") + String(abs(power))
        }
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + digits }
        if point >= digits.count { return sign + digits + String(repeating: "0", count: point - digits.count) }
        return sign + digits.prefix(point) + "." + digits.dropFirst(point)
    }

    var json: String {
        switch self {
        case .absent, .null: "null"
        case .bool, .int, .double: printed
        case .string(let value): Self.quoted(value)
        case .array(let values): "[" + values.map(\.json).joined(separator: ",") + "]"
        case .object(let fields): "{" + fields.keys.sorted().map { "\(Self.quoted($0)):\(fields[$0]!.json)" }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal (also Go's `%q` for the strings a template meets).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    var typeName: String {
        switch self {
        case .absent, .null: "nil"
        case .bool: "bool"
        case .int: "int"
        case .double: "float64"
        case .string: "string"
        case .array: "slice"
        case .object: "map"
        }
    }
}
