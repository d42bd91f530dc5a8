import Foundation
import Testing

/// Kills a real `berth serve` process (SIGKILL) and starts it again on the same storage.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: Interop.berthBinary), "the berth binary is not built"))
struct RestartTests {
    @Test func killedServerKeepsFinishedContentAndResumesUploads() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-restart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var server = try await ServerProcess(root: root)
        var http = HTTP(base: server.base)

        let image = Fixtures.image(layers: 3, layerSize: 100_000)
        #expect(try await http.push(image, to: "team/app", as: "v1").status == 201)

        let data = Fixtures.random(3000)
        let start = try await http.send(.POST, "/v2/team/app/blobs/uploads/")
        let location = try #require(start.header("Location"))
        let first = try await http.send(.PATCH, location, headers: [("Content-Range", "0-999")], body: Array(data[0..<1000]))
        #expect(first.status == 202)

        // A second chunk is in flight, half sent, when the server dies.
        let port = server.port
        try await offThread {
            let socket = try RawSocket(port: port)
            socket.send("PATCH \(location) HTTP/1.1\r\nHost: x\r\nContent-Range: 1000-1999\r\nContent-Length: 1000\r\n\r\n")
            socket.send(Array(data[1000..<1500]))
            Thread.sleep(forTimeInterval: 0.2)
            socket.close()
        }
        server.kill()

        server = try await ServerProcess(root: root)
        http = HTTP(base: server.base)
        defer { server.kill() }

        let manifest = try await http.get("/v2/team/app/manifests/v1")
        #expect(manifest.body == image.manifest)
        for blob in [image.config] + image.layers {
            #expect(try await http.get("/v2/team/app/blobs/\(Fixtures.digest(blob))").body == blob)
        }

        let status = try await http.get(location)
        #expect(status.status == 204)
        #expect(status.header("Range") == "0-999")
        let second = try await http.send(.PATCH, location, headers: [("Content-Range", "1000-1999")], body: Array(data[1000..<2000]))
        #expect(second.status == 202)
        let put = try await http.send(
            .PUT, "\(location)?digest=\(Fixtures.digest(data))", headers: [("Content-Range", "2000-2999")], body: Array(data[2000...]))
        #expect(put.status == 201)
        #expect(try await http.get("/v2/team/app/blobs/\(Fixtures.digest(data))").body == data)
    }
}
