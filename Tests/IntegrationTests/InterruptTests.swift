import Foundation
import Hummingbird
import OCI
import Synchronization
import Testing
import TestSupport

/// Ctrl-C during a copy stops it cleanly: no manifest, no temporary files, and a second run
/// completes.
@Suite struct InterruptTests {
    @Test func anInterruptedCopyLeavesNoManifestAndCanBeRerun() async throws {
        let layer = Fixtures.random(6 << 20)
        let config = Fixtures.json(["architecture": "amd64", "os": "linux", "rootfs": ["type": "layers", "diff_ids": [Digest.of(layer).description]]])
        let manifest = Fixtures.json([
            "schemaVersion": 2, "mediaType": MediaType.ociManifest,
            "config": Fixtures.descriptor(MediaType.ociConfig, config), "layers": [Fixtures.descriptor(MediaType.ociLayerTarGzip, layer)],
        ])
        let slow = Atomic<Bool>(true)
        let layerRequested = Atomic<Bool>(false)
        try await withScriptedServer({ request, _ in
            switch request.uri.path {
            case "/v2/": return Response(status: .ok)
            case "/v2/team/app/manifests/v1":
                return Response(status: .ok, headers: [.contentType: MediaType.ociManifest], body: .init(byteBuffer: ByteBuffer(bytes: manifest)))
            case "/v2/team/app/blobs/\(Digest.of(config))":
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: config)))
            case "/v2/team/app/blobs/\(Digest.of(layer))":
                let paced = slow.load(ordering: .relaxed)
                layerRequested.store(true, ordering: .relaxed)
                let stream = AsyncStream<ByteBuffer> { continuation in
                    let task = Task {
                        var offset = 0
                        while offset < layer.count, !Task.isCancelled {
                            continuation.yield(ByteBuffer(bytes: layer[offset..<min(offset + (64 << 10), layer.count)]))
                            offset += 64 << 10
                            if paced { try? await Task.sleep(for: .milliseconds(20)) }
                        }
                        continuation.finish()
                    }
                    continuation.onTermination = { _ in task.cancel() }
                }
                return Response(status: .ok, headers: [.contentLength: String(layer.count)], body: ResponseBody(asyncSequence: stream))
            default: return Response(status: .notFound)
            }
        }) { port in
            let berth = try BerthCommand()
            defer { berth.cleanup() }
            let destination = berth.path("out")
            let arguments = ["copy", "--src-tls-verify=false", "docker://127.0.0.1:\(port)/team/app:v1", "oci:\(destination):v1"]
            let errorsPath = berth.path("stderr")
            let errors = open(errorsPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            let process = try Spawn.start(Interop.berthBinary, arguments, environment: berth.environment, stderr: errors)
            close(errors)
            // Interrupt mid-blob: once the layer is being sent (a busy machine may take a while to
            // get there), not after a fixed time that could fall before berth handles SIGINT.
            for _ in 0..<600 where !layerRequested.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(50)) }
            try await Task.sleep(for: .milliseconds(100))
            process.signal(SIGINT)
            let status = await process.exited(timeout: .seconds(60))
            if status == nil { process.signal(SIGKILL) }
            let stderr = (try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? ""
            #expect(status == 130, "\(stderr)")
            #expect(stderr.hasSuffix("berth: interrupted\n"), "\(stderr)")
            #expect(!FileManager.default.fileExists(atPath: "\(destination)/index.json"))
            let leftovers = (try? FileManager.default.subpathsOfDirectory(atPath: destination))?.filter { $0.contains(".berth-tmp") } ?? []
            #expect(leftovers.isEmpty, "\(leftovers)")

            slow.store(false, ordering: .relaxed)
            let digest = try await berth.copy(Array(arguments.dropFirst()))
            #expect(digest == Digest.of(manifest).description)
        }
    }
}
