import Foundation
import OCI
@testable import RegistryServer
@testable import Signing
@testable import Transports

/// distribution's config.yml with berth's section, as `berth serve --config` reads it.
enum ServerConfigTarget {
    static func run(_ bytes: [UInt8]) {
        _ = try? ServerConfig.load(yaml: String(decoding: bytes, as: UTF8.self))
    }
}

/// skopeo sync's YAML source file.
enum SyncYAMLTarget {
    static func run(_ bytes: [UInt8]) {
        _ = try? SyncYAML(file: Harness.file("sync.yaml", bytes))
    }
}

/// containers-policy.json(5).
enum PolicyTarget {
    static func run(_ bytes: [UInt8]) {
        _ = try? Policy(file: Harness.file("policy.json", bytes))
    }
}

/// containers-registries.d(5): a directory holding one YAML file.
enum RegistriesDTarget {
    static let directory: String = {
        let path = "\(Harness.scratch)/registries.d"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    static func run(_ bytes: [UInt8]) {
        _ = FileManager.default.createFile(atPath: "\(directory)/default.yaml", contents: Data(bytes))
        _ = try? RegistriesD(directory: directory, environment: [:])
    }
}

/// containers-registries.conf(5) (TOML): parsed, and when it parses, pull sources worked out for a
/// few names — mirrors, rewrites and wildcards whatever the file says.
enum RegistriesConfTarget {
    static let names = ["alpine:3.20", "docker.io/library/alpine@sha256:" + String(repeating: "a", count: 64), "a.b.example.com:5000/x/y:z"]
        .map { try! ImageReference(parsing: $0) }

    static func run(_ bytes: [UInt8]) {
        guard let conf = try? RegistriesConf(text: String(decoding: bytes, as: UTF8.self), file: "fuzz.conf") else { return }
        for name in names { _ = try? conf.pullSources(for: name) }
    }
}
