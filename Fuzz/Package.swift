// swift-tools-version:6.2
// libFuzzer targets over berth's parsers. Built by scripts/fuzz with
// `-sanitize=fuzzer,address -parse-as-library`: each target hands its `fuzz` function to libFuzzer
// from its entry point (FuzzSupport). Seed corpora live in Fuzz/Corpus/<target>/.
import PackageDescription

let targets = ["FuzzDigest", "FuzzReference", "FuzzManifest", "FuzzImageConfig", "FuzzAuthChallenge"]

let package = Package(
    name: "berth-fuzz",
    platforms: [.macOS(.v14)],
    // `berth` is a link to the repository root, so the dependency has the same identity in any clone.
    dependencies: [.package(path: "berth")],
    targets: [.target(name: "FuzzSupport")] + targets.map { name in
        .executableTarget(name: name, dependencies: ["FuzzSupport", .product(name: "BerthParsers", package: "berth")])
    }
)
