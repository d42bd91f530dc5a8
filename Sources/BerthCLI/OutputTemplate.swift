import Foundation
import GoTemplate

/// `--format TEMPLATE` as podman and skopeo take it (Go's text/template: `{{.State.Status}}`,
/// `table {{.ID}}\t{{.Names}}`), over what the command would print as JSON.
struct OutputTemplate {
    let template: GoTemplate
    /// `table …`: a header line first and the columns (tabs in the template) aligned.
    let isTable: Bool
    /// The exit status of a mistake in the template: 125 for podman's verbs, 1 for skopeo's.
    let status: Int32

    init(_ text: String, status: Int32) throws {
        self.status = status
        isTable = text.hasPrefix("table ") || text.hasPrefix("table\t")
        do { template = try GoTemplate(commandLine: isTable ? String(text.dropFirst(6)) : text) } catch {
            throw CLIError(error.description, status: status)
        }
    }

    /// One rendering per object; for a table, `header` (each field's column title) first.
    func render(_ objects: [Any], header: [String: String] = [:]) throws -> String {
        var lines = isTable ? [try render(header)] : []
        for object in objects { lines.append(try render(object)) }
        return isTable ? Self.aligned(lines.joined()) : lines.joined()
    }

    /// `defaults`: fields the JSON leaves out when empty that the peer's templates still see
    /// (a Go struct's `omitempty` string is "" to a template, not `<no value>`).
    func render(json: Data, defaults: [String: TemplateValue] = [:]) throws -> String {
        var value = try TemplateValue(json: json)
        if case .object(let fields) = value { value = .object(fields.merging(defaults) { present, _ in present }) }
        do { return try template.render(value) } catch { throw CLIError(error.description, status: status) }
    }

    private func render(_ object: Any) throws -> String {
        try render(json: JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed]))
    }

    /// The rendered lines split into cells at the template's tabs.
    private static func aligned(_ text: String) -> String {
        TextTable.render(text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0.components(separatedBy: "\t") })
    }
}
