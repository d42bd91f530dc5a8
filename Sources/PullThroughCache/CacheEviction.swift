import Foundation
import OCI
import RegistryStorage
import Synchronization

/// Pull times and the size cap: every served manifest is noted in memory, the notes are saved in
/// one write per `maintenanceInterval`, and while the cached repositories hold more than
/// `maxSize` the least recently pulled image is evicted whole. One replica does it at a time.
extension PullThroughCache {
    func notePull(_ repository: RepositoryName, _ digest: Digest) {
        let pull = ManifestPull(repository: repository, digest: digest, at: Date())
        pulls.withLock { $0["\(repository)@\(digest)"] = pull }
    }

    /// Saves pull times and evicts, every `maintenanceInterval`, until cancelled.
    public func maintain() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: settings.maintenanceInterval)
                try await maintainOnce()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("pull-through cache maintenance: \(error)")
            }
        }
    }

    /// One round: pull times saved, then images evicted while over `maxSize`. Returns the images evicted.
    @discardableResult
    public func maintainOnce() async throws -> [ManifestPull] {
        let noted = pulls.withLock { pulls in
            defer { pulls = [:] }
            return Array(pulls.values)
        }
        try await registry.recordPulls(noted)
        guard let maxSize = settings.maxSize else { return [] }
        let prefixes = settings.upstreams.map(\.prefix)
        let evicted = try await registry.metadata.asSoleRunner("cache eviction") { () async throws -> [ManifestPull] in
            var used = try await registry.bytesLinked(under: prefixes)
            var evicted: [ManifestPull] = []
            while used > maxSize {
                let candidates = try await registry.evictionCandidates(under: prefixes, limit: 16)
                guard !candidates.isEmpty else { break }
                for candidate in candidates where used > maxSize {
                    let report = try await registry.evict(candidate.repository, candidate.digest, within: prefixes)
                    observer.evicted(bytes: report.bytesFreed)
                    logger.info("evicted \(candidate.repository)@\(candidate.digest) (last pulled \(candidate.at)): \(report.bytesFreed) bytes freed")
                    evicted.append(candidate)
                    // What eviction frees is exactly what leaves the count (blobs it keeps stay linked).
                    used -= report.bytesFreed
                }
            }
            observer.bytesCached(used)
            return evicted
        }
        return evicted ?? []
    }
}
