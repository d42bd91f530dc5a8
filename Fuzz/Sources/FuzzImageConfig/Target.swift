import Foundation
import FuzzSupport
import OCI

/// Image configs as `inspect` and `run` read them from a registry.
// Also under libFuzzer's conventional name, which its library references.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? JSONDecoder().decode(ImageConfig.self, from: Data(bytes: data, count: size))
    return 0
}

@_cdecl("FuzzImageConfig_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt { runFuzzer(argc, argv, fuzz) }
