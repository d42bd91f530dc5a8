import Foundation
import Testing

@testable import Transports

/// What a `dir:` destination agrees to write into.
@Suite struct DirDestinationTests {
    @Test func aDirectoryHoldingOnlyOurTemporaryFilesIsTakenOverAnotherIsRefused() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("berth-dirdest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        // A copy killed after creating the directory and a temporary file, before `version`.
        try FileManager.default.createDirectory(atPath: "\(base)/killed", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: "\(base)/killed/.berth-tmp-0000", contents: Data("partial".utf8)))
        _ = try DirDestination(path: "\(base)/killed")
        #expect(FileManager.default.fileExists(atPath: "\(base)/killed/version"))
        // Anything else in it: not ours to overwrite.
        try FileManager.default.createDirectory(atPath: "\(base)/theirs", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: "\(base)/theirs/notes.txt", contents: Data("mine".utf8)))
        #expect(throws: TransportError.self) { try DirDestination(path: "\(base)/theirs") }
        #expect(!FileManager.default.fileExists(atPath: "\(base)/theirs/version"))
    }
}
