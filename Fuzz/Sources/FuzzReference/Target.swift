import FuzzSupport
import OCI

/// Image references (`registry/name:tag@digest`): parse or throw, and a parsed reference's text
/// parses back to the same reference.
// Also under libFuzzer's conventional name, which its library references.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let reference = try? ImageReference(parsing: text) {
        precondition((try? ImageReference(parsing: reference.description)) == reference, "a reference's text does not parse back")
    }
    _ = try? RepositoryName(parsing: text)
    _ = try? Tag(parsing: text)
    return 0
}

@_cdecl("FuzzReference_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt { runFuzzer(argc, argv, fuzz) }
