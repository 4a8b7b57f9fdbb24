// swift-tools-version:6.0
//
// Axis — the document exchange axis. No package dependencies: Foundation, Dispatch, Glibc and
// OpenSSL 3 (through the COpenSSL system-library target) only, plus two small C files of our own:
// CCRC32C for the CPU's CRC-32C instruction, CAxisSys for the epoll/eventfd/accept4 calls.
import PackageDescription

let package = Package(
    name: "Axis",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Axis", targets: ["Axis"]),
        .executable(name: "axisd", targets: ["axisd"]),
        .executable(name: "axisctl", targets: ["axisctl"]),
        .executable(name: "axis-bench", targets: ["axis-bench"]),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // Hardware CRC-32C: the one thing Swift cannot express (a CPU instruction). Our own C, no dependency.
        .target(name: "CCRC32C"),
        // epoll, eventfd and accept4: Linux calls Swift's Glibc module does not export.
        .target(name: "CAxisSys"),
        .target(name: "Axis", dependencies: ["COpenSSL", "CCRC32C", "CAxisSys"]),
        .executableTarget(name: "axisd", dependencies: ["Axis"]),
        .executableTarget(name: "axisctl", dependencies: ["Axis"]),
        .executableTarget(name: "axis-bench", dependencies: ["Axis"]),
        .testTarget(name: "AxisTests", dependencies: ["Axis"]),
    ],
    swiftLanguageModes: [.v6]
)
