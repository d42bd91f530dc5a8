import Foundation
import TestSupport
import Testing

/// `berth database status|migrate` against a real PostgreSQL, as an operator runs them.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: Interop.berthBinary) && (PostgresCluster.installed || Interop.required)))
struct DatabaseCommandTests {
    @Test func statusAndMigrateBeforeARollout() async throws {
        let database = try await PostgresCluster.shared.database()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("berth-db-\(UUID().uuidString).yml")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("version: 0.1\n\(database.yaml)".utf8).write(to: file)
        let pending = try await Interop.run(Interop.berthBinary, ["database", "status", "--config", file.path])
        #expect(pending.status == 2 && pending.stdout == "1\tpending\n2\tpending\n3\tpending\n4\tpending\n")
        let migrated = try await Interop.run(Interop.berthBinary, ["database", "migrate", "--config", file.path])
        #expect(migrated.status == 0 && migrated.stdout == "applied migration(s) 1, 2, 3, 4\n")
        let again = try await Interop.run(Interop.berthBinary, ["database", "migrate", "--config", file.path])
        #expect(again.status == 0 && again.stdout == "the schema is up to date\n")
        let applied = try await Interop.run(Interop.berthBinary, ["database", "status", "--config", file.path])
        #expect(applied.status == 0 && applied.stdout == "1\tapplied\n2\tapplied\n3\tapplied\n4\tapplied\n")

        try Data("version: 0.1\n".utf8).write(to: file)
        let none = try await Interop.run(Interop.berthBinary, ["database", "status", "--config", file.path])
        #expect(none.status == 1 && none.stderr.contains("no database: section is enabled"))
    }
}
