import Foundation
import PXECatalog
import PXESettings
import PXESettingsSQLite
import StrictJSON
import TestSupport
import Testing

/// Settings survive restarts, kill -9 and full disks; downloads handed to nginx survive the worker.
@Suite(.serialized) struct DurabilityTests {
    @Test func settingsSurviveRestartAndKill() throws {
        let server = TestServer()
        let a = server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png")
        let b = server.directory.write(PNGFixtures.named("B"), to: "catalog/b.rts.png")
        try server.start()
        defer { server.stop() }
        let idA = CatalogEntry.id(forRealPath: a), idB = CatalogEntry.id(forRealPath: b)
        #expect(try server.request("POST", "/pxe/\(idA)/toggle", body: #"{"enabled": false}"#).status == 200)
        #expect(server.signalWorker(SIGTERM) == 0)
        try server.startWorker()
        #expect(try JSONParser.parse(server.request("GET", "/pxe").body)["count"] == .int(1))
        #expect(try server.request("POST", "/pxe/\(idB)/toggle", body: #"{"enabled": false}"#).status == 200)
        server.signalWorker(SIGKILL)
        try server.startWorker()
        #expect(try JSONParser.parse(server.request("GET", "/pxe").body)["count"] == .int(0))
    }

    /// Upgrading from the settings file of before 1.1: it is imported into SQLite once, kept
    /// beside it, and what it said is what the worker serves.
    @Test func anOldSettingsFileIsImportedOnceAndKept() throws {
        let server = TestServer()
        let a = server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png")
        let b = server.directory.write(PNGFixtures.named("B"), to: "catalog/b.rts.png")
        let idA = CatalogEntry.id(forRealPath: a), idB = CatalogEntry.id(forRealPath: b)
        try FileManager.default.createDirectory(atPath: server.stateDirectory, withIntermediateDirectories: true)
        try SettingsFile(directory: server.stateDirectory).save(PXESettings(byID: [
            idA: PXESetting(enabled: false, bootOrder: 1), idB: PXESetting(enabled: true, bootOrder: 0, menuName: "Imported"),
        ]))
        try server.start()
        defer { server.stop() }
        let pxe = try JSONParser.parse(server.request("GET", "/pxe").body)
        #expect(pxe["count"] == .int(1))
        #expect(pxe["pxe_containers"]?[0]?["name"] == .string("Imported"))
        #expect(server.workerLog.contains("imported the settings of 2 entries from settings.json"))
        #expect(FileManager.default.fileExists(atPath: server.stateDirectory + "/settings.json.imported"))
        #expect(!FileManager.default.fileExists(atPath: server.stateDirectory + "/settings.json"))
        // A restart does not import again (the file is kept under its new name only).
        #expect(try server.request("POST", "/pxe/\(idA)/toggle", body: #"{"enabled": true}"#).status == 200)
        #expect(server.signalWorker(SIGTERM) == 0)
        try server.startWorker()
        #expect(try JSONParser.parse(server.request("GET", "/pxe").body)["count"] == .int(2))
    }

