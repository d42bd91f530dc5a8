import Foundation
import Testing
import TestSupport

/// The bounds on external programs that keep a stuck peer from holding the whole run.
@Suite struct SpawnTests {
    @Test func aProgramPastItsDeadlineIsKilledWithWhatItSaid() throws {
        let began = ContinuousClock.now
        #expect(throws: SpawnError.self) {
            _ = try Spawn.run("/bin/sh", ["-c", "echo waiting >&2; exec sleep 60"], environment: nil, timeout: .seconds(1))
        }
        #expect(ContinuousClock.now - began < .seconds(10))
        do {
            _ = try Spawn.run("/bin/sh", ["-c", "echo waiting >&2; exec sleep 60"], environment: nil, timeout: .milliseconds(300))
        } catch {
            #expect("\(error)".contains("waiting"), "\(error)")
        }
    }

    @Test func aDaemonKeepingTheOutputOpenDoesNotHoldTheCaller() throws {
        let began = ContinuousClock.now
        // The background sleep inherits stdout and outlives the shell.
        let result = try Spawn.run("/bin/sh", ["-c", "sleep 8 & echo started; exit 3"], environment: nil)
        #expect(result.status == 3)
        #expect(String(decoding: result.stdout, as: UTF8.self) == "started\n")
        #expect(ContinuousClock.now - began < .seconds(6))
    }
}
