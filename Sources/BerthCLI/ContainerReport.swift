import Foundation
import Runtime

/// A container as `ps` and `inspect` show it, in podman's words and JSON keys.
struct ContainerReport {
    let record: ContainerRecord
    let containers: Containers
    /// Read once (it looks at the watcher's and the container's processes).
    let status: String

    init(record: ContainerRecord, containers: Containers) {
        self.record = record
        self.containers = containers
        status = record.effectiveStatus
    }

    /// `Up 5 seconds`, `Exited (3) 2 minutes ago`, `Created`, `Restarting (1) 1 second ago`.
    func statusText(now: Date = Date()) -> String {
        switch status {
        case "running": return "Up \(Self.human(now.timeIntervalSince(record.startedAt ?? record.created)))"
        case "orphaned": return "Up \(Self.human(now.timeIntervalSince(record.startedAt ?? record.created))) (monitor died: berth rm -f \(record.name))"
        case "restarting": return "Restarting (\(record.exitCode ?? 0)) \(Self.human(now.timeIntervalSince(record.finishedAt ?? now))) ago"
        case "exited":
            guard let finished = record.finishedAt else { return "Exited (\(record.exitCode.map(String.init) ?? "unknown"))" }
            return "Exited (\(record.exitCode.map(String.init) ?? "unknown")) \(Self.human(now.timeIntervalSince(finished))) ago"
        default: return "Created"
        }
    }

    /// Published ports as podman shows them (`127.0.0.1:8080->80/tcp`), then exposed ones not published.
    var ports: String {
        let published = record.ports ?? []
        let exposed = (record.exposedPorts ?? []).filter { entry in !published.contains { "\($0.containerPort)/\($0.proto)" == entry } }
        return (published.map(\.description) + exposed).joined(separator: ", ")
    }

    /// docker's `units.HumanDuration`.
    static func human(_ interval: TimeInterval) -> String {
        let seconds = Int(max(interval, 0))
        switch seconds {
        case 0: return "Less than a second"
        case 1: return "1 second"
        case ..<60: return "\(seconds) seconds"
        case ..<120: return "About a minute"
        case ..<3600: return "\(seconds / 60) minutes"
        case ..<7200: return "About an hour"
        case ..<(48 * 3600): return "\(seconds / 3600) hours"
        case ..<(14 * 86400): return "\(seconds / 86400) days"
        case ..<(90 * 86400): return "\(seconds / (7 * 86400)) weeks"
        case ..<(730 * 86400): return "\(seconds / (30 * 86400)) months"
        default: return "\(seconds / (365 * 86400)) years"
        }
    }

    /// The fields `ps --format json` prints (a subset of podman's, same keys).
    var psJSON: [String: Any] {
        var object: [String: Any] = [
            "Id": record.id, "Names": [record.name], "Image": record.image, "Command": record.command, "Created": Int(record.created.timeIntervalSince1970),
            "CreatedAt": Timestamps.rfc3339(record.created), "State": status, "Status": statusText(), "ExitCode": record.exitCode ?? 0,
            "Exited": status == "exited", "Pid": record.containerPid ?? 0,
            "Ports": (record.ports ?? []).map { ["host_ip": $0.hostIP, "host_port": $0.hostPort, "container_port": $0.containerPort, "protocol": $0.proto] as [String: Any] }, "AutoRemove": record.autoRemove ?? false,
            "Restarts": record.restartCount ?? 0,
        ]
        if let started = record.startedAt { object["StartedAt"] = Int(started.timeIntervalSince1970) }
        if let finished = record.finishedAt { object["ExitedAt"] = Int(finished.timeIntervalSince1970) }
        return object
    }

    /// What a `ps --format` template sees: podman's names for its columns (`.ID`, `.Names`,
    /// `.Ports` as the table shows them), beside the JSON's fields.
    func psTemplateFields(noTrunc: Bool, now: Date = Date()) -> [String: Any] {
        var fields = psJSON
        let command = record.command.joined(separator: " ")
        fields["ID"] = shownID(noTrunc: noTrunc)
        fields["Command"] = noTrunc ? command : String(command.prefix(20))
        fields["Names"] = record.name
        fields["Ports"] = ports
        fields["Status"] = statusText(now: now)
        fields["RunningFor"] = "\(Self.human(now.timeIntervalSince(record.created))) ago"
        fields["CreatedHuman"] = fields["RunningFor"]
        return fields
    }

    /// The id as `ps` shows it: 12 digits unless `--no-trunc`.
    func shownID(noTrunc: Bool) -> String { noTrunc ? record.id : String(record.id.prefix(12)) }

