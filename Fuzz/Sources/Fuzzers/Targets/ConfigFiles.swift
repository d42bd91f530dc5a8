import Foundation
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
