import OCI
import Testing

@testable import Transports

@Suite struct ImageNameTests {
    @Test(arguments: [
        ("docker://alpine", "docker://docker.io/library/alpine"),
        ("docker://127.0.0.1:5000/team/app:v1", "docker://127.0.0.1:5000/team/app:v1"),
        ("oci:./layout:v1", "oci:./layout:v1"),
        ("oci:/tmp/layout", "oci:/tmp/layout"),
        ("oci-archive:app.tar:v1.2", "oci-archive:app.tar:v1.2"),
        ("dir:/tmp/app", "dir:/tmp/app"),
        ("docker-archive:app.tar:team/app:v1", "docker-archive:app.tar:docker.io/team/app:v1"),
        ("docker-archive:app.tar:@1", "docker-archive:app.tar:@1"),
    ])
    func parses(_ text: String, _ canonical: String) throws {
        #expect(try ImageName(parsing: text).description == canonical)
    }

    @Test(arguments: [
        "alpine", "docker:alpine", "nope://x", "oci:", "dir:", "oci:./l:-bad", "oci:./l:a b",
        "docker://host/UPPER:y", "docker://host/repo@sha256:123", "docker-archive:a.tar:app@sha256:" + String(repeating: "a", count: 64),
        "docker-archive:a.tar:@x",
    ])
    func rejects(_ text: String) {
        #expect(throws: TransportError.self) { try ImageName(parsing: text) }
    }

    @Test func platformsParseAndMatch() throws {
        let arm = try #require(Platform(parsing: "linux/arm64"))
        #expect(arm.accepts(Platform(architecture: "arm64", os: "linux", variant: "v8")))
        #expect(!arm.accepts(Platform(architecture: "amd64", os: "linux")))
        let v7 = try #require(Platform(parsing: "linux/arm/v7"))
        #expect(!v7.accepts(Platform(architecture: "arm", os: "linux", variant: "v6")))
        #expect(Platform(parsing: "linux") == nil)
        #expect(Platform(parsing: "linux/") == nil)
    }

    @Test func mediaTypesConvertBothWays() {
        #expect(MediaType.convert(MediaType.dockerLayerTarGzip, toOCI: true) == MediaType.ociLayerTarGzip)
        #expect(MediaType.convert(MediaType.ociIndex, toOCI: false) == MediaType.dockerManifestList)
        #expect(MediaType.convert(MediaType.ociLayerTarZstd, toOCI: false) == nil)
        #expect(MediaType.convert("application/vnd.example.thing", toOCI: false) == "application/vnd.example.thing")
    }
}
