import Foundation
import Hummingbird
import Logging
import OCI
import RegistryClient
import Synchronization
import Testing

/// A scripted registry: `/v2/` and one manifest that fails a given number of times first.
final class FlakyRegistry: Sendable {
    let failures: Int
    let status: HTTPResponse.Status
    let retryAfter: String?
    let calls = Atomic<Int>(0)

    init(failures: Int, status: HTTPResponse.Status, retryAfter: String?) {
        self.failures = failures
        self.status = status
        self.retryAfter = retryAfter
    }

    func run(_ body: (Int) async throws -> Void) async throws {
        let manifest = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.utf8)
        try await withScriptedServer({ [self] request, _ in
            switch request.uri.path {
            case "/v2/":
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
            case "/v2/team/app/manifests/v1":
                if calls.add(1, ordering: .relaxed).newValue <= failures {
                    var headers: HTTPFields = [:]
                    if let retryAfter { headers[.retryAfter] = retryAfter }
                    return Response(status: status, headers: headers)
                }
                return Response(
                    status: .ok, headers: [.contentType: MediaType.ociIndex], body: .init(byteBuffer: ByteBuffer(bytes: manifest)))
            default:
                return Response(status: .notFound)
            }
        }, body)
    }
}

@Suite struct ClientRetryTests {
    func fetch(_ port: Int, retries: Int) async throws -> RegistryClient.FetchedManifest {
        var options = ClientOptions()
        options.tlsVerify = false
        options.retryTimes = retries
        options.retryDelay = .milliseconds(5)
        return try await RegistryClient(registry: "127.0.0.1:\(port)", options: options)
            .manifest(try RepositoryName(parsing: "team/app"), .tag(try Tag(parsing: "v1")))
    }

    @Test func twoServerErrorsThenSuccessIsRetried() async throws {
        let flaky = FlakyRegistry(failures: 2, status: .internalServerError, retryAfter: nil)
        try await flaky.run { port in
            let fetched = try await fetch(port, retries: 3)
            #expect(fetched.mediaType == MediaType.ociIndex)
        }
        #expect(flaky.calls.load(ordering: .relaxed) == 3)
    }

    @Test func tooManyRequestsHonoursRetryAfter() async throws {
        let flaky = FlakyRegistry(failures: 1, status: .tooManyRequests, retryAfter: "1")
        let started = ContinuousClock.now
        try await flaky.run { port in _ = try await fetch(port, retries: 3) }
        #expect(ContinuousClock.now - started >= .seconds(1))
    }

    @Test func giveUpAfterRetryTimesAndNeverRetryOther4xx() async throws {
        let broken = FlakyRegistry(failures: 10, status: .badGateway, retryAfter: nil)
        try await broken.run { port in
            await #expect(throws: ClientError.self) { _ = try await fetch(port, retries: 2) }
        }
        #expect(broken.calls.load(ordering: .relaxed) == 3)

        let denied = FlakyRegistry(failures: 10, status: .forbidden, retryAfter: nil)
        try await denied.run { port in
            await #expect(throws: ClientError.self) { _ = try await fetch(port, retries: 3) }
        }
        #expect(denied.calls.load(ordering: .relaxed) == 1)
    }
}

/// A download that breaks off is resumed with `Range` from the byte reached.
@Suite struct ResumedDownloadTests {
    struct Broken: Error {}

    @Test func aBrokenDownloadResumesWithRange() async throws {
        let blob = Fixtures.random(3_000_000)
        let digest = Digest.of(blob)
        let ranges = Mutex<[String]>([])
        try await withScriptedServer({ request, _ in
            guard request.uri.path == "/v2/team/app/blobs/\(digest)" else { return Response(status: request.uri.path == "/v2/" ? .ok : .notFound) }
            if let range = request.headers[.range] {
                ranges.withLock { $0.append(range) }
                let start = Int(range.dropFirst("bytes=".count).dropLast())!
                return Response(
                    status: .partialContent,
                    headers: [.contentRange: "bytes \(start)-\(blob.count - 1)/\(blob.count)", .contentLength: String(blob.count - start)],
                    body: .init(byteBuffer: ByteBuffer(bytes: blob[start...])))
            }
            let half = ByteBuffer(bytes: blob[..<1_200_000])
            let stream = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
                continuation.yield(half)
                continuation.finish(throwing: Broken())
            }
            return Response(status: .ok, headers: [.contentLength: String(blob.count)], body: ResponseBody(asyncSequence: stream))
        }) { port in
            var options = ClientOptions()
            options.tlsVerify = false
            options.retryDelay = .milliseconds(5)
            let client = try RegistryClient(registry: "127.0.0.1:\(port)", options: options)
            var received: [UInt8] = []
            try await client.fetchBlob(try RepositoryName(parsing: "team/app"), digest, size: Int64(blob.count)) { received += $0.readableBytesView }
            #expect(received == blob)
            let asked = ranges.withLock { $0 }
            #expect(asked.count == 1 && asked[0].hasPrefix("bytes=") && asked[0] != "bytes=0-")
        }
    }
}
