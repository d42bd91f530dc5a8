import Foundation
import Testing

@testable import GoTemplate

/// Templates as skopeo, podman and docker users write them, with what Go's text/template prints
/// for the same data (a JSON object decoded into interface{} values).
struct GoTemplateTests {
    let data = try! TemplateValue(json: Data("""
        {"Name": "registry.example/app", "Digest": "sha256:abc", "RepoTags": ["v1", "v2", "latest"],
         "Labels": {"org.opencontainers.image.version": "1.2", "maintainer": "ops"},
         "State": {"Status": "running", "Running": true, "Pid": 4242, "ExitCode": 0, "Error": ""},
         "Size": 1.5, "Empty": [], "Created": null, "Ports": [{"host_port": 8080, "container_port": 80}]}
        """.utf8))

    func render(_ template: String) throws -> String { try GoTemplate(template).render(data) }

    @Test func fieldsAndLiteralsPrintAsGoPrintsThem() throws {
        #expect(try render("{{.State.Status}} {{.State.Pid}} {{.State.Running}} {{.Size}}") == "running 4242 true 1.5")
        #expect(try render("{{.RepoTags}} {{.Labels}}") == "[v1 v2 latest] map[maintainer:ops org.opencontainers.image.version:1.2]")
        #expect(try render("{{.Nope}}|{{.Nope.Deeper}}") == "<no value>|<no value>")
        #expect(try render(#"{{"a\tb"}} {{`raw\n`}} {{42}} {{-7}} {{true}} {{.Created}} {{eq .Created nil}}"#) == "a\tb raw\\n 42 -7 true <nil> true")
        #expect(try render("{{$.Name}}{{/* a comment */}}") == "registry.example/app")
    }

    @Test func trimMarkersEatTheWhitespaceBesideThem() throws {
        #expect(try render("a   {{- .Digest -}}   \n b") == "asha256:abcb")
        #expect(try render("{{range .RepoTags -}}\n  {{.}}\n{{- end}}") == "v1v2latest")
    }

    @Test func controlStructures() throws {
        #expect(try render("{{range .RepoTags}}{{.}},{{end}}") == "v1,v2,latest,")
        #expect(try render("{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}") == "0=v1 1=v2 2=latest ")
        #expect(try render("{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}") == "maintainer:ops;org.opencontainers.image.version:1.2;")
        #expect(try render("{{range .Empty}}x{{else}}none{{end}}") == "none")
        #expect(try render("{{if .State.Running}}up{{else}}down{{end}}") == "up")
        #expect(try render("{{if .State.ExitCode}}failed{{else if .State.Error}}error{{else}}ok{{end}}") == "ok")
        #expect(try render("{{with .State}}{{.Status}}/{{$.Name}}{{end}}{{with .Nope}}x{{else}}-{{end}}") == "running/registry.example/app-")
        #expect(try render("{{$n := len .RepoTags}}{{$n}} {{range .Ports}}{{.host_port}}->{{.container_port}}{{end}}") == "3 8080->80")
    }

