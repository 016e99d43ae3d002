import Foundation
import TestSupport
import Testing

/// The web console in a real browser (Debian's chromium, headless, driven by python3-selenium
/// through chromium-driver) against nginx and the worker; the walk-through is
/// Tests/Console/console_browser.py. Screenshots land in .build/test-artifacts/console.
@Suite(.serialized) struct ConsoleBrowserTests {
    static let hostileName = "<img src=x onerror=alert(1)>"
    static let hostileDescription = "</script><script>alert(2)</script>"

    /// A container that boots as Linux (a fake bzImage and an initrd), named `name`.
    static func packLinux(_ server: TestServer, to path: String, name: String, description: String? = nil, seed: UInt64) throws {
        var kernel = PixelRTSFixtures.noise(count: 40_000, seed: seed)
        kernel.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        let inputs = server.directory.subdirectory("inputs")
        server.directory.write(kernel, to: "inputs/kernel-\(seed)")
        server.directory.write(PixelRTSFixtures.noise(count: 10_000, seed: seed + 100), to: "inputs/initrd-\(seed)")
        var arguments = [path, "--kernel", "\(inputs)/kernel-\(seed)", "--initrd", "\(inputs)/initrd-\(seed)", "--name", name]
        if let description { arguments += ["--description", description] }
        try BootPartsTests.pack(arguments)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["E2E_SANITIZER"] == nil, "the browser runs in the plain pass"))
    func anAdminManagesTheCatalogInTheConsole() throws {
        let server = TestServer()
        try Self.packLinux(server, to: server.catalogRoot + "/alpha.rts.png", name: "Alpha", seed: 1)
        try Self.packLinux(server, to: server.catalogRoot + "/bravo.rts.png", name: "Bravo", seed: 2)
        try Self.packLinux(server, to: server.catalogRoot + "/charlie.rts.png", name: "Charlie", seed: 3)
        try Self.packLinux(server, to: server.catalogRoot + "/hostile.rts.png", name: Self.hostileName, description: Self.hostileDescription, seed: 4)
        let spare = server.directory.subdirectory("inputs") + "/delta.rts.png"
        try Self.packLinux(server, to: spare, name: "Delta", seed: 5)
        // An answer-file template a host rule gives its machines: the hosts section lists it.
        let answers = server.directory.subdirectory("answers")
        try "d-i netcfg/get_hostname string {{hostname}}\n".write(toFile: answers + "/debian.preseed", atomically: true, encoding: .utf8)
        server.extraConfig = #""provision": {"templates": "\#(answers)"}, "hosts": {"rules": [{"name": "lab-installs", "match": {"mac_prefix": "52:54:00"}, "answers": "debian"}]}"#
        // As admins run it: the console and the admin API over TLS (a self-signed certificate).
        let tls = try server.makeSelfSignedCertificate()
        server.tls = tls
        try server.start()
        defer { server.stop() }

        let screenshots = TestServer.repositoryRoot + "/.build/test-artifacts/console"
        try? FileManager.default.removeItem(atPath: screenshots)
        let result = try TestServer.run("/usr/bin/timeout", [
            "600", "/usr/bin/python3", TestServer.repositoryRoot + "/Tests/Console/console_browser.py",
            "--base", "https://127.0.0.1:\(server.tlsPort)", "--cafile", tls.certificate, "--token", TestServer.adminToken, "--catalog", server.catalogRoot,
            "--spare", spare, "--screenshots", screenshots,
        ])
        #expect(result.status == 0, "the browser walk-through failed:\n\(result.stdout)\n\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: screenshots + "/console.png"))
    }

    /// The demo catalog as `make run` serves it, signed in: the README's picture
    /// (docs/console.png is a copy of the screenshot this saves).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["E2E_SANITIZER"] == nil, "the browser runs in the plain pass"))
    func theDemoCatalogInTheConsole() throws {
        let server = TestServer()
        let written = try TestServer.run(TestServer.binary, ["demo-catalog", server.catalogRoot, "--boot-parts", IPXEFirmwareTests.bootParts])
        try #require(written.status == 0, "\(written.stderr)")
        try server.start()
        defer { server.stop() }
        let screenshots = TestServer.repositoryRoot + "/.build/test-artifacts/console-demo"
        try? FileManager.default.removeItem(atPath: screenshots)
        let result = try TestServer.run("/usr/bin/timeout", [
            "600", "/usr/bin/python3", TestServer.repositoryRoot + "/Tests/Console/console_browser.py",
            "--base", "http://127.0.0.1:\(server.port)", "--token", TestServer.adminToken, "--catalog", server.catalogRoot,
            "--demo", "--screenshots", screenshots,
        ])
        #expect(result.status == 0, "the browser walk-through failed:\n\(result.stdout)\n\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: screenshots + "/console.png"))
    }

    /// 10,000 entries: one page of rows at a time, paging and search over all of them.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["E2E_SANITIZER"] == nil, "the browser runs in the plain pass"))
    func theConsolePagesThroughTenThousandEntries() throws {
        let server = TestServer()
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_WATCH": "false", "PXE_CATALOG_CATALOG_RESCAN_INTERVAL": "0"]
        server.directory.writeMany(PNGFixtures.named("x"), count: 10_000) { "catalog/d\($0 % 100)/f\($0).rts.png" }
        try server.start()
        defer { server.stop() }
        let screenshots = TestServer.repositoryRoot + "/.build/test-artifacts/console-large"
        let result = try TestServer.run("/usr/bin/timeout", [
            "600", "/usr/bin/python3", TestServer.repositoryRoot + "/Tests/Console/console_browser.py",
            "--base", "http://127.0.0.1:\(server.port)", "--token", TestServer.adminToken, "--catalog", server.catalogRoot,
            "--expect", "10000", "--screenshots", screenshots,
        ])
        // The time the first page took, for the log (not asserted: it depends on the machine).
        for line in result.stdout.split(separator: "\n") where line.contains("entries listed") || line.contains("the catalog was fetched")
            || line.contains("an idle poll") { print(line) }
        #expect(result.status == 0, "the browser walk-through failed:\n\(result.stdout)\n\(result.stderr)")
    }
}
