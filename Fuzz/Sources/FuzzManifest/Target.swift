import FuzzSupport
import OCI

/// Manifests and indexes as a registry receives them: decoded and summarised under every content
/// type a client may send, never crashing whatever the bytes.
// Also under libFuzzer's conventional name, which its library references.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for type in [nil, MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList, "text/plain"] {
        _ = try? ManifestSummary(parsing: bytes, contentType: type)
    }
    return 0
}

@_cdecl("FuzzManifest_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt { runFuzzer(argc, argv, fuzz) }
