import HTTPTypes
import Hummingbird
import OCI
import PullThroughCache
import RegistryStorage

/// The routes of a cached repository: reads go through the `PullThroughCache`, writes are refused
/// (405 UNSUPPORTED) so the cache never holds content its upstream does not.
extension RegistryResponder {
    func cachedRoute(_ route: Route, _ repository: PullThroughCache.Repository, _ request: Request, _ context: Context) async throws -> Response {
        guard let cache else { throw Route.ParseError.notFound }
        var response: Response
        switch (route, request.method) {
        case (.manifest(_, let reference), .get), (.manifest(_, let reference), .head):
            response = manifestResponse(try await cache.manifest(repository, reference), request)
        case (.blob(_, let digest), .get), (.blob(_, let digest), .head):
            response = try await cachedBlob(cache, repository, digest, request, context)
        case (.tags, .get):
            let query = request.uri.queryParameters
            let n = try pageSize(query["n"].map(String.init))
            let page = try await cache.tags(repository, after: query["last"].map(String.init), limit: n)
            response = tagsResponse(repository.local, page, n: n)
        case (.referrers(_, let digest), .get):
            let artifactType = request.uri.queryParameters["artifactType"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            var headers: HTTPFields = [.contentType: MediaType.ociIndex]
            if artifactType != nil { headers[.ociFiltersApplied] = "artifactType" }
            let found = try await cache.referrers(repository, digest, artifactType: artifactType)
            response = try jsonResponse(ImageIndex(manifests: found), headers: headers)
        case (.signatures(_, let digest), .get):
            response = try signaturesResponse(try await cache.signatures(repository, digest))
        default:
            throw CacheError.readOnlyNamespace(prefix: repository.prefix)
        }
        if let namespace = repository.namespace { response.headers[.ociNamespace] = namespace }
        return response
    }

    private func cachedBlob(
        _ cache: PullThroughCache, _ repository: PullThroughCache.Repository, _ digest: Digest, _ request: Request, _ context: Context
    ) async throws -> Response {
        switch try await cache.blob(repository, digest, head: request.method == .head) {
        case .stored:
            return try await getBlob(repository.local, digest, request, context)
        case .upstream(let size):
            let (status, headers, _) = blobHead(digest, size: size, request)
            return Response(status: status, headers: headers, body: ResponseBody())
        case .downloading(let download):
            guard let length = download.length else {
                // No length from the upstream: the whole blob, chunked; a failed download ends
                // the body without its last chunk, which clients report.
                var headers: HTTPFields = [.contentType: MediaType.octetStream, .dockerContentDigest: digest.description]
                headers[.eTag] = "\"\(digest)\""
                return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                    try await download.stream(nil) { try await writer.write($0) }
                    try await writer.finish(nil)
                })
            }
            let (status, headers, range) = blobHead(digest, size: length, request)
            guard let range, !range.isEmpty else { return Response(status: status, headers: headers, body: ResponseBody()) }
            return Response(status: status, headers: headers, body: ResponseBody(contentLength: range.count) { writer in
                try await download.stream(range) { try await writer.write($0) }
                try await writer.finish(nil)
            })
        }
    }
}
