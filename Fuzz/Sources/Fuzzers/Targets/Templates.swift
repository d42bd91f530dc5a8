import Foundation
import GoTemplate

/// `--format` templates: any text either fails to parse or renders over an inspect-like value,
/// or throws while rendering; never a crash, and the same text renders the same twice.
enum GoTemplateTarget {
    static let data = try! TemplateValue(json: Data("""
        {"Name": "app", "RepoTags": ["v1", "v2"], "Labels": {"a": "b"}, "State": {"Running": true, "Pid": 7},
         "Size": 2.5, "Empty": [], "Created": null}
        """.utf8))

    static func run(_ bytes: [UInt8]) {
        guard let template = try? GoTemplate(String(decoding: bytes, as: UTF8.self)) else { return }
        let first = try? template.render(data)
        precondition(first == (try? template.render(data)), "a template rendered two ways")
    }
}
