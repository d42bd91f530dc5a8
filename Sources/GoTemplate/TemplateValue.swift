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
        case .double(let value): value == value.rounded() && abs(value) < 1e21 ? String(Int64(value)) : "\(value)"
        case .string(let value): value
        case .array(let values): "[" + values.map(\.printed).joined(separator: " ") + "]"
        case .object(let fields): "map[" + fields.keys.sorted().map { "\($0):\(fields[$0]!.printed)" }.joined(separator: " ") + "]"
        }
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
