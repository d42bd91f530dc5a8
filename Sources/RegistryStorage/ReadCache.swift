import Synchronization

/// Recent answers to per-repository reads (manifests by reference, blob sizes, tag pages), so hot
/// pulls skip the metadata store. Every write through `Registry` invalidates its repository, and
/// so does every change another server commits to a shared store (`Registry.followChanges`);
/// while that feed is down nothing is cached. A read that raced
/// a write is not cached: entries are stored only if the repository's generation did not move
/// between the lookup and the insert. Bounded by an approximate byte budget; when full it starts over.
final class ReadCache: Sendable {
    struct Key: Hashable, Sendable {
        let repository: String
        let item: String
    }

    private struct State: ~Copyable {
        /// Stamps from one counter: a repository's last invalidation, and `floor`, the last time
        /// everything was dropped; a repository's generation is the later of the two.
        var tick: UInt64 = 0
        var floor: UInt64 = 0
        var generations: [String: UInt64] = [:]
        var entries: [String: [String: (value: any Sendable, cost: Int)]] = [:]
        var repositoryCost: [String: Int] = [:]
        var cost = 0
    }

    private let state = Mutex(State())
    /// One answer that spans every repository (the list of repositories with their totals),
    /// stamped with the counter: any invalidation anywhere makes it stale.
    private let overall = Mutex<(tick: UInt64, value: any Sendable)?>(nil)
    private let budget: Int
    /// Off while a shared store's change feed is down: every read then goes to the store.
    private let enabled = Atomic<Bool>(true)

    init(budgetBytes: Int = 64 << 20) { budget = budgetBytes }

    func generation(_ repository: String) -> UInt64 {
        state.withLock { max($0.generations[repository] ?? 0, $0.floor) }
    }

    func get<T: Sendable>(_ key: Key, as: T.Type = T.self) -> T? {
        // Unwrap before casting: a missing entry cast to an Optional `T` would "succeed" as nil.
        state.withLock { state -> T? in
            guard let entry = state.entries[key.repository]?[key.item] else { return nil }
            return entry.value as? T
        }
    }

    func put(_ key: Key, _ value: some Sendable, cost: Int, ifGeneration generation: UInt64) {
        state.withLock { state in
            guard max(state.generations[key.repository] ?? 0, state.floor) == generation, cost < budget else { return }
            if state.cost + cost > budget {
                state.entries.removeAll()
                state.repositoryCost.removeAll()
                state.cost = 0
            }
            let delta = cost - (state.entries[key.repository]?[key.item]?.cost ?? 0)
            state.cost += delta
            state.repositoryCost[key.repository, default: 0] += delta
            state.entries[key.repository, default: [:]][key.item] = (value, cost)
        }
    }

    /// Turns caching on or off; either way, what was cached is dropped.
    func setEnabled(_ on: Bool) {
        enabled.store(on, ordering: .sequentiallyConsistent)
        state.withLock { state in
            state.tick += 1
            state.floor = state.tick
            state.generations.removeAll()
            state.entries.removeAll()
            state.repositoryCost.removeAll()
            state.cost = 0
        }
    }

    func invalidate(_ repository: String) {
        state.withLock { state in
            state.tick += 1
            state.generations[repository] = state.tick
            state.entries[repository] = nil
            state.cost -= state.repositoryCost.removeValue(forKey: repository) ?? 0
        }
    }

    /// The cached answer spanning every repository, or `load`'s, kept unless a write intervened.
    func overallValue<T: Sendable>(load: () async throws -> T) async rethrows -> T {
        guard enabled.load(ordering: .sequentiallyConsistent) else { return try await load() }
        let before = state.withLock { $0.tick }
        if let hit = overall.withLock({ $0 }), hit.tick == before, let value = hit.value as? T { return value }
        let loaded = try await load()
        // Checked and stored under the state's lock, so an invalidation cannot slip in between.
        state.withLock { state in
            if state.tick == before { overall.withLock { $0 = (before, loaded) } }
        }
        return loaded
    }

    /// Returns the cached value for `key`, or loads it, caching it unless a write intervened.
    func value<T: Sendable>(_ key: Key, cost: (T) -> Int, load: () async throws -> T) async rethrows -> T {
        guard enabled.load(ordering: .sequentiallyConsistent) else { return try await load() }
        if let hit: T = get(key) { return hit }
        let before = generation(key.repository)
        let loaded = try await load()
        put(key, loaded, cost: cost(loaded) + 64, ifGeneration: before)
        return loaded
    }
}
