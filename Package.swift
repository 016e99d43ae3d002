// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "pxe-catalog",
    products: [
        .executable(name: "pxe-catalog", targets: ["pxe-catalog"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C libraries, each behind its own system-library module.
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMalloc"),

        // The lock every shared value uses (one ThreadSanitizer can see).
        .target(name: "Locking"),
        // Transport: the only importer of libfcgi; knows nothing of PXE.
        .target(name: "FastCGI", dependencies: ["CFastCGI", "Locking"]),
        // Domain: PNG metadata, catalog scanning, settings, JSON; knows nothing of FastCGI.
        .target(name: "PXECatalog", dependencies: ["CZlib", "CMalloc", "Locking"]),
        // HTTP API: handlers from request values to response values.
        .target(name: "PXEAPI", dependencies: ["PXECatalog", "Locking"]),
        // Configuration, command line, nginx config generation and process wiring.
        .target(name: "PXEServer", dependencies: [
            "FastCGI", "PXECatalog", "PXEAPI", "CMalloc", "Locking",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "pxe-catalog", dependencies: ["PXEServer"]),

        .target(name: "TestSupport", dependencies: ["PXECatalog"], path: "Tests/TestSupport"),
        // Golden/ holds expected scripts, read by path in the tests.
        .testTarget(name: "PXECatalogTests", dependencies: ["PXECatalog", "Locking", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "PXEAPITests", dependencies: ["PXEAPI", "PXECatalog", "TestSupport"]),
        .testTarget(name: "PXEServerTests", dependencies: ["PXEServer", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["PXECatalog", "TestSupport"]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
    ]
}
