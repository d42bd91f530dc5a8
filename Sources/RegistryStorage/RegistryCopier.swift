import Foundation
import OCI

/// Copies a whole registry into another (`berth storage migrate`, `import-distribution`):
/// per repository its visible blobs (streamed, the destination checking each digest as the bytes
/// pass), then its manifests byte for byte with their tags (children before the indexes that
/// name them), then the extension API's signatures. Referrers follow from the manifests' subjects.
/// Resumable: what the destination already holds is skipped, so a second run after an
/// interruption copies only what is missing.
public struct RegistryCopier: Sendable {
    public struct Report: Sendable, Equatable {
        public var repositories = 0
        public var blobsCopied = 0
        public var bytesCopied: Int64 = 0
        public var blobsPresent = 0
        public var manifests = 0
        public var tags = 0
        public var signatures = 0
        /// Manifests the destination does not take (distribution's schema 1, say), with why.
        public var skipped: [String] = []
    }

    let source: any RegistrySource
    let destination: Registry
    /// Blobs copied at once within a repository.
    let parallelBlobs: Int
    let progress: @Sendable (String) -> Void

    public init(from source: any RegistrySource, to destination: Registry, parallelBlobs: Int = 4, progress: @escaping @Sendable (String) -> Void) {
        self.source = source
        self.destination = destination
        self.parallelBlobs = parallelBlobs
        self.progress = progress
    }

    public func run() async throws -> Report {
        var total = Report()
        for repository in try await source.repositoryNames() {
            let report = try await copy(repository)
            progress(
                "\(repository): \(report.blobsCopied) blob(s) copied (\(report.bytesCopied) bytes), \(report.blobsPresent) already there, "
                    + "\(report.manifests) manifest(s), \(report.tags) tag(s), \(report.signatures) signature(s)")
            for reason in report.skipped { progress("\(repository): skipped \(reason)") }
            total.repositories += 1
            total.blobsCopied += report.blobsCopied
            total.bytesCopied += report.bytesCopied
            total.blobsPresent += report.blobsPresent
            total.manifests += report.manifests
            total.tags += report.tags
            total.signatures += report.signatures
            total.skipped += report.skipped.map { "\(repository): \($0)" }
        }
        return total
    }

    private func copy(_ repository: RepositoryName) async throws -> Report {
        var report = Report()
        let inventory = try await source.inventory(repository)
        for (copied, bytes) in try await copyBlobs(inventory.blobs, into: repository) {
            if copied { report.blobsCopied += 1; report.bytesCopied += bytes } else { report.blobsPresent += 1 }
        }
        let tagsByManifest = Dictionary(grouping: inventory.tags, by: \.value).mapValues { $0.compactMap { try? Tag(parsing: $0.key) }.sorted() }
        var pending = inventory.manifests
        // An index waits for its children; each round stores at least one manifest or stops.
        while !pending.isEmpty {
            var waiting: [Digest] = []
            var lastWait: RegistryError?
            for digest in pending {
                let manifest: StoredManifest
                do { manifest = try await source.storedManifest(repository, digest) } catch DistributionTreeError.notAManifest(_, let reason) {
                    report.skipped.append("\(digest): \(reason)")
                    continue
                }
                do {
                    let tags = tagsByManifest[digest] ?? []
                    _ = try await destination.putManifest(
                        repository, .digest(digest), contentType: manifest.mediaType, body: manifest.payload, extraTags: tags)
                    report.manifests += 1
                    report.tags += tags.count
                    report.signatures += try await copySignatures(repository, digest)
                } catch RegistryError.manifestBlobUnknown(let missing) {
                    waiting.append(digest)
                    lastWait = .manifestBlobUnknown(missing)
                } catch RegistryError.manifestInvalid(let reason) {
                    report.skipped.append("\(digest): \(reason)")
                }
            }
            if waiting.count == pending.count, let lastWait { throw RegistryCopyError(repository: repository, reason: lastWait.description) }
            pending = waiting
        }
        return report
    }

    /// Copies the blobs the destination repository does not show yet, a few at a time; returns
    /// (copied, bytes) per blob.
    private func copyBlobs(_ blobs: [StorageBlob], into repository: RepositoryName) async throws -> [(Bool, Int64)] {
        var results: [(Bool, Int64)] = []
        try await withThrowingTaskGroup(of: (Bool, Int64).self) { group in
            var next = blobs.makeIterator()
            func addNext() -> Bool {
                guard let blob = next.next() else { return false }
                group.addTask { try await copyBlob(blob, into: repository) }
                return true
            }
            for _ in 0..<parallelBlobs where !addNext() { break }
            while let result = try await group.next() {
                results.append(result)
                _ = addNext()
            }
        }
        return results
    }

    private func copyBlob(_ blob: StorageBlob, into repository: RepositoryName) async throws -> (Bool, Int64) {
        // Shown by the repository already, or stored for another one (then linking is enough).
        if try await destination.mount(blob.digest, into: repository, from: nil) { return (false, 0) }
        let reader = try await source.openBlob(blob.digest)
        defer { reader.close() }
        do {
            let size = try await destination.putBlob(repository, digest: blob.digest, length: reader.size, body: try await reader.bytes(0..<reader.size))
            return (true, size)
        } catch let error as RegistryError {
            throw RegistryCopyError(repository: repository, reason: "blob \(blob.digest): \(error.description) (the source's bytes are damaged)")
        }
    }

    /// Copies the signatures the destination does not have yet; returns how many.
    private func copySignatures(_ repository: RepositoryName, _ digest: Digest) async throws -> Int {
        let signatures = try await source.signatures(repository, digest)
        guard !signatures.isEmpty else { return 0 }
        let present = Set(try await destination.signatures(repository, digest).map(\.name))
        var added = 0
        for signature in signatures where !present.contains(signature.name) {
            try await destination.addSignature(repository, digest, signature)
            added += 1
        }
        return added
    }
}

public struct RegistryCopyError: Error, CustomStringConvertible {
    public let repository: RepositoryName
    public let reason: String
    public var description: String { "\(repository): \(reason)" }
}
