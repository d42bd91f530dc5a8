import Foundation
import OCI
import Testing

/// `berth inspect --format` against the real skopeo's on the same OCI layout: the templates
/// skopeo users put in scripts print the same.
@Suite(.enabled(if: Interop.enabled("skopeo") && Interop.enabled("busybox"), "needs skopeo and busybox (apt-get install skopeo busybox-static)"))
struct InspectFormatTests {
    @Test func templatesPrintWhatSkopeosPrint() async throws {
        let berth = try BerthCommand()
        defer { berth.cleanup() }
        let layout = berth.path("layout")
        try await RunCommandTests.busyboxLayout(at: layout)
        let skopeo = try Interop.tool("skopeo")
        for template in [
            "{{.Digest}}", "{{.Architecture}}/{{.Os}} {{len .Layers}}", "{{range .Layers}}{{.}} {{end}}", "{{.Env}}",
            #"{{if .Labels}}labelled{{else}}none{{end}} {{index .Env 0}}"#, #"{{.Name}}|{{printf "%.12s" .Digest}}"#,
        ] {
            let ours = try await berth.run(["inspect", "--format", template, "oci:\(layout):v1"])
            let theirs = try await Interop.run(skopeo, ["inspect", "--format", template, "oci:\(layout):v1"])
            #expect(theirs.status == 0 && ours.status == 0 && ours.stdout == theirs.stdout, "\(template): \(ours.stdout) \(ours.stderr) against \(theirs.stdout)")
        }
        // (skopeo 1.9 prints nothing at all for a template with a tab; berth prints the tab.)
        #expect(try await berth.succeed(["inspect", "--format", #"{{.Os}}\t{{.Architecture}}"#, "oci:\(layout):v1"]).stdout == "linux\t\(Platform.current.architecture)\n")
        // --config with a template sees the config's fields.
        let config = try await berth.succeed(["inspect", "--config", "-f", "{{.architecture}} {{.config.WorkingDir}} {{.config.Env}}", "oci:\(layout):v1"]).stdout
        #expect(config == "\(Platform.current.architecture) /tmp [PATH=/bin GREETING=hi]\n", "\(config)")
        // Mistakes: one line, skopeo's exit status 1, nothing else printed.
        for (arguments, message) in [
            (["inspect", "--format", "{{.Digest", "oci:\(layout):v1"], "template: 1:1: unclosed action"),
            (["inspect", "--raw", "--format", "{{.Digest}}", "oci:\(layout):v1"], "raw output does not support the --format option"),
            (["inspect", "--format", "{{.Digest.Algorithm}}", "oci:\(layout):v1"], "can't evaluate field Algorithm in type string"),
        ] {
            let result = try await berth.run(arguments)
            #expect(result.status == 1 && result.stdout.isEmpty && result.stderr.contains(message) && result.stderr.split(separator: "\n").count == 1,
                    "\(arguments): \(result.status) \(result.stderr)")
        }
    }
}
