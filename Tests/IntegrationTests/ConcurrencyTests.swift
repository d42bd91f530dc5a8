import Foundation
import Testing

@Suite struct ConcurrencyTests {
    @Test func sixteenClientsPushTheSameBlobAndSixteenDifferentOnes() async throws {
        try await withServer { server, http in
            let shared = Fixtures.random(256 * 1024)
            let distinct = (0..<16).map { _ in Fixtures.random(128 * 1024) }
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<16 {
                    group.addTask {
                        // Half monolithic, half chunked, so both paths race.
                        if i % 2 == 0 {
                            return try await http.send(.POST, "/v2/team/app\(i)/blobs/uploads/?digest=\(Fixtures.digest(shared))", body: shared).status
                        }
                        let location = try #require(try await http.send(.POST, "/v2/team/app\(i)/blobs/uploads/").header("Location"))
                        _ = try await http.send(.PATCH, location, headers: [("Content-Range", "0-131071")], body: Array(shared[0..<131072]))
                        return try await http.send(
                            .PUT, "\(location)?digest=\(Fixtures.digest(shared))", headers: [("Content-Range", "131072-262143")],
                            body: Array(shared[131072...])
                        ).status
                    }
                    group.addTask {
                        try await http.send(.POST, "/v2/team/many/blobs/uploads/?digest=\(Fixtures.digest(distinct[i]))", body: distinct[i]).status
                    }
                }
                for try await status in group { #expect(status == 201) }
            }
            for i in 0..<16 {
                #expect(try await http.get("/v2/team/app\(i)/blobs/\(Fixtures.digest(shared))").body == shared)
                #expect(try await http.get("/v2/team/many/blobs/\(Fixtures.digest(distinct[i]))").body == distinct[i])
            }
            #expect(try await StoredBlobs.uploadLeftovers(server).isEmpty)
        }
    }
}
