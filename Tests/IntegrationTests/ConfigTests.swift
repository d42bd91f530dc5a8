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

    @Test func everyExampleLoadsWithoutWarnings() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("registry-config")
        var loaded: [String: ServerConfig] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.hasSuffix(".yml") {
            // s3.yml takes its keys from the environment, as a deployment would.
            let environment = ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"]
            let config = try ServerConfig.load(file: directory.appendingPathComponent(name).path, environment: environment)
            #expect(config.warnings.isEmpty, "\(name): \(config.warnings)")
            loaded[name] = config
        }
        #expect(loaded["htpasswd.yml"]?.htpasswd?.path == "/etc/berth/htpasswd")
        #expect(loaded["token.yml"]?.token?.rootCertBundle == "/etc/berth/token-signers.pem")
        #expect(loaded["tokenserver.yml"]?.tokenServer?.service == "registry.example.com")
        #expect(loaded["tokenserver.yml"]?.ui?.admins == ["admin"] && loaded["config.yml"]?.ui != nil && loaded["htpasswd.yml"]?.ui == nil)
        #expect(loaded["s3.yml"]?.s3?.location.bucket == "registry" && loaded["s3.yml"]?.s3?.credentials.accessKey == "AKIDEXAMPLE")
        #expect(loaded["tls.yml"]?.tlsCertificate == "/etc/berth/registry.crt" && loaded["tls.yml"]?.drainTimeout == .seconds(30))
        let cache = loaded["cache.yml"]?.cache
        #expect(cache?.upstreams.map(\.prefix) == ["docker.io", "ghcr.io", "quay.io"])
        #expect(cache?.upstreams.first?.tagRecheck == .seconds(600) && cache?.upstreams.first?.host == "registry-1.docker.io")
        #expect(cache?.upstreamTimeout == .seconds(5) && cache?.notFoundTTL == .seconds(10) && cache?.maxSize == 200 << 30)
    }

    @Test func distributionsProxySectionCachesEveryRepository() throws {
        let config = try ServerConfig.load(
            yaml: "version: 0.1\nproxy:\n  remoteurl: https://registry-1.docker.io\n  username: me\n  password: pw\n  ttl: 168h\n")
        let upstream = try #require(config.cache?.upstreams.first)
        #expect(upstream.prefix == "" && upstream.host == "registry-1.docker.io" && upstream.credentials?.username == "me")
        #expect(upstream.tagRecheck == .zero, "distribution checks a tag upstream on every pull")
        #expect(config.warnings == ["proxy.ttl: not supported by berth, ignored"])
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
        ("version: 0.1\nauth:\n  htpasswd:\n    path: /x\nberth:\n  tokenserver:\n    htpasswd: /x", "berth.tokenserver"),
        ("version: 0.1\nberth:\n  tokenserver:\n    access: []", "berth.tokenserver.htpasswd"),
        ("version: 0.1\nberth:\n  tokenserver:\n    htpasswd: /x", "berth.tokenserver.access"),
        ("version: 0.1\nberth:\n  tokenserver:\n    htpasswd: /x\n    expiration: 1s\n    access: []", "berth.tokenserver.expiration"),
        ("version: 0.1\nberth:\n  tokenserver:\n    htpasswd: /x\n    realm: /auth\n    access: []", "berth.tokenserver.realm"),
        ("version: 0.1\nberth:\n  tokenserver:\n    htpasswd: /x\n    access:\n      - repositories: [a]\n        actions: [pull]", "berth.tokenserver.access[0]"),
        ("version: 0.1\nberth:\n  tokenserver:\n    htpasswd: /x\n    access:\n      - anonymous: true\n        repositories: [a]\n        actions: [push]",
            "berth.tokenserver.access[0].actions"),
        ("version: 0.1\nberth:\n  tokenserver:\n    htpasswd: /x\n    access:\n      - users: [a]\n        repositories: [a]\n        actions: [pull, fly]",
            "berth.tokenserver.access[0].actions[1]"),
        ("version: 0.1\nberth:\n  tokenserver:\n    htpasswd: /x\n    access:\n      - users: [a]\n        repositories: [a]\n        actions: [pull]\n        when: never",
            "berth.tokenserver.access[0].when"),
        ("version: 0.1\nberth:\n  tokenserver:\n    htpasswd: /x\n    access:\n      - groups: [ops]\n        repositories: [a]\n        actions: [pull]",
            "berth.tokenserver.access[0].groups[0]"),
        ("version: 0.1\nberth:\n  tokenserver:\n    htpasswd: /x\n    access:\n      - users: [a]\n        repositories: ['a/***']\n        actions: [pull]",
            "berth.tokenserver.access[0].repositories[0]"),
        ("version: 0.1\nstorage:\n  gcs:\n    bucket: b", "storage.gcs"),
        ("version: 0.1\nstorage:\n  azure:\n    accountname: a", "storage.azure"),
        ("version: 0.1\nstorage:\n  inmemory: {}", "storage.inmemory"),
        ("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /x\n  s3:\n    bucket: b", "storage"),
        ("version: 0.1\nstorage:\n  s3:\n    region: eu-west-1", "storage.s3.bucket"),
        ("version: 0.1\nstorage:\n  s3:\n    bucket: b", "storage.s3.region"),
        ("version: 0.1\nstorage:\n  s3:\n    bucket: b\n    region: r\n    accesskey: k\n    secretkey: s\n    chunksize: 1024", "storage.s3.chunksize"),
        ("version: 0.1\nstorage:\n  s3:\n    bucket: b\n    region: r\n    accesskey: k\n    secretkey: s\n    v4auth: false", "storage.s3.v4auth"),
        ("version: 0.1\nstorage:\n  s3:\n    bucket: b\n    region: r\n    accesskey: k\n    secretkey: s\n    bucketname: x", "storage.s3.bucketname"),
        ("version: 0.1\nstorage:\n  s3:\n    bucket: b\n    regionendpoint: ftp://x/y\n    accesskey: k\n    secretkey: s", "storage.s3.regionendpoint"),
        ("version: 0.1\ndatabase:\n  enabled: true\n  host: db", "database.user"),
        ("version: 0.1\ndatabase:\n  enabled: true\n  user: u\n  dbname: d", "database.host"),
        ("version: 0.1\ndatabase:\n  enabled: true\n  host: h\n  user: u\n  dbname: d\n  sslmode: maybe", "database.sslmode"),
        ("version: 0.1\ndatabase:\n  enabled: true\n  host: h\n  user: u\n  dbname: d\n  port: 0", "database.port"),
        ("version: 0.1\ndatabase:\n  enabled: true\n  host: h\n  user: u\n  dbname: d\n  connecttimeout: soon", "database.connecttimeout"),
        ("version: 0.1\ndatabase:\n  enabled: true\n  host: h\n  user: u\n  dbname: d\n  sslcert: /c.pem", "database.sslcert"),
        ("version: 0.1\ndatabase:\n  enabled: true\n  host: h\n  user: u\n  dbname: d\n  replicas: [x]", "database.replicas"),
        ("version: 0.1\nproxy:\n  remoteurl: https://hub.example.com/v2", "proxy.remoteurl"),
        ("version: 0.1\nproxy:\n  remoteurl: https://hub.example.com\n  username: me", "proxy"),
        ("version: 0.1\nberth:\n  cache:\n    upstreams: {prefix: a}", "berth.cache.upstreams"),
        ("version: 0.1\nberth:\n  cache:\n    upstreams:\n      - url: https://a.io", "berth.cache.upstreams[0].prefix"),
        ("version: 0.1\nberth:\n  cache:\n    upstreams:\n      - prefix: Docker.io\n        url: https://a.io", "berth.cache.upstreams[0].prefix"),
        ("version: 0.1\nberth:\n  cache:\n    upstreams:\n      - prefix: a\n        url: ftp://a.io", "berth.cache.upstreams[0].url"),
        ("version: 0.1\nberth:\n  cache:\n    upstreams:\n      - prefix: a\n        url: https://a.io\n        tagrecheck: often",
            "berth.cache.upstreams[0].tagrecheck"),
        ("version: 0.1\nberth:\n  cache:\n    upstreams:\n      - prefix: a\n        url: https://a.io\n        credentials: {username: u}",
            "berth.cache.upstreams[0].credentials"),
        ("version: 0.1\nberth:\n  cache:\n    upstreams:\n      - prefix: a\n        url: https://a.io\n        mirror: true",
            "berth.cache.upstreams[0].mirror"),
        ("version: 0.1\nberth:\n  cache:\n    upstreams:\n      - {prefix: a, url: 'https://a.io'}\n      - {prefix: a, url: 'https://b.io'}",
            "berth.cache.upstreams[1].prefix"),
        ("version: 0.1\nberth:\n  cache:\n    timeout: 0s\n    upstreams:\n      - {prefix: a, url: 'https://a.io'}", "berth.cache.timeout"),
        ("version: 0.1\nberth:\n  cache:\n    maxsize: 20 bananas\n    upstreams:\n      - {prefix: a, url: 'https://a.io'}", "berth.cache.maxsize"),
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

    @Test func s3KeysFollowDistributionAndCredentialsComeFromTheUsualPlaces() throws {
        let config = try ServerConfig.load(
            yaml: """
                version: 0.1
                storage:
                  s3:
                    region: eu-west-1
                    regionendpoint: minio.example.com:9000
                    secure: false
                    bucket: registry
                    rootdirectory: /berth
                    chunksize: 20971520
                    storageclass: NONE
                    encrypt: true
                    keyid: alias/registry
                  redirect:
                    disable: true
                """, environment: ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret", "HOME": "/nonexistent"])
        let s3 = try #require(config.s3)
        #expect(s3.location.endpoint.absoluteString == "http://minio.example.com:9000")
        #expect(s3.location.pathStyle && s3.location.region == "eu-west-1" && s3.location.bucket == "registry")
        #expect(s3.location.storageClass == nil && s3.location.encrypt && s3.location.kmsKeyID == "alias/registry")
        #expect(s3.credentials.accessKey == "AKIDENV" && s3.chunkSize == 20 << 20 && s3.rootDirectory == "/berth")
        #expect(!config.redirect && config.warnings.isEmpty)
        let database = try ServerConfig.load(
            yaml: """
                version: 0.1
                database:
                  enabled: true
                  host: db.example.com
                  port: 6432
                  user: berth
                  dbname: registry
                  sslmode: verify-full
                  connecttimeout: 5s
                  preparedstatements: false
                  pool:
                    maxopen: 25
                    maxidletime: 5m
                """, environment: ["PGPASSWORD": "from-env"])
        let postgres = try #require(database.postgres)
        #expect(postgres.location == "postgres://berth@db.example.com:6432/registry" && postgres.password == "from-env")
        #expect(postgres.sslMode == .verifyFull && postgres.connectTimeout == .seconds(5) && postgres.maxOpen == 25 && postgres.maxIdleTime == .seconds(300))
        #expect(database.warnings == ["database.preparedstatements: not supported by berth, ignored"])
        #expect(try ServerConfig.load(yaml: "version: 0.1\ndatabase:\n  enabled: false\n  host: h\n").postgres == nil)
        let aws = try ServerConfig.load(
            yaml: "version: 0.1\nstorage:\n  s3:\n    region: us-west-2\n    bucket: b\n    accesskey: k\n    secretkey: s\n")
        #expect(aws.s3?.location.endpoint.absoluteString == "https://s3.us-west-2.amazonaws.com")
        #expect(aws.s3?.location.pathStyle == false && aws.s3?.location.storageClass == "STANDARD" && aws.redirect)
        #expect(throws: ConfigError.self) {
            _ = try ServerConfig.load(yaml: "version: 0.1\nstorage:\n  s3:\n    region: r\n    bucket: b\n", environment: ["HOME": "/nonexistent"])
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

        // The example as a new user writes it: no silent fallback to ./berth-data.
        try Data("version: 0.1\nstorage:\n  gcs:\n    bucket: registry\nhttp:\n  addr: 127.0.0.1:0\n".utf8).write(to: file)
        let gcs = try await Interop.run(Interop.berthBinary, ["serve", "--config", file.path])
        #expect(gcs.status != 0 && gcs.stderr.contains("storage.gcs: berth does not support the gcs storage driver"))
        #expect(gcs.stderr.split(separator: "\n").count == 1)
        // A database nobody serves: one line naming it, at once (not the pool retrying quietly).
        let refusing = try RefusingPort()
        defer { refusing.close() }
        let closed = refusing.port
        try Data(
            "version: 0.1\ndatabase:\n  enabled: true\n  host: 127.0.0.1\n  port: \(closed)\n  user: berth\n  dbname: berth\nhttp:\n  addr: 127.0.0.1:0\n"
                .utf8
        ).write(to: file)
        let database = try await Interop.run(Interop.berthBinary, ["serve", "--config", file.path])
        #expect(database.status != 0 && database.stderr.contains("database postgres://berth@127.0.0.1:\(closed)/berth: "))
        #expect(database.stderr.split(separator: "\n").count == 1, "\(database.stderr)")

        let missing = try await Interop.run(Interop.berthBinary, ["serve", "--config", "/nonexistent/config.yml"])
        #expect(missing.status != 0 && missing.stderr.contains("cannot read /nonexistent/config.yml"))
    }

    @Test func mistakesNameTheLineOfTheFile() throws {
        let yaml = """
            version: 0.1
            http:
              addr: 127.0.0.1:5000
            berth:
              tokenserver:
                htpasswd: /etc/berth/htpasswd
                access:
                  - users: [alice]
                    repositories: ["team/*"]
                    actions: [pull]
                  - users: [bob]
                    repositories: ["team/*", "Team/*"]
                    actions: [pull]
            """
        #expect {
            _ = try ServerConfig.load(yaml: yaml, file: "registry.yml")
        } throws: { error in
            "\(error)".hasPrefix("registry.yml:12: berth.tokenserver.access[1].repositories[1]: 'Team/*' is not a repository pattern")
        }
        #expect {
            _ = try ServerConfig.load(yaml: "version: 0.1\nhttp:\n  addr: nowhere\n", file: "c.yml")
        } throws: { error in
            "\(error)" == "c.yml:3: http.addr: must be HOST:PORT, got 'nowhere'"
        }
    }

    /// Found by fuzzing config.yml: a region that cannot be part of a host name made the S3
    /// endpoint URL nil, and a force-unwrap crashed the server.
    @Test func anS3RegionThatIsNotAHostNamePartIsAnError() {
        #expect {
            _ = try ServerConfig.load(yaml: "version: 0.1\nstorage:\n  s3:\n    region: us east\n    bucket: b\n", file: "c.yml")
        } throws: { error in
            "\(error)".contains("storage.s3.region: 'us east' is not a region name")
        }
    }

    /// Found by fuzzing config.yml: a mapping key that is itself a list or mapping made Yams'
    /// loader trap (a force-unwrap), so `berth serve` crashed instead of naming the line.
    @Test(arguments: ["version: 0.1\nstorage:\n  ? [a, b]\n  : x\n", "version: 0.1\n{x: 1}: y\n", "? - a\n: b\n"])
    func aKeyThatIsNotAPlainValueIsAnError(_ yaml: String) {
        #expect {
            _ = try ServerConfig.load(yaml: yaml, file: "c.yml")
        } throws: { error in
            "\(error)".hasPrefix("c.yml: line ") && "\(error)".hasSuffix("a mapping key must be a plain value")
        }
    }

    @Test func aBadHtpasswdLineOrCertificateStopsStartupNamingTheFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let htpasswd = directory.appendingPathComponent("htpasswd").path
        try Data("# team\nalice:$2y$05$abcdefghijklmnopqrstuu3Yh0hEoRtYdMF0tkp1t0B/0Q8EqLDvu\nbob:{SHA}abc=\n".utf8).write(to: URL(fileURLWithPath: htpasswd))
        for section in ["auth:\n  htpasswd:\n    realm: r\n    path: \(htpasswd)\n", "berth:\n  tokenserver:\n    htpasswd: \(htpasswd)\n    access:\n      - anonymous: true\n        repositories: ['**']\n        actions: [pull]\n"] {
            let config = directory.appendingPathComponent("config.yml")
            try Data("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: \(directory.path)/data\nhttp:\n  addr: 127.0.0.1:0\n\(section)".utf8).write(to: config)
            let result = try await Interop.run(Interop.berthBinary, ["serve", "--config", config.path])
            let lines = result.stderr.split(separator: "\n")
            #expect(result.status == 1 && lines.count == 1, "\(result.stderr)")
            #expect(lines.first?.contains("\(htpasswd):3:") == true && lines.first?.contains("only bcrypt entries") == true, "\(result.stderr)")
        }
        // An unreadable certificate is one line naming the files, too.
        let config = directory.appendingPathComponent("tls.yml")
        try Data("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: \(directory.path)/data\nhttp:\n  addr: 127.0.0.1:0\n  tls:\n    certificate: \(directory.path)/missing.crt\n    key: \(directory.path)/missing.key\n".utf8).write(to: config)
        let tls = try await Interop.run(Interop.berthBinary, ["serve", "--config", config.path])
        #expect(tls.status == 1 && tls.stderr.split(separator: "\n").count == 1 && tls.stderr.contains("\(directory.path)/missing.crt"), "\(tls.stderr)")
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
