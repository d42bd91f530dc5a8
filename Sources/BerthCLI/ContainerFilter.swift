import Foundation
import Runtime

/// `ps --filter KEY=VALUE` as podman takes it: values of one key are alternatives, different keys
/// must all hold. `name` and `id` are regular expressions searched in the name or id (an id also
/// matches by prefix), `status` one of the states, `exited` an exit code, `ancestor` the image
/// (name, name without tag, or a regular expression).
struct ContainerFilter {
    static let statuses: Set = ["created", "running", "restarting", "exited", "orphaned"]
    private var values: [String: [String]] = [:]
    /// The `name`, `id` and `ancestor` values compiled once, not per container.
    private var expressions: [String: NSRegularExpression] = [:]

    init(_ specifications: [String]) throws {
        for specification in specifications {
            guard let equals = specification.firstIndex(of: "="), equals != specification.startIndex else {
                throw CLIError("invalid filter '\(specification.prefix(80))' (KEY=VALUE)", status: 125)
            }
            let key = String(specification[..<equals])
            let value = String(specification[specification.index(after: equals)...])
            switch key {
            case "name", "id", "ancestor":
                guard let expression = try? NSRegularExpression(pattern: value) else {
                    throw CLIError("invalid --filter \(key) '\(value.prefix(80))': not a regular expression", status: 125)
                }
                expressions[value] = expression
            case "status":
                guard Self.statuses.contains(value) else {
                    throw CLIError("invalid --filter status '\(value.prefix(40))' (\(Self.statuses.sorted().joined(separator: ", ")))", status: 125)
                }
            case "exited":
                guard Int32(value) != nil else { throw CLIError("invalid --filter exited '\(value.prefix(40))': not an exit code", status: 125) }
            default:
                throw CLIError("invalid filter '\(key.prefix(40))' (id, name, status, exited, ancestor)", status: 125)
            }
            values[key, default: []].append(value)
        }
    }

    /// Whether `ps` without -a should still list only running containers.
    var choosesStatus: Bool { values["status"] != nil || values["exited"] != nil }

    func matches(_ report: ContainerReport) -> Bool {
        let record = report.record
        return values.allSatisfy { key, alternatives in
            alternatives.contains { value in
                switch key {
                case "name": search(value, in: record.name)
                case "id": record.id.hasPrefix(value.lowercased()) || search(value, in: record.id)
                case "status": report.status == value
                case "exited": report.status == "exited" && record.exitCode == Int32(value)
                default: record.image == value || record.image.hasPrefix(value + ":") || search(value, in: record.image)
                }
            }
        }
    }

    private func search(_ pattern: String, in text: String) -> Bool {
        expressions[pattern]?.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
