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
        // Answer-file templates: logic-less Mustache (spec-conformant, no dependencies, Sendable).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // C libraries, each behind its own system-library module.
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // libpq opened at run time (dlopen), not linked: built against libpq-dev's header.
        .target(name: "CPostgres"),
        .systemLibrary(name: "CMalloc"),

        // The lock every shared value uses (one ThreadSanitizer can see).
        .target(name: "Locking"),
        // Transport: the only importer of libfcgi; knows nothing of PXE.
        .target(name: "FastCGI", dependencies: ["CFastCGI", "Locking"]),
        // One shape for every background service (start, stop by a deadline) and the group
        // that starts them in order and stops them in reverse.
        .target(name: "BackgroundServices", dependencies: ["Locking"]),
        // A strict JSON value and parser (configuration, metadata, settings, API bodies).
        .target(name: "StrictJSON"),
        // The container format alone: PNG chunks, metadata, the payload decoder and encoder, boot
        // parts. No catalog, no HTTP; the only importer of zlib, zstd and libcrypto.
        .target(name: "PixelRTS", dependencies: ["CZlib", "CZstd", "CDeflate", "CCrypto", "StrictJSON"]),
        // The PXE settings: their values (per entry, next boots, host records, host rules, the
        // audit), the store contract, the in-memory store, the JSON settings file (import, a
        // fleet node's local copy) and the SQL both database backends share. No C library.
        .target(name: "PXESettings", dependencies: ["StrictJSON", "Locking"]),
        // The settings store on SQLite (one server); the only importer of libsqlite3.
        .target(name: "PXESettingsSQLite", dependencies: ["PXESettings", "Locking", "StrictJSON", "CSQLite"]),
        // The settings store on PostgreSQL (a fleet); the only user of libpq, which it opens
        // when a worker is configured for it (the binary does not link it).
        .target(name: "PXESettingsPostgres", dependencies: ["PXESettings", "Locking", "CPostgres"]),
        // Domain: catalog scanning, snapshots, boot cache, the menu file; knows nothing of
        // FastCGI and keeps its settings through PXESettings.
        .target(name: "PXECatalog", dependencies: ["PixelRTS", "PXESettings", "BackgroundServices", "StrictJSON", "Locking"]),
        // Machines: identity from iPXE's query, host rules and their precedence, the boot log.
        .target(name: "PXEHosts", dependencies: ["PXESettings", "StrictJSON", "Locking"]),
        // Everything a machine is handed as text: iPXE scripts, GRUB configs, answer files (the
        // only importer of Mustache); the quoting rules of each language live here. Knows nothing
        // of the catalog.
        .target(name: "BootScripts", dependencies: [.product(name: "Mustache", package: "swift-mustache")]),
        // HTTP API: handlers from request values to response values.
        .target(name: "PXEAPI", dependencies: ["PXECatalog", "PXESettings", "PXEHosts", "BootScripts", "PixelRTS", "StrictJSON", "Locking"]),
        // Configuration, command line, nginx config generation and process wiring (signals,
        // priorities and malloc tuning live here, not in the domain).
        .target(name: "PXEServer", dependencies: [
            "FastCGI", "BackgroundServices", "PXECatalog", "PXESettings", "PXESettingsSQLite", "PXESettingsPostgres", "PXEAPI", "PXEHosts", "BootScripts", "PixelRTS", "StrictJSON", "CMalloc", "Locking",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "pxe-catalog", dependencies: ["PXEServer"]),

        .target(name: "TestSupport", dependencies: ["PXECatalog", "PXESettings", "PixelRTS", "StrictJSON", "Locking"], path: "Tests/TestSupport"),
        .testTarget(name: "LockingTests", dependencies: ["Locking"]),
        .testTarget(name: "StrictJSONTests", dependencies: ["StrictJSON"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI"]),
        .testTarget(name: "BackgroundServicesTests", dependencies: ["BackgroundServices", "Locking"]),
        .testTarget(name: "PixelRTSTests", dependencies: ["PixelRTS", "StrictJSON", "TestSupport"]),
        .testTarget(name: "PXECatalogTests", dependencies: ["PXECatalog", "PXESettings", "PixelRTS", "StrictJSON", "Locking", "TestSupport"]),
        .testTarget(name: "PXESettingsTests", dependencies: ["PXESettings", "PXEHosts", "PXESettingsSQLite", "PXESettingsPostgres", "PXECatalog", "StrictJSON", "TestSupport"]),
        // Golden/ holds expected scripts, read by path in the tests.
        .testTarget(name: "BootScriptsTests", dependencies: ["BootScripts", "StrictJSON", "TestSupport"], exclude: ["Golden"]),
        // DnsmasqLogs/ holds dnsmasq's own log lines, read by path in the tests.
        .testTarget(name: "PXEHostsTests", dependencies: ["PXEHosts", "StrictJSON"], exclude: ["DnsmasqLogs"]),
        .testTarget(name: "PXEAPITests", dependencies: ["PXEAPI", "PXEHosts", "PXECatalog", "PXESettings", "PXESettingsSQLite", "BootScripts", "PixelRTS", "StrictJSON", "TestSupport"]),
        // Golden/ holds expected generated files, read by path in the tests.
        .testTarget(name: "PXEServerTests", dependencies: ["PXEServer", "PXECatalog", "PXESettings", "StrictJSON", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "EndToEndTests", dependencies: ["PXECatalog", "PXESettings", "Locking", "PXESettingsSQLite", "PXESettingsPostgres", "BootScripts", "PixelRTS", "StrictJSON", "TestSupport"]),
    ]
)

for target in package.targets where target.type != .system && target.name != "CPostgres" {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
    ]
}
