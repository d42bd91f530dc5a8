import Foundation
import OCI
import RegistryClient

/// Simple signatures kept beside a registry that cannot store them (containers/image's
/// "lookaside" storage): `BASE/<repository>@<algorithm>=<hex>/signature-<n>`, n counting from 1;
/// readers stop at the first missing number. `file://` bases are read and written, `http(s)://`
/// bases only read (they are published copies of a `file://` staging area).
struct Lookaside {
    /// The base with the repository path appended (see `RegistriesD.lookaside`).
    let base: URL

    func url(_ digest: Digest, _ number: Int) -> URL {
        URL(string: "\(base.absoluteString)@\(digest.algorithm.rawValue)=\(digest.encoded)/signature-\(number)")!
    }

    func read(_ digest: Digest, client: RegistryClient) async throws -> [[UInt8]] {
        var signatures: [[UInt8]] = []
        // Bounded: containers/image has no limit, but thousands of signatures are an attack.
        for number in 1...1024 {
            let location = url(digest, number)
            if location.isFileURL {
                guard let data = FileManager.default.contents(atPath: location.path) else { break }
                signatures.append(Array(data))
            } else {
                guard let bytes = try await client.fetchExternal(location.absoluteString) else { break }
                signatures.append(bytes)
            }
        }
        return signatures
    }

    /// Stores exactly `signatures` (replacing what was there, as containers/image does), each
    /// file written atomically.
    func write(_ signatures: [[UInt8]], for digest: Digest) throws {
        guard base.isFileURL else {
            throw TransportError.unsupported(
                base.absoluteString, "signatures can only be written to a file:// lookaside; set lookaside-staging in registries.d")
        }
        for (index, signature) in signatures.enumerated() {
            try AtomicFile.write(signature, to: url(digest, index + 1).path)
        }
        var number = signatures.count + 1
        while unlink(url(digest, number).path) == 0 { number += 1 }
    }
}