    @Test func functions() throws {
        #expect(try render(#"{{index .Labels "maintainer"}} {{index .RepoTags 1}} {{index .Labels "none"}}"#) == "ops v2 <no value>")
        #expect(try render("{{1.5}} {{123456.0}} {{1e6}} {{1234567.5}} {{2e19}} {{0.0001}} {{0.00001}} {{-2.5e-7}} {{100000000000000000000000000000000000000000000}}")
            == "1.5 123456 1e+06 1.2345675e+06 2e+19 0.0001 1e-05 -2.5e-07 1e+44")
        #expect(try render("{{json .RepoTags}} {{json .State}}") == #"["v1","v2","latest"] {"Error":"","ExitCode":0,"Pid":4242,"Running":true,"Status":"running"}"#)
        #expect(try render(#"{{join .RepoTags ", "}} {{upper .State.Status}} {{lower "ABC"}} {{truncate .Digest 9}}"#) == "v1, v2, latest RUNNING abc sha256:ab")
        #expect(try render(#"{{printf "%-8s|%5d|%q|%v%%" .State.Status .State.Pid .Name .Size}}"#) == #"running | 4242|"registry.example/app"|1.5%"#)
        #expect(try render(#"{{print "a" 1 2 "b"}} {{println 1 "x"}}"#) == "a1 2b 1 x\n")
        #expect(try render(#"{{printf "%.6s|%-9.3s|%.2f|%5.1f" .Digest .Name .Size 2}}"#) == "sha256|reg      |1.50|  2.0")
        #expect(try render(#"{{if and .State.Running (eq .State.Status "running" "paused")}}yes{{end}}"#) == "yes")
        #expect(try render("{{if or .Empty .RepoTags}}{{len (or .Empty .RepoTags)}}{{end}} {{not .State.Running}}") == "3 false")
        #expect(try render("{{if gt .State.Pid 100}}big{{end}} {{lt 1.5 2}} {{ge \"b\" \"a\"}} {{ne .State.ExitCode 0}}") == "big true true false")
        #expect(try render(#"{{.Name | printf "%s:latest"}} {{split .Digest ":" | len}} {{(index .Ports 0).host_port}}"#) == "registry.example/app:latest 2 8080")
    }

    @Test func commandLineTemplatesEndInANewlineAndReadBackslashEscapes() throws {
        #expect(try GoTemplate(commandLine: #"{{.Name}}\t{{.Digest}}"#).render(data) == "registry.example/app\tsha256:abc\n")
        #expect(try GoTemplate(commandLine: "{{.Name}}\n").render(data) == "registry.example/app\n")
    }

    /// Every mistake is found when the template is read (or run) and said in one line.
    @Test func mistakesAreRefusedWithWhere() throws {
        func refused(_ template: String, _ message: String) {
            do {
                _ = try GoTemplate(template).render(data)
                Issue.record("\(template) was taken")
            } catch {
                #expect(error.description.hasPrefix("template: ") && error.description.contains(message), "\(template): \(error)")
                #expect(!error.description.contains("\n"))
            }
        }
        refused("{{.Name", "unclosed action")
        refused("{{if .Name}}x", "has no {{end}}")
        refused("x{{end}}", "unexpected {{end}}")
        refused("{{else}}", "unexpected {{else}}")
        refused("a\n{{nosuch .Name}}", "2:1: function \"nosuch\" not defined")
        refused("{{template \"x\"}}", "not supported")
        refused("{{.Name .Digest}}", "can't give argument to non-function")
        refused("{{.Name | .Digest}}", "can't give argument to non-function")
        refused("{{$x}}", "undefined variable: $x")
        refused("{{.Name.First}}", "can't evaluate field First in type string")
        refused("{{index .RepoTags 9}}", "index out of range: 9")
        refused("{{len .State.Pid}}", "len of type int")
        refused("{{printf \"%d\" .Name}}", "%d does not take a string")
        refused("{{printf \"%s %s\" .Name}}", "missing argument")
        refused("{{lt .Name 3}}", "incompatible types")
        refused("{{range .Name}}{{end}}", "range can't iterate over")
        refused(#"{{"unterminated}}"#, "unclosed action")
        refused("{{(.Name}}", "unclosed left paren")
        refused("{{.Name |}}", "missing command after |")
        refused(#"{{"\x"}}"#, "unknown escape")
        refused(String(repeating: "{{if 1}}", count: 201) + String(repeating: "{{end}}", count: 201), "nested more than 200 levels deep")
        refused("{{" + String(repeating: "(", count: 201) + "1" + String(repeating: ")", count: 201) + "}}", "parentheses nested more than 200 deep")
        refused(#"{{printf "%99999999d" 1}}"#, "width or precision above 1000000")
        refused(#"{{printf "%.9999999999s" "x"}}"#, "width or precision above 1000000")
    }
}
