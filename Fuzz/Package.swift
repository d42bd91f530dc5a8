// swift-tools-version:6.2
// libFuzzer targets over berth's parsers, in one executable (`Fuzzers`): the target to run is named
// by BERTH_FUZZ_TARGET, so one instrumented link serves them all. Built by scripts/fuzz with
// `-sanitize=fuzzer,address -parse-as-library`. Seed corpora live in Fuzz/Corpus/<target>/.
import PackageDescription

let package = Package(
    name: "berth-fuzz",
    platforms: [.macOS(.v14)],
    // `berth` is a link to the repository root, so the dependency has the same identity in any clone.
    dependencies: [
        .package(path: "berth"),
        // Already in berth's graph (same pins); named because the targets import their modules.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // Debug builds are compiled for testing, so targets reach the parsers' internal entry points
        // with `@testable import` instead of widening berth's public API for them.
        .executableTarget(name: "Fuzzers", dependencies: [
                .product(name: "BerthParsers", package: "berth"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ])
    ]
)
