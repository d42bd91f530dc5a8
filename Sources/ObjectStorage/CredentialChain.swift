import Foundation

extension AWSCredentials {
    /// The credentials distribution's S3 driver would use: the configured keys, else
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else the
    /// `AWS_PROFILE` (or `default`) section of `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`.
    /// Nil when none of them has a key pair.
    public static func resolve(accessKey: String?, secretKey: String?, sessionToken: String? = nil, environment: [String: String])
        -> AWSCredentials?
    {
        if let accessKey, let secretKey, !accessKey.isEmpty, !secretKey.isEmpty {
            return AWSCredentials(accessKey: accessKey, secretKey: secretKey, sessionToken: sessionToken)
        }
        if let key = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"], !key.isEmpty, !secret.isEmpty {
            return AWSCredentials(accessKey: key, secretKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let path = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return sharedFile(text, profile: environment["AWS_PROFILE"] ?? "default")
    }

    /// One profile of an INI-style shared credentials file.
    static func sharedFile(_ text: String, profile: String) -> AWSCredentials? {
        var section = ""
        var values: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                continue
            }
            guard section == profile, let equals = line.firstIndex(of: "=") else { continue }
            values[line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()] =
                line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        guard let key = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else { return nil }
        return AWSCredentials(accessKey: key, secretKey: secret, sessionToken: values["aws_session_token"])
    }
}
