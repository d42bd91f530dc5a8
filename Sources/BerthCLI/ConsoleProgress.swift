import Foundation
import OCI
import Synchronization
import Transports

/// Copy progress on stderr (so an archive written to stdout stays clean): skopeo's plain lines,
/// and an aggregate line, redrawn in place on a terminal and printed every `interval` seconds
/// otherwise, so a slow CI copy is not mistaken for a hung one.
final class ConsoleProgress: CopyProgress {
    private struct State {
        var total: Int64 = 0
        var done: Int64 = 0
        var blobs = 0
        var finished = 0
    }
    private let state = Mutex(State())
    private let terminal = isatty(STDERR_FILENO) == 1
    private let interval: Double
    private let started = ContinuousClock.now

    init(interval: Double) { self.interval = interval }

    func blobStarted(_ descriptor: Descriptor, isConfig: Bool) {
        state.withLock {
            $0.total += descriptor.size
            $0.blobs += 1
        }
        line("Copying \(isConfig ? "config" : "blob") \(descriptor.digest)")
    }

    func blobSkipped(_ descriptor: Descriptor, isConfig: Bool) {
        line("Copying \(isConfig ? "config" : "blob") \(descriptor.digest) skipped: already exists")
    }

    func bytes(_ count: Int, of descriptor: Descriptor) { state.withLock { $0.done += Int64(count) } }

    func blobDone(_ descriptor: Descriptor) { state.withLock { $0.finished += 1 } }

    func writingManifest() { line("Writing manifest to image destination") }

    func reporting<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let ticker = Task { [self] in
            let period = terminal ? 0.5 : interval
            guard period > 0 else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int(period * 1000)))
                if Task.isCancelled { break }
                aggregate()
            }
        }
        defer { ticker.cancel() }
        let result = try await body()
        ticker.cancel()
        if terminal { write("\r\u{1B}[K") }
        return result
    }

    private func aggregate() {
        let s = state.withLock { $0 }
        guard s.blobs > 0 else { return }
        let seconds = max((ContinuousClock.now - started) / .seconds(1), 0.001)
        let text = "Progress: \(s.finished)/\(s.blobs) blobs, \(Self.size(s.done)) / \(Self.size(s.total)), \(Self.size(Int64(Double(s.done) / seconds)))/s"
        if terminal { write("\r\u{1B}[K" + text) } else { write(text + "\n") }
    }

    private func line(_ text: String) {
        write(terminal ? "\r\u{1B}[K\(text)\n" : "\(text)\n")
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
