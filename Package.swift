// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "pxe-catalog",
    products: [
        .executable(name: "pxe-catalog", targets: ["pxe-catalog"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C libraries, each behind its own system-library module.
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CMalloc"),

        // The lock every shared value uses (one ThreadSanitizer can see).
        .target(name: "Locking"),
        // Transport: the only importer of libfcgi; knows nothing of PXE.
        .target(name: "FastCGI", dependencies: ["CFastCGI", "Locking"]),
        // A strict JSON value and parser (configuration, metadata, settings, API bodies).
        .target(name: "StrictJSON"),
        // The container format alone: PNG chunks, metadata, the payload decoder and encoder, boot
        // parts. No catalog, no HTTP; the only importer of zlib, zstd and libcrypto.
        .target(name: "PixelRTS", dependencies: ["CZlib", "CZstd", "CDeflate", "CCrypto", "StrictJSON"]),
        // Domain: catalog scanning, snapshots, settings, boot cache; knows nothing of FastCGI.
        .target(name: "PXECatalog", dependencies: ["PixelRTS", "StrictJSON", "Locking"]),
        // The settings store's backends (SQLite, PostgreSQL) and the JSON settings file (import,
        // a fleet node's local copy); the only importer of libsqlite3 and libpq.
        .target(name: "PXESettings", dependencies: ["PXECatalog", "StrictJSON", "Locking", "CSQLite", "CPostgres"]),
        // Machines: identity from iPXE's query, host rules and their precedence, the boot log.
        .target(name: "PXEHosts", dependencies: ["StrictJSON", "Locking"]),
        // iPXE text sanitising and every script the server renders; knows nothing of the catalog.
        .target(name: "BootScripts"),
        // HTTP API: handlers from request values to response values.
        .target(name: "PXEAPI", dependencies: ["PXECatalog", "PXEHosts", "BootScripts", "PixelRTS", "StrictJSON", "Locking"]),
        // Configuration, command line, nginx config generation and process wiring (signals,
        // priorities and malloc tuning live here, not in the domain).
        .target(name: "PXEServer", dependencies: [
            "FastCGI", "PXECatalog", "PXESettings", "PXEAPI", "PXEHosts", "BootScripts", "PixelRTS", "StrictJSON", "CMalloc", "Locking",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "pxe-catalog", dependencies: ["PXEServer"]),

        .target(name: "TestSupport", dependencies: ["PXECatalog", "PixelRTS", "StrictJSON", "Locking"], path: "Tests/TestSupport"),
        .testTarget(name: "PixelRTSTests", dependencies: ["PixelRTS", "StrictJSON", "TestSupport"]),
        .testTarget(name: "PXECatalogTests", dependencies: ["PXECatalog", "PixelRTS", "StrictJSON", "Locking", "TestSupport"]),
        .testTarget(name: "PXESettingsTests", dependencies: ["PXESettings", "PXECatalog", "StrictJSON", "TestSupport"]),
        // Golden/ holds expected scripts, read by path in the tests.
        .testTarget(name: "BootScriptsTests", dependencies: ["BootScripts", "TestSupport"], exclude: ["Golden"]),
        // DnsmasqLogs/ holds dnsmasq's own log lines, read by path in the tests.
        .testTarget(name: "PXEHostsTests", dependencies: ["PXEHosts", "StrictJSON"], exclude: ["DnsmasqLogs"]),
        .testTarget(name: "PXEAPITests", dependencies: ["PXEAPI", "PXEHosts", "PXECatalog", "PXESettings", "BootScripts", "PixelRTS", "StrictJSON", "TestSupport"]),
        // Golden/ holds expected generated files, read by path in the tests.
        .testTarget(name: "PXEServerTests", dependencies: ["PXEServer", "PXECatalog", "StrictJSON", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "EndToEndTests", dependencies: ["PXECatalog", "PXESettings", "BootScripts", "PixelRTS", "StrictJSON", "TestSupport"]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
    ]
}
