import Foundation
import ObjectStorage
import RegistryStorage

/// The `storage:` driver and `database:` sections: distribution's `storage.s3` keys (and its
/// defaults where they apply), GitLab's container registry `database:` spelling. A driver or a
/// database Berth cannot use stops startup: data never silently lands on local disk instead.
extension ServerConfig {
    /// Keys under `storage` that are settings, not drivers.
    static let storageParameters: Set<String> = ["delete", "maintenance", "cache", "redirect", "tag"]
    static let supportedDrivers: Set<String> = ["filesystem", "s3"]

    static let s3Keys: Set<String> = [
        "region", "regionendpoint", "bucket", "rootdirectory", "forcepathstyle", "secure", "skipverify", "chunksize", "storageclass",
        "encrypt", "keyid", "accesskey", "secretkey", "sessiontoken", "v4auth",
    ]

    static func loadStorage(_ reader: TreeReader, environment: [String: String], into config: inout ServerConfig) throws(ConfigError) {
        let storage = reader.value("storage") as? [String: Any] ?? [:]
        let drivers = storage.keys.filter { !storageParameters.contains($0) }.sorted()
        if let unsupported = drivers.first(where: { !supportedDrivers.contains($0) }) {
            throw ConfigError(key: "storage.\(unsupported)", problem: "berth does not support the \(unsupported) storage driver (filesystem and s3 are supported)")
        }
        if drivers.count > 1 {
            throw ConfigError(key: "storage", problem: "configure one storage driver, not \(drivers.joined(separator: " and "))")
        }
        config.redirect = !(try reader.bool("storage.redirect.disable") ?? false)
        if drivers == ["s3"] { config.s3 = try loadS3(reader, environment: environment) }
        config.postgres = try loadDatabase(reader, environment: environment)
    }

    static let databaseKeys: Set<String> = [
        "enabled", "host", "port", "user", "password", "dbname", "sslmode", "sslcert", "sslkey", "sslrootcert", "connecttimeout", "pool",
    ]
    /// GitLab keys accepted without effect: postgres-nio prepares statements per connection
    /// and closes idle connections by `pool.maxidletime` alone.
    static let ignoredDatabaseKeys: Set<String> = ["preparedstatements", "draintimeout", "pool.maxidle", "pool.maxlifetime"]

    /// The GitLab `database` keys present that Berth accepts without effect, as warnings.
    static func ignoredDatabaseWarnings(_ reader: TreeReader) -> [String] {
        ignoredDatabaseKeys.sorted().filter { reader.value("database.\($0)") != nil }.map { "database.\($0): not supported by berth, ignored" }
    }

    /// `database:` (GitLab's container registry keys). Disabled or absent: SQLite.
    private static func loadDatabase(_ reader: TreeReader, environment: [String: String]) throws(ConfigError) -> PostgresSettings? {
        guard let database = reader.value("database") else { return nil }
        guard let section = database as? [String: Any] else { throw ConfigError(key: "database", problem: "must be a mapping") }
        guard try reader.bool("database.enabled") == true else { return nil }
        let pool = section["pool"] as? [String: Any] ?? [:]
        let keys = section.keys.map { $0 } + pool.keys.map { "pool.\($0)" }
        if let unknown = keys.sorted().first(where: {
            !databaseKeys.contains($0) && !ignoredDatabaseKeys.contains($0) && !["pool.maxopen", "pool.maxidletime"].contains($0)
        }) {
            throw ConfigError(key: "database.\(unknown)", problem: "not a database key berth knows")
        }
        func required(_ key: String) throws(ConfigError) -> String {
            guard let value = try reader.string("database.\(key)"), !value.isEmpty else {
                throw ConfigError(key: "database.\(key)", problem: "is required when the database is enabled")
            }
            return value
        }
        var settings = PostgresSettings(host: try required("host"), user: try required("user"), database: try required("dbname"))
        if let port = try reader.int("database.port") {
            guard (1...65535).contains(port) else { throw ConfigError(key: "database.port", problem: "must be 1 to 65535, got \(port)") }
            settings.port = port
        }
        // libpq's PGPASSWORD when the file names none, so the secret can stay out of it.
        settings.password = try reader.string("database.password") ?? environment["PGPASSWORD"]
        if let mode = try reader.string("database.sslmode") {
            guard let parsed = PostgresSettings.SSLMode(rawValue: mode) else {
                throw ConfigError(
                    key: "database.sslmode",
                    problem: "must be one of \(PostgresSettings.SSLMode.allCases.map(\.rawValue).joined(separator: ", ")), got '\(mode)'")
            }
            settings.sslMode = parsed
        }
        settings.sslRootCert = try reader.string("database.sslrootcert")
        settings.sslCert = try reader.string("database.sslcert")
        settings.sslKey = try reader.string("database.sslkey")
        if (settings.sslCert == nil) != (settings.sslKey == nil) {
            throw ConfigError(key: "database.sslcert", problem: "sslcert and sslkey go together")
        }
        func duration(_ key: String) throws(ConfigError) -> Duration? {
            guard let text = try reader.string("database.\(key)") else { return nil }
            guard let parsed = goDuration(text), parsed > .zero else {
                throw ConfigError(key: "database.\(key)", problem: "must be a duration such as 5s or 1m, got '\(text)'")
            }
            return parsed
        }
        settings.connectTimeout = try duration("connecttimeout") ?? settings.connectTimeout
        settings.maxIdleTime = try duration("pool.maxidletime") ?? settings.maxIdleTime
        if let maxOpen = try reader.int("database.pool.maxopen") {
            guard maxOpen > 0 else { throw ConfigError(key: "database.pool.maxopen", problem: "must be positive") }
            settings.maxOpen = maxOpen
        }
        return settings
    }

