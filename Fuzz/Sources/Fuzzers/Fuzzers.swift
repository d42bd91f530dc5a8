import Foundation

/// The targets by name (`BERTH_FUZZ_TARGET`); each takes one input and returns, or stops the
/// process through a failed precondition or a sanitizer report when berth misbehaves.
let targets: [String: @Sendable ([UInt8]) -> Void] = [
    "Digest": DigestTarget.run, "Reference": ReferenceTarget.run, "Manifest": ManifestTarget.run,
    "ImageConfig": ImageConfigTarget.run, "AuthChallenge": AuthChallengeTarget.run, "Range": RangeTarget.run,
    "BearerToken": BearerTokenTarget.run, "Htpasswd": HtpasswdTarget.run, "ServerConfig": ServerConfigTarget.run,
    "SyncYAML": SyncYAMLTarget.run, "Policy": PolicyTarget.run, "RegistriesD": RegistriesDTarget.run,
    "RegistriesConf": RegistriesConfTarget.run,
    "AuthFile": AuthFileTarget.run, "SimpleSigning": SimpleSigningTarget.run, "CosignKey": CosignKeyTarget.run,
    "Tar": TarTarget.run, "LayerUnpack": LayerUnpackTarget.run, "GoTemplate": GoTemplateTarget.run,
]

// Set once in `entry` before libFuzzer starts calling; never written again.
nonisolated(unsafe) private var selected: (@Sendable ([UInt8]) -> Void)?

/// libFuzzer's per-input callback, also under its conventional name, which its library references.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected?(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// SwiftPM links an executable's entry point as `<Target>_main`; defining it keeps libFuzzer's own
/// `main` out, and the driver is started here with the chosen target.
@_cdecl("Fuzzers_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    guard let name = ProcessInfo.processInfo.environment["BERTH_FUZZ_TARGET"], let target = targets[name] else {
        FileHandle.standardError.write(Data("set BERTH_FUZZ_TARGET to one of: \(targets.keys.sorted().joined(separator: " "))\n".utf8))
        return 2
    }
    selected = target
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &arguments, testOneInput)
}

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ target: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
