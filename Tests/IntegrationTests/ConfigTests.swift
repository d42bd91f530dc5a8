import Foundation
import RegistryServer
import Testing

@Suite struct ConfigTests {
    @Test func defaultFileMatchesTheEmbeddedDefault() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try ServerConfig.load(file: root.appendingPathComponent("registry-config/config.yml").path, environment: [:])
        let embedded = try ServerConfig.load(yaml: ServerConfig.embeddedDefault)
        #expect(file.host == "127.0.0.1" && file.port == 5000)
        #expect(file.rootDirectory == embedded.rootDirectory)
        #expect(file.deleteEnabled && !file.readOnly)
        #expect(file.warnings.isEmpty)
    }

    @Test func environmentOverridesKeysAsDistributionDoes() throws {
        let config = try ServerConfig.load(
            yaml: ServerConfig.embeddedDefault,
            environment: [
                "REGISTRY_HTTP_ADDR": ":6000", "REGISTRY_STORAGE_DELETE_ENABLED": "false",
                "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/srv/reg", "REGISTRY_BERTH_MANIFESTS_MAXSIZE": "8388608",
                "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "true", "HOME": "/root",
            ])
        #expect(config.host == "0.0.0.0" && config.port == 6000)
        #expect(!config.deleteEnabled && config.readOnly)
        #expect(config.rootDirectory == "/srv/reg")
        #expect(config.resolvedDatabasePath == "/srv/reg/metadata.sqlite")
        #expect(config.maxManifestBytes == 8_388_608)
    }

    @Test(arguments: [
        ("version: 0.2", "version"),
        ("version: 0.1\nstorage:\n  delete:\n    enabled: perhaps", "storage.delete.enabled"),
        ("version: 0.1\nhttp:\n  addr: localhost", "http.addr"),
        ("version: 0.1\nhttp:\n  addr: 127.0.0.1:99999", "http.addr"),
        ("version: 0.1\nlog:\n  level: loud", "log.level"),
        ("version: 0.1\nberth:\n  manifests:\n    maxsize: 1000", "berth.manifests.maxsize"),
        ("version: 0.1\nhttp:\n  tls:\n    certificate: /x.pem", "http.tls"),
        ("version: 0.1\nhttp:\n  host: not a url", "http.host"),
        ("version: 0.1\nauth:\n  token:\n    realm: https://auth.example.com/token", "auth.token.service"),
        ("version: 0.1\nauth:\n  silly:\n    realm: x", "auth.silly"),
        ("version: 0.1\nauth:\n  htpasswd:\n    path: /x\n  token:\n    realm: y", "auth"),
        ("version: 0.1\nauth:\n  htpasswd:\n    realm: x", "auth.htpasswd.path"),
        ("version: 0.1\nauth:\n  htpasswd:\n    path: /x\nberth:\n  auth:\n    failuredelay: -1", "berth.auth.failuredelay"),
        ("version: 0.1\nhttp:\n  tls:\n    minimumtls: ssl3", "http.tls.minimumtls"),
        ("version: 0.1\nhttp:\n  tls:\n    clientcas: /ca.pem", "http.tls.clientcas"),
        ("version: 0.1\nhttp:\n  tls:\n    clientcas: [/ca.pem]", "http.tls.clientcas"),
        ("version: 0.1\nhttp:\n  debug:\n    addr: nowhere", "http.debug.addr"),
        ("- just\n- a list", ""),
        ("key: [unclosed", ""),
    ])
    func wrongValuesNameTheKey(_ yaml: String, _ key: String) {
        #expect {
            _ = try ServerConfig.load(yaml: yaml)
        } throws: { error in
            (error as? ConfigError)?.key == key
        }
    }

    @Test func unknownAndUnsupportedKeysAreWarnings() throws {
        let config = try ServerConfig.load(
            yaml: """
                version: 0.1
                storage:
                  filesystem:
                    rootdirectory: /tmp/x
                  cache:
                    blobdescriptor: inmemory
                http:
                  addr: 127.0.0.1:5000
                  secret: s3cr3t
                colour: blue
                """)
        #expect(config.warnings.contains("storage.cache: not supported by berth, ignored"))
        #expect(config.warnings.contains("http.secret: not supported by berth, ignored"))
        #expect(config.warnings.contains("colour: unknown key, ignored"))
    }
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: Interop.berthBinary), "the berth binary is not built"))
struct ServeCommandTests {
    @Test func aWrongConfigStopsStartupWithOneLine() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("berth-bad-\(UUID().uuidString).yml")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("version: 0.1\nstorage:\n  delete:\n    enabled: perhaps\n".utf8).write(to: file)
        let result = try await Interop.run(Interop.berthBinary, ["serve", "--config", file.path])
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.first?.contains("storage.delete.enabled") == true)
        #expect(lines.first?.contains("expected true or false") == true)

        let missing = try await Interop.run(Interop.berthBinary, ["serve", "--config", "/nonexistent/config.yml"])
        #expect(missing.status != 0 && missing.stderr.contains("cannot read /nonexistent/config.yml"))
    }

    @Test func aTakenPortIsOneClearLine() async throws {
        try await withServer { server, _ in
            var environment = ProcessInfo.processInfo.environment
            environment["REGISTRY_HTTP_ADDR"] = "127.0.0.1:\(server.port)"
            environment["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"] = server.root.path + "-second"
            defer { try? FileManager.default.removeItem(atPath: server.root.path + "-second") }
            let config = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("registry-config/config.yml").path
            let result = try await Interop.run(Interop.berthBinary, ["serve", "--config", config], environment: environment)
            #expect(result.status == 1)
            #expect(result.stderr.contains("cannot listen on 127.0.0.1:\(server.port): Address already in use"))
        }
    }
}
