import Foundation

/// A container Berth created: its bundle under `containers/<id>/bundle` and this record beside it.
public struct ContainerRecord: Codable, Sendable {
    public var id: String
    public var name: String
    public var image: String
    public var command: [String]
    public var created: Date
    public var status: String
    public var exitCode: Int32?
    public var runtime: String
    /// The `berth run` process watching it, while it runs.
    public var pid: Int32?
}

/// The containers of a store: created, listed (`ps`), removed (`rm`).
public struct Containers: Sendable {
    let store: LocalStore

    public init(store: LocalStore) { self.store = store }

    func directory(_ id: String) -> String { "\(store.containersPath)/\(id)" }

    public func list() -> [ContainerRecord] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: store.containersPath)) ?? []
        return ids.compactMap { id in
            FileManager.default.contents(atPath: "\(directory(id))/container.json").flatMap { try? Self.decoder.decode(ContainerRecord.self, from: $0) }
        }.sorted { $0.created < $1.created }
    }

    public func find(_ nameOrID: String) -> ContainerRecord? {
        list().first { $0.name == nameOrID || $0.id == nameOrID || (nameOrID.count >= 4 && $0.id.hasPrefix(nameOrID)) }
    }

    /// A new container directory with a fresh id and a unique name.
    func create(name: String?, image: String, runtime: String) throws -> ContainerRecord {
        let id = (0..<32).map { _ in String(format: "%x", Int.random(in: 0..<16)) }.joined()
        let chosen = name ?? "berth-\(id.prefix(12))"
        guard chosen.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) }), !chosen.isEmpty else {
            throw RuntimeError.invalidArgument("invalid container name '\(chosen)' ([A-Za-z0-9_.-])")
        }
        if find(chosen) != nil { throw RuntimeError.invalidArgument("the container name \(chosen) is already in use (berth rm \(chosen))") }
        try FileManager.default.createDirectory(atPath: "\(directory(id))/bundle/rootfs", withIntermediateDirectories: true)
        let record = ContainerRecord(id: id, name: chosen, image: image, command: [], created: Date(), status: "created", exitCode: nil, runtime: runtime, pid: nil)
        try save(record)
        return record
    }

    func save(_ record: ContainerRecord) throws {
        let temporary = "\(directory(record.id))/.container.json.tmp"
        try Self.encoder.encode(record).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, "\(directory(record.id))/container.json") == 0 else { throw RuntimeError.io(temporary, String(cString: strerror(errno))) }
    }

    /// Deletes the container's runtime state and its directory.
    public func remove(_ record: ContainerRecord) throws {
        if record.status == "running", let pid = record.pid, kill(pid, 0) == 0 {
            throw RuntimeError.invalidArgument("container \(record.name) is running")
        }
        // `run` in the foreground deletes its state when the container exits; only a berth that
        // died mid-run leaves some behind.
        if FileManager.default.fileExists(atPath: "\(store.runtimeState)/\(record.id)"), let runtime = try? OCIRuntime.find(record.runtime) {
            runtime.delete(id: record.id, state: store.runtimeState)
        }
        // A berth killed mid-run leaves the overlay mounted; removing through it would whiteout, not delete.
        OverlayMount.unmount("\(directory(record.id))/bundle/rootfs")
        try FileManager.default.removeItem(atPath: directory(record.id))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