    private static func loadS3(_ reader: TreeReader, environment: [String: String]) throws(ConfigError) -> S3StorageSettings {
        if let s3 = reader.value("storage.s3") as? [String: Any], let unknown = s3.keys.sorted().first(where: { !s3Keys.contains($0) }) {
            throw ConfigError(key: "storage.s3.\(unknown)", problem: "not a storage.s3 key berth knows (\(s3Keys.sorted().joined(separator: ", ")))")
        }
        guard let bucket = try reader.string("storage.s3.bucket"), !bucket.isEmpty else {
            throw ConfigError(key: "storage.s3.bucket", problem: "is required")
        }
        let endpointText = try reader.string("storage.s3.regionendpoint").flatMap { $0.isEmpty ? nil : $0 }
        let region = try reader.string("storage.s3.region").flatMap { $0.isEmpty ? nil : $0 }
        guard let region = region ?? (endpointText == nil ? nil : "us-east-1") else {
            throw ConfigError(key: "storage.s3.region", problem: "is required unless regionendpoint is set")
        }
        // The region becomes part of the endpoint's host name (found by fuzzing: a region with a
        // space made that URL nil, and a force-unwrap crashed the server).
        guard region.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }) else {
            throw ConfigError(key: "storage.s3.region", problem: "'\(region.prefix(60))' is not a region name (lowercase letters, digits, '-')")
        }
        if try reader.bool("storage.s3.v4auth") == false {
            throw ConfigError(key: "storage.s3.v4auth", problem: "berth signs with AWS Signature Version 4 only")
        }
        let secure = try reader.bool("storage.s3.secure") ?? true
        let endpoint: URL
        if let endpointText {
            let withScheme = endpointText.contains("://") ? endpointText : "\(secure ? "https" : "http")://\(endpointText)"
            guard let url = URL(string: withScheme), url.host != nil, ["http", "https"].contains(url.scheme ?? ""), url.path.isEmpty || url.path == "/"
            else { throw ConfigError(key: "storage.s3.regionendpoint", problem: "must be an http(s) URL with no path, got '\(endpointText)'") }
            endpoint = url
        } else {
            endpoint = URL(string: "\(secure ? "https" : "http")://s3.\(region).amazonaws.com")!
        }
        var chunkSize = S3StorageSettings.defaultChunkSize
        if let configured = try reader.int("storage.s3.chunksize") {
            guard (S3StorageSettings.minimumChunkSize...S3StorageSettings.maximumChunkSize).contains(configured) else {
                throw ConfigError(key: "storage.s3.chunksize", problem: "must be 5242880 (5 MiB) to 5368709120 (5 GiB), got \(configured)")
            }
            chunkSize = configured
        }
        var storageClass = try reader.string("storage.s3.storageclass") ?? "STANDARD"
        if storageClass == "NONE" { storageClass = "" }
        guard
            let credentials = AWSCredentials.resolve(
                accessKey: try reader.string("storage.s3.accesskey"), secretKey: try reader.string("storage.s3.secretkey"),
                sessionToken: try reader.string("storage.s3.sessiontoken"), environment: environment)
        else {
            throw ConfigError(
                key: "storage.s3",
                problem: "no credentials: set accesskey and secretkey, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials")
        }
        let location = S3Location(
            endpoint: endpoint, region: region, bucket: bucket,
            // Path style by default when an endpoint is named (MinIO, Ceph RGW and moto expect it).
            pathStyle: try reader.bool("storage.s3.forcepathstyle") ?? (endpointText != nil),
            skipVerify: try reader.bool("storage.s3.skipverify") ?? false, storageClass: storageClass.isEmpty ? nil : storageClass,
            encrypt: try reader.bool("storage.s3.encrypt") ?? false, kmsKeyID: try reader.string("storage.s3.keyid"))
        return S3StorageSettings(
            location: location, credentials: credentials, rootDirectory: try reader.string("storage.s3.rootdirectory") ?? "", chunkSize: chunkSize)
    }
}