    /// A settings database that is not one: the worker refuses to start, names the file, and
    /// leaves it for the operator (it is never silently replaced by defaults).
    @Test func refusesToStartOnACorruptSettingsDatabaseAndLeavesIt() throws {
        let server = TestServer()
        server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png")
        try server.start()
        defer { server.stop() }
        #expect(server.signalWorker(SIGTERM) == 0)
        let database = server.stateDirectory + "/settings.sqlite3"
        #expect(!FileManager.default.fileExists(atPath: database + "-wal"), "a clean stop checkpoints the WAL into the database")
        let garbage = String(repeating: "torn page ", count: 500)
        try garbage.write(toFile: database, atomically: false, encoding: .utf8)
        // Bounded: a worker that wrongly starts is stopped by timeout (exit 124), not waited for.
        let refused = try TestServer.run("/usr/bin/timeout", ["30", TestServer.binary, "serve", "--config", server.configPath])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains(database) && refused.stderr.contains("not a usable SQLite database"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: database, encoding: .utf8) == garbage, "the corrupt file is left for the operator")
    }

    @Test func downloadsHandedToNginxCompleteWhenTheWorkerIsKilled() throws {
        let server = TestServer()
        let payload = DemoBytes.make(count: 48 << 20)
        let path = server.directory.write(payload, to: "catalog/big.rts.png")
        let small = server.directory.write(PNGFixtures.named("small"), to: "catalog/small.rts.png")
        server.directory.write(PNGFixtures.named("kept"), to: "catalog/kept.rts.png")
        try server.start()
        defer { server.stop() }
        #expect(try server.request("POST", "/pxe/\(CatalogEntry.id(forRealPath: small))/toggle", body: #"{"enabled": false}"#).status == 200)

        let url = "http://127.0.0.1:\(server.port)/containers/\(CatalogEntry.id(forRealPath: path))"
        var downloads: [(Process, String, String)] = []
        for index in 0..<4 {
            let output = server.directory.path + "/download-\(index)"
            let headers = output + ".headers"
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = ["-s", "-f", "--max-time", "120", "--limit-rate", "24M", "-D", headers, "-o", output, url]
            try curl.run()
            downloads.append((curl, output, headers))
        }
        // Every download has its answer (nginx sends the file now, the worker is done with it)
        // before the worker dies; then a bounded burst of API requests while it is gone.
        #expect(TestServer.waitFor(seconds: 60) {
            downloads.allSatisfy { (try? String(contentsOfFile: $0.2, encoding: .utf8))?.contains("\r\n\r\n") == true }
        })
        server.signalWorker(SIGKILL)
        for _ in 0..<20 { _ = try? server.request("GET", "/pxe") }
        for (curl, output, _) in downloads {
            curl.waitUntilExit()
            #expect(curl.terminationStatus == 0)
            let identical = FileManager.default.contents(atPath: output).map { [UInt8]($0) == payload } ?? false
            #expect(identical, "download \(output) is not byte-identical")
        }
        try server.startWorker()
        let pxe = try JSONParser.parse(server.request("GET", "/pxe").body)
        #expect(pxe["count"] == .int(1), "the acknowledged toggle survived kill -9")
    }

    @Test func randomKillsNeverTearTheSettingsOrLoseAnAcknowledgedChange() throws {
        let server = TestServer()
        let ids = (0..<6).map { i in
            CatalogEntry.id(forRealPath: server.directory.write(PNGFixtures.named("n\(i)"), to: "catalog/n\(i).rts.png"))
        }
        try server.start()
        defer { server.stop() }
        let socket = server.directory.path + "/worker.sock"
        var acknowledged: [String: Bool] = [:]
        var generator = SeededRandom()
        let replay = generator.replayHint
        for round in 0..<12 {
            let inFlight = LockedBox<(String, Bool)?>(nil)
            let acks = LockedBox<[String: Bool]>([:])
            let stop = LockedBox(false)
            let client = Thread {
                var step = 0
                while !stop.value {
                    let id = ids[step % ids.count]
                    let enabled = (step / ids.count + round) % 2 == 0
                    inFlight.value = (id, enabled)
                    let body = Array(#"{"enabled": \#(enabled)}"#.utf8)
                    let params = FastCGIClient.params(method: "POST", documentURI: Array("/pxe/\(id)/toggle".utf8), contentLength: body.count,
                                                      extra: [("HTTP_AUTHORIZATION", Array("Bearer \(TestServer.adminToken)".utf8))])
                    guard let reply = try? FastCGIClient.request(socket: socket, params: params, stdin: body), reply.status == 200 else { break }
                    acks.update { $0[id] = enabled }
                    inFlight.value = nil
                    step += 1
                }
            }
            client.start()
            usleep(UInt32.random(in: 5_000...80_000, using: &generator))
            server.signalWorker(SIGKILL)
            stop.value = true
            while !client.isFinished { usleep(5_000) }
            acknowledged.merge(acks.value) { $1 }

            // SQLite's own check of the file, then what it holds (read only, as `scan` does).
            let check = try TestServer.run("/usr/bin/python3", ["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])",
                                                                 server.stateDirectory + "/settings.sqlite3"])
            #expect(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "round \(round): the settings database is damaged: \(check.stdout)\(check.stderr) (\(replay))")
            let saved = try SQLiteSettingsStore(path: server.stateDirectory + "/settings.sqlite3").load().settings
            for (id, enabled) in acknowledged {
                let pending = inFlight.value
                let allowed = saved[id]?.enabled == enabled || (pending?.0 == id && saved[id]?.enabled == pending?.1)
                #expect(allowed, "round \(round): acknowledged change to \(id) was lost: saved \(String(describing: saved[id])), acknowledged \(enabled), in flight \(String(describing: pending)) (\(replay))")
                if pending?.0 == id, let value = saved[id]?.enabled { acknowledged[id] = value }
            }
            try server.startWorker()
        }
    }

    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
    func aFullDiskAnswers507AndChangesNothingUntilSpaceIsFreed() throws {
        let mountPoint = TemporaryDirectory("pxe-catalog-tmpfs")
        let mounted = try TestServer.run("/bin/mount", ["-t", "tmpfs", "-o", "size=200k", "tmpfs", mountPoint.path])
        try #require(mounted.status == 0, "mount failed: \(mounted.stderr)")
        defer { _ = try? TestServer.run("/bin/umount", ["-l", mountPoint.path]) }
        let server = TestServer(stateDirectory: mountPoint.path + "/state")
        let file = server.directory.write(PNGFixtures.png(), to: "catalog/x.rts.png")
        try server.start()
        defer { server.stop() }
        let path = "/pxe/\(CatalogEntry.id(forRealPath: file))/toggle"
        #expect(try server.request("POST", path, body: #"{"enabled": true}"#).status == 200)
        let id = CatalogEntry.id(forRealPath: file)

        // Fill the filesystem.
        let filler = mountPoint.path + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT, 0o600)
        let block = [UInt8](repeating: 0xEE, count: 4096)
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)

        let full = try server.request("POST", path, body: #"{"enabled": false}"#)
        #expect(full.status == 507)
        #expect(full.text.contains("the disk holding the settings is full"), "\(full.text)")
        #expect(!full.text.contains(mountPoint.path))
        #expect(try JSONParser.parse(server.request("GET", "/pxe").body)["count"] == .int(1), "memory unchanged")
        #expect(try SQLiteSettingsStore(path: mountPoint.path + "/state/settings.sqlite3", readOnly: true).load().settings[id]?.enabled == true,
                "the database unchanged")

        unlink(filler)
        #expect(try server.request("POST", path, body: #"{"enabled": false}"#).status == 200)
        #expect(try JSONParser.parse(server.request("GET", "/pxe").body)["count"] == .int(0))
        server.stop()
    }
}