    /// The column titles of a `ps --format 'table …'` template.
    static let psTitles = [
        "ID": "CONTAINER ID", "Id": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT", "Created": "CREATED",
        "CreatedHuman": "CREATED", "RunningFor": "CREATED", "Status": "STATUS", "State": "STATE", "Names": "NAMES", "Ports": "PORTS",
        "Pid": "PID", "ExitCode": "EXIT CODE", "Exited": "EXITED", "ExitedAt": "EXITED AT", "AutoRemove": "AUTO REMOVE", "Restarts": "RESTARTS",
        "StartedAt": "STARTED AT",
    ]

    /// `inspect`'s object: state, configuration, mounts, network and log.
    var inspectJSON: [String: Any] {
        let directory = containers.directory(record.id)
        let config = (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/bundle/config.json")))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        let process = config["process"] as? [String: Any] ?? [:]
        let mounts = (config["mounts"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == "bind" && $0["destination"] as? String != "/run/berth-init" }
        let namespaces = ((config["linux"] as? [String: Any])?["namespaces"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
        let restart = record.restartPolicy ?? "no"
        let restartName = restart.split(separator: ":").first.map(String.init) ?? "no"
        return [
            "Id": record.id, "Name": record.name, "Created": Timestamps.rfc3339(record.created), "Path": record.command.first ?? "",
            "Args": Array(record.command.dropFirst()), "Image": record.image, "ImageName": record.image, "Rootfs": "\(directory)/bundle/rootfs",
            "OCIConfigPath": "\(directory)/bundle/config.json", "OCIRuntime": record.runtime, "RestartCount": record.restartCount ?? 0,
            "State": [
                "Status": status, "Running": status == "running", "Restarting": status == "restarting", "Pid": record.containerPid ?? 0,
                "ConmonPid": record.detached == true ? (record.pid ?? 0) : 0, "ExitCode": record.exitCode ?? 0, "Error": record.error ?? "",
                "StartedAt": record.startedAt.map(Timestamps.rfc3339) ?? "", "FinishedAt": record.finishedAt.map(Timestamps.rfc3339) ?? "",
            ] as [String: Any],
            "Config": [
                "Cmd": record.command, "Env": process["env"] ?? [], "WorkingDir": process["cwd"] ?? "/", "User": process["user"] ?? [:],
                "StopSignal": record.stopSignal ?? "SIGTERM", "StopTimeout": record.stopTimeout ?? 10, "Init": record.initPath != nil,
                "InitPath": record.initPath ?? "", "ExposedPorts": Dictionary(uniqueKeysWithValues: (record.exposedPorts ?? []).map { ($0, [String: Any]()) }),
            ] as [String: Any],
            "HostConfig": [
                "RestartPolicy": ["Name": restartName, "MaximumRetryCount": Int(restart.split(separator: ":").dropFirst().first ?? "0") ?? 0],
                "AutoRemove": record.autoRemove ?? false,
                "LogConfig": ["Type": record.detached == true ? "k8s-file" : "none", "Path": containers.logPath(record.id), "Size": record.logMaxSize.map(String.init) ?? "-1"],
            ] as [String: Any],
            "Mounts": mounts.map { mount in
                ["Type": "bind", "Source": mount["source"] ?? "", "Destination": mount["destination"] ?? "",
                 "RW": !((mount["options"] as? [String] ?? []).contains("ro"))] as [String: Any]
            },
            "NetworkSettings": ["Mode": record.network ?? (namespaces.contains("network") ? "none" : "host"), "Ports": portBindings] as [String: Any],
            "LogPath": containers.logPath(record.id),
            // Berth's own: output the log could not keep (its disk full); null when none was lost.
            "LogLoss": record.logLoss.map { loss -> Any in
                ["Bytes": loss.bytes, "Reason": loss.reason, "Since": Timestamps.rfc3339(loss.since), "Ongoing": loss.ongoing] as [String: Any]
            } ?? NSNull(),
        ]
    }

    /// `{"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}`; exposed ports unpublished map to null.
    var portBindings: [String: Any] {
        var bindings: [String: Any] = [:]
        for entry in record.exposedPorts ?? [] { bindings[entry] = NSNull() }
        for mapping in record.ports ?? [] {
            let key = "\(mapping.containerPort)/\(mapping.proto)"
            let binding: [String: Any] = ["HostIp": mapping.hostIP, "HostPort": String(mapping.hostPort)]
            bindings[key] = ((bindings[key] as? [[String: Any]]) ?? []) + [binding]
        }
        return bindings
    }

    /// What `container inspect` and `inspect CONTAINER` print: the objects as a JSON array, or
    /// `format` (a template, podman's 125 for a mistake in it) rendered for each.
    static func inspect(_ reports: [ContainerReport], format: String?) throws -> String {
        if let format, format != "json" { return try OutputTemplate(format, status: 125).render(reports.map(\.inspectJSON)) }
        let data = try JSONSerialization.data(withJSONObject: reports.map(\.inspectJSON), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
