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
