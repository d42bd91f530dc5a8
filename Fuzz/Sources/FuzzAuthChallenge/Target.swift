import FuzzSupport
import RegistryClient

/// `WWW-Authenticate` headers from any registry: parsed into challenges, never crashing.
// Also under libFuzzer's conventional name, which its library references.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = AuthChallenge.parse(String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self))
    return 0
}

@_cdecl("FuzzAuthChallenge_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt { runFuzzer(argc, argv, fuzz) }
