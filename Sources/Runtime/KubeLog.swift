import Foundation

/// The k8s-file log format conmon writes and `podman logs` reads: one record per line,
/// `TIMESTAMP STREAM F|P TEXT`, where `F` ends a line of output and `P` is part of one that the
/// next record continues (the text never holds a newline). One timestamp per read of the
/// container's output.
public enum KubeLog {
    public enum Stream: String, Sendable { case stdout, stderr }

    /// The records for one read of `stream` (complete lines `F`, a trailing part `P`).
    static func records(_ bytes: ArraySlice<UInt8>, stream: Stream, timestamp: String) -> [UInt8] {
        var out: [UInt8] = []
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? bytes.endIndex
            out += Array("\(timestamp) \(stream.rawValue) \(newline == nil ? "P" : "F") ".utf8)
            out += bytes[start..<end]
            out.append(UInt8(ascii: "\n"))
            start = newline.map { $0 + 1 } ?? bytes.endIndex
        }
        return out
    }

    /// One line of output, glued from its records.
    public struct Line: Sendable, Equatable {
        public var timestamp: String
        public var stream: Stream
        public var text: [UInt8]
        /// False for output that ended without a newline (the container is still writing it, or stopped).
        public var complete: Bool

        public var date: Date? { Timestamps.parse(timestamp) }
    }

    /// Parses records into lines, gluing `P` records to what follows on the same stream; a
    /// record that does not parse is skipped (a log truncated under a reader starts mid-record).
    public struct Reader: Sendable {
        private var pending: [Stream: Line] = [:]

        public init() {}

        public mutating func lines(in record: ArraySlice<UInt8>) -> [Line] {
            let fields = record.split(separator: UInt8(ascii: " "), maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count >= 3, let stream = Stream(rawValue: String(decoding: fields[1], as: UTF8.self)),
                fields[2].count == 1, let tag = fields[2].first, tag == UInt8(ascii: "F") || tag == UInt8(ascii: "P")
            else { return [] }
            let text = fields.count == 4 ? Array(fields[3]) : []
            var line = pending.removeValue(forKey: stream) ?? Line(timestamp: String(decoding: fields[0], as: UTF8.self), stream: stream, text: [], complete: false)
            line.text += text
            if tag == UInt8(ascii: "P") {
                pending[stream] = line
                return []
            }
            line.complete = true
            return [line]
        }

        /// Parts still waiting for the rest of their line (at the end of a log that is not followed).
        public mutating func flush() -> [Line] {
            defer { pending = [:] }
            return pending.values.sorted { $0.timestamp < $1.timestamp }
        }
    }
}

/// Appends a container's output to its log (0600, O_APPEND) and keeps it under `maxSize` as
/// conmon 2.1 does: when the next write would pass the cap the log starts over empty, so the
/// most recent output is what remains. Output the disk cannot take (it is full) is counted, not
/// half-written, and the container goes on: its monitor records the loss for `logs` and `inspect`.
struct KubeLogWriter {
    let path: String
    let maxSize: Int64?
    private var descriptor: Int32
    private var size: Int64
    /// Every loss so far, and whether the last write was one of them.
    private(set) var loss: LogLoss?

    init(path: String, maxSize: Int64?) throws {
        self.path = path
        self.maxSize = maxSize
        descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw RuntimeError.io(path, String(cString: strerror(errno))) }
        var info = stat()
        fstat(descriptor, &info)
        size = Int64(info.st_size)
    }

    /// Appends `bytes`; true when that started or ended a loss (the monitor then records it).
    @discardableResult
    mutating func write(_ bytes: ArraySlice<UInt8>, stream: KubeLog.Stream) -> Bool {
        guard !bytes.isEmpty else { return false }
        var records = KubeLog.records(bytes, stream: stream, timestamp: Timestamps.now())[...]
        if let maxSize, size + Int64(records.count) > maxSize {
            // Readers following the log see it shrink and start again from its beginning.
            ftruncate(descriptor, 0)
            size = 0
            // One read larger than the cap keeps its last whole records that fit.
            while Int64(records.count) > maxSize, let newline = records.firstIndex(of: UInt8(ascii: "\n")) {
                records = records[(newline + 1)...]
            }
        }
        let wasLosing = loss?.ongoing ?? false
        let failure = wasLosing && !roomAgain ? loss?.reason : append(records)
        if let failure {
            // A record cut short would corrupt the line after it: the log ends where it ended before.
            ftruncate(descriptor, off_t(size))
            var current = loss ?? LogLoss(bytes: 0, reason: failure, since: Date(), ongoing: true)
            if !current.ongoing { (current.since, current.ongoing) = (Date(), true) }
            current.bytes += Int64(bytes.count)
            current.reason = failure
            loss = current
        } else {
            size += Int64(records.count)
            loss?.ongoing = false
        }
        return wasLosing != (loss?.ongoing ?? false)
    }

    /// Whether a disk that was full has room again. Until it has a little (`resumeFree`) output
    /// stays unlogged: the crumbs a deleted file or the monitor's reserve frees would otherwise
    /// let a line through now and then, and the log would have holes nobody could see.
    private var roomAgain: Bool {
        var info = statvfs()
        guard fstatvfs(descriptor, &info) == 0 else { return true }
        return Int64(info.f_bavail) * Int64(info.f_frsize) >= Self.resumeFree
    }
    static let resumeFree: Int64 = 1 << 20

    /// Writes all of `records`; the reason when the disk would not take them.
    private func append(_ records: ArraySlice<UInt8>) -> String? {
        let code = records.withUnsafeBytes { writeFully(descriptor, $0) }
        return code == 0 ? nil : String(cString: strerror(code))
    }

    /// The container exited: output lost from here on is a new loss.
    mutating func endLoss() { loss?.ongoing = false }

    func close() { Glibc.close(descriptor) }
}

/// Output a container wrote that its log could not keep (a full disk): how many bytes in all,
/// why the last write failed, and since when the output is being lost (`ongoing`) or was last lost.
public struct LogLoss: Codable, Sendable, Equatable {
    public var bytes: Int64
    public var reason: String
    public var since: Date
    public var ongoing: Bool

    /// One line for `berth logs`.
    public func describe(_ name: String) -> String {
        let when = Timestamps.rfc3339(since)
        return ongoing
            ? "\(name)'s output is not being logged since \(when) (\(reason)); \(bytes) bytes lost so far"
            : "\(bytes) bytes of \(name)'s output were not logged (\(reason), from \(when))"
    }
}
