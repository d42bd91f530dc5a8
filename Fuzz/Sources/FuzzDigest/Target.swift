import FuzzSupport
import OCI

/// Digest parsing: any bytes either parse to a digest whose text parses back to itself, or throw.
// Also under libFuzzer's conventional name, which its library references.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let digest = try? Digest(parsing: text) {
        precondition((try? Digest(parsing: digest.description)) == digest, "a digest's text does not parse back")
    }
    return 0
}

@_cdecl("FuzzDigest_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt { runFuzzer(argc, argv, fuzz) }
