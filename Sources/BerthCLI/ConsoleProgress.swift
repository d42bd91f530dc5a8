import Foundation
import OCI
import Synchronization
import Transports

/// Copy progress on stderr (so an archive written to stdout stays clean). On a terminal: one
/// live line per blob in flight (bytes, total, rate) under which an aggregate line is redrawn, and
/// a final line per blob. Otherwise skopeo's plain lines, plus an aggregate line every `interval`
/// seconds, so a slow CI copy is not mistaken for a hung one.
final class ConsoleProgress: CopyProgress {
    private struct Blob {
        let label: String
        let size: Int64
        var done: Int64 = 0
        let started = ContinuousClock.now
    }

    private struct State {
        var total: Int64 = 0
        var done: Int64 = 0
        var blobs = 0
        var finished = 0
        var active: [Digest: Blob] = [:]
        var order: [Digest] = []
        var drawn = 0
    }

    private let state = Mutex(State())
    private let terminal = isatty(STDERR_FILENO) == 1
    private let interval: Double
    private let started = ContinuousClock.now

    init(interval: Double) { self.interval = interval }

    func blobStarted(_ descriptor: Descriptor, isConfig: Bool) {
        let label = "Copying \(isConfig ? "config" : "blob") \(descriptor.digest)"
        state.withLock { state in
            state.total += descriptor.size
            state.blobs += 1
            if terminal {
                state.active[descriptor.digest] = Blob(label: label, size: descriptor.size)
                state.order.append(descriptor.digest)
            } else {
                write(label + "\n")
            }
        }
    }

    func blobSkipped(_ descriptor: Descriptor, isConfig: Bool) {
        state.withLock { state in
            permanent("Copying \(isConfig ? "config" : "blob") \(descriptor.digest) skipped: already exists", &state)
        }
    }

    func bytes(_ count: Int, of descriptor: Descriptor) {
        state.withLock { state in
            state.done += Int64(count)
            state.active[descriptor.digest]?.done += Int64(count)
        }
    }

    func blobDone(_ descriptor: Descriptor) {
        state.withLock { state in
            state.finished += 1
            guard let blob = state.active.removeValue(forKey: descriptor.digest) else { return }
            state.order.removeAll { $0 == descriptor.digest }
            permanent("\(blob.label) done: \(Self.size(blob.size)) in \(Self.seconds(since: blob.started))", &state)
        }
    }

    func writingManifest() { state.withLock { permanent("Writing manifest to image destination", &$0) } }

    func storingSignatures() { state.withLock { permanent("Storing signatures", &$0) } }

    func reporting<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let ticker = Task { [self] in
            let period = terminal ? 0.25 : interval
            guard period > 0 else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int(period * 1000)))
                if Task.isCancelled { break }
                tick()
            }
        }
        defer { ticker.cancel() }
        let result = try await body()
        ticker.cancel()
        state.withLock { state in
            erase(&state)
            if terminal || state.blobs > 0 { write(aggregate(state, final: true) + "\n") }
        }
        return result
    }

    private func tick() {
        state.withLock { state in
            guard state.blobs > 0 else { return }
            if terminal { redraw(&state) } else { write(aggregate(state, final: false) + "\n") }
        }
    }

    private func aggregate(_ state: State, final: Bool) -> String {
        let seconds = max((ContinuousClock.now - started) / .seconds(1), 0.001)
        let rate = "\(Self.size(Int64(Double(state.done) / seconds)))/s"
        if final { return "Copied \(state.finished) blobs, \(Self.size(state.done)) in \(String(format: "%.1f", seconds)) s (\(rate))" }
        return "Progress: \(state.finished)/\(state.blobs) blobs, \(Self.size(state.done)) / \(Self.size(state.total)), \(rate)"
    }

    /// A line that stays, printed above the live block (which is then drawn again).
    private func permanent(_ line: String, _ state: inout State) {
        erase(&state)
        write(line + "\n")
        if terminal { redraw(&state) }
    }

    private func erase(_ state: inout State) {
        guard terminal, state.drawn > 0 else { return }
        write("\u{1B}[\(state.drawn)A" + String(repeating: "\u{1B}[2K\n", count: state.drawn) + "\u{1B}[\(state.drawn)A")
        state.drawn = 0
    }

    private func redraw(_ state: inout State) {
        erase(&state)
        var lines = state.order.compactMap { state.active[$0] }.map { blob in
            let seconds = max((ContinuousClock.now - blob.started) / .seconds(1), 0.001)
            return "\(blob.label.prefix(48))… \(Self.size(blob.done)) / \(Self.size(blob.size)) \(Self.size(Int64(Double(blob.done) / seconds)))/s"
        }
        if state.blobs > 0 { lines.append(aggregate(state, final: false)) }
        for line in lines { write(line + "\n") }
        state.drawn = lines.count
    }

    private func write(_ text: String) { Console.err(text) }

    static func seconds(since start: ContinuousClock.Instant) -> String {
        String(format: "%.1f s", (ContinuousClock.now - start) / .seconds(1))
    }

    static func size(_ bytes: Int64) -> String { ByteCount.format(bytes, binary: true) }
}
