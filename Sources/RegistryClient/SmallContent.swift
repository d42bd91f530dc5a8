import AsyncHTTPClient
import Foundation
import NIOCore
import OCI

/// Content small enough to hold in memory (signature payloads, their configs, lookaside files),
/// fetched and stored whole, with a size limit so a hostile server cannot exhaust memory.
extension RegistryClient {
    /// A blob read whole and checked against its digest; refused above `limit` bytes.
    public func smallBlob(_ repository: RepositoryName, _ digest: Digest, limit: Int = 4 << 20) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        try await fetchBlob(repository, digest) { chunk in
            guard bytes.count + chunk.readableBytes <= limit else {
                throw ClientError.invalidResponse(url: url("/v2/\(repository)/blobs/\(digest)"), "blob is larger than \(limit) bytes")
            }
            bytes += chunk.readableBytesView
        }
        return bytes
    }

    /// Uploads bytes as a blob unless the repository has it already.
    @discardableResult
    public func pushSmallBlob(_ repository: RepositoryName, _ bytes: [UInt8]) async throws -> Digest {
        let digest = Digest.of(bytes)
        if try await blobSize(repository, digest) != nil { return digest }
        try await pushBlob(repository, digest, size: Int64(bytes.count)) { OneBuffer(buffer: ByteBuffer(bytes: bytes)) }
        return digest
    }

    /// GETs a URL outside the registry API (lookaside signature storage), never with the
    /// registry's credentials; nil when it answers 404.
    public func fetchExternal(_ address: String, limit: Int = 4 << 20) async throws -> [UInt8]? {
        var target = address
        for _ in 0..<5 {
            var request = HTTPClientRequest(url: target)
            request.headers.add(name: "User-Agent", value: "berth")
            let response: HTTPClientResponse
            do { response = try await http.execute(request, timeout: .seconds(60)) } catch {
                throw ClientError.transport(url: target, TransportFailure.describe(error, url: target))
            }
            switch response.status.code {
            case 200:
                do { return Array(try await response.body.collect(upTo: limit).readableBytesView) } catch {
                    throw ClientError.invalidResponse(url: target, "larger than \(limit) bytes")
                }
            case 404:
                _ = try? await response.body.collect(upTo: 1 << 16)
                return nil
            case 301, 302, 303, 307, 308:
                guard let location = response.headers.first(name: "Location"),
                    let next = URL(string: location, relativeTo: URL(string: target))?.absoluteString
                else { throw ClientError.invalidResponse(url: target, "bad redirect") }
                target = next
            default:
                throw ClientError.status(url: target, status: Int(response.status.code), code: nil, message: nil)
            }
        }
        throw ClientError.invalidResponse(url: address, "too many redirects")
    }
}

/// One buffer as an async sequence, for bodies already in memory.
struct OneBuffer: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffer: ByteBuffer

    struct AsyncIterator: AsyncIteratorProtocol {
        var pending: ByteBuffer?
        mutating func next() async throws -> ByteBuffer? {
            defer { pending = nil }
            return pending
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pending: buffer) }
}
