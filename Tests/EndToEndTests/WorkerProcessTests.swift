import Foundation
import PXECatalog
import PXESettings
import PXESettingsSQLite
import StrictJSON
import TestSupport
import Testing

@Suite(.serialized) struct WorkerProcessTests {
    @Test func sigtermStopsTheWorkerCleanlyAndRemovesItsSocket() throws {
        let server = TestServer()
        try server.start()
        let worker = try #require(server.workerProcess)
        #expect(try server.request("GET", "/").status == 200)
        kill(worker.processIdentifier, SIGTERM)
        #expect(TestServer.waitFor(seconds: 10) { !worker.isRunning })
        #expect(worker.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: server.directory.path + "/worker.sock"))
        server.stop()
    }

    @Test func refusesToStartWithABadConfigurationNamingTheKey() throws {
        let directory = TemporaryDirectory()
        let config = directory.write(Array(#"{"catalog": {"roots": ["\#(directory.path)/missing"]}}"#.utf8), to: "c.json")
        let result = try TestServer.run(TestServer.binary, ["serve", "--config", config])
        #expect(result.status == 1)
        #expect(result.stderr.contains("Configuration key 'catalog.roots'"))
        #expect(result.stdout.isEmpty)
    }

    @Test func scanPrintsTheCatalogAsJSON() throws {
        let directory = TemporaryDirectory()
        directory.write(PNGFixtures.named("Scanned"), to: "s.rts.png")
        let result = try TestServer.run(TestServer.binary, ["scan", directory.path])
        #expect(result.status == 0)
        let document = try JSONParser.parse(result.stdout)
        #expect(document["count"] == .int(1))
    }

    /// `scan --config` reads the live state directory and writes nothing there, not even the
    /// cleanup of temporary files a running worker may be writing at that moment.
    @Test func scanWithAConfigurationTouchesNothingInTheStateDirectory() throws {
        let directory = TemporaryDirectory()
        directory.write(PNGFixtures.named("Scanned"), to: "catalog/s.rts.png")
        let state = directory.subdirectory("state")
        let id = CatalogEntry.id(forRealPath: directory.path + "/catalog/s.rts.png")
        let settings = PXESettings(byID: [id: PXESetting(enabled: false, bootOrder: 0)])
        let saved = try SQLiteSettingsStore(path: state + "/settings.sqlite3")
        _ = try saved.write { try $0.replace(PXESettings(), with: settings) }
        saved.close()
        let inProgress = directory.write(Array("partial".utf8), to: "state/.settings.json.tmp-4242-1")
        let databaseBefore = try Data(contentsOf: URL(fileURLWithPath: state + "/settings.sqlite3"))
        let config = directory.write(Array(#"{"catalog": {"roots": ["\#(directory.path)/catalog"]}, "state": {"directory": "\#(state)"}}"#.utf8), to: "config.json")
        let before = try FileManager.default.contentsOfDirectory(atPath: state).sorted()
        let result = try TestServer.run(TestServer.binary, ["scan", "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try JSONParser.parse(result.stdout)["containers"]?[0]?["pxe_enabled"] == .bool(false), "the saved settings are shown")
        #expect(FileManager.default.fileExists(atPath: inProgress))
        #expect(try FileManager.default.contentsOfDirectory(atPath: state).sorted() == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: state + "/settings.sqlite3")) == databaseBefore)
    }

    @Test func shippedNginxSitePassesNginxSyntaxCheck() throws {
        let directory = TemporaryDirectory()
        let site = try String(contentsOfFile: TestServer.repositoryRoot + "/nginx/pxe-catalog.conf", encoding: .utf8)
        let prefix = directory.subdirectory("nginx")
        _ = directory.subdirectory("nginx/tmp")
        // The shipped site listens on port 80; check it as written, inside a standalone wrapper.
        let wrapper = try TestServer.run(TestServer.binary, ["nginx-config", "--config", TestServer.repositoryRoot + "/deploy/pxe-catalog.json", "--standalone", prefix])
        #expect(wrapper.stdout.contains(site.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n")))
        try wrapper.stdout.write(toFile: prefix + "/nginx.conf", atomically: true, encoding: .utf8)
        let check = try TestServer.run("/usr/sbin/nginx", ["-t", "-p", prefix, "-c", prefix + "/nginx.conf"])
        #expect(check.status == 0, "\(check.stderr)")
    }
}
