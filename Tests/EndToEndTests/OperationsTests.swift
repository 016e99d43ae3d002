import Foundation
import PXECatalog
import TestSupport
import Testing

/// Socket activation and restarts, signals, automatic refresh, status and metrics, log format.
@Suite(.serialized) struct OperationsTests {
    @Test(arguments: [true, false])
    func restartingTheWorkerOnAHeldSocketRefusesNoRequest(systemdProtocol: Bool) throws {
        let server = TestServer()
        server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png")
        // The test plays systemd (or spawn-fcgi): it owns the listening socket for the whole run.
        let listenFD = TestServer.listeningSocket(path: server.directory.path + "/worker.sock")
        defer { close(listenFD) }
        server.inheritedSocket = (listenFD, systemdProtocol)
        try server.start()
        defer { server.stop() }
        #expect(server.workerLog.contains(systemdProtocol ? "listening on the inherited socket (fd 3)" : "listening on the inherited socket (fd 0)"))

        let results = LockedBox<[Int]>([])
        let stop = LockedBox(false)
        let client = Thread {
            var sent = 0
            while !stop.value && sent < 2000 {
                let answer = (try? server.rawRequest(Array("GET /pxe HTTP/1.0\r\nHost: x\r\n\r\n".utf8))) ?? []
                let status = Int(String(decoding: answer.prefix(12).dropFirst(9), as: UTF8.self)) ?? 0
                results.update { $0.append(status) }
                sent += 1
            }
        }
        client.start()
        usleep(300_000)
        for _ in 0..<3 {
            #expect(server.signalWorker(SIGTERM) == 0)
            usleep(100_000)   // the gap a restart leaves: connections wait in the socket's backlog
            try server.startWorker()
            usleep(300_000)
        }
        stop.value = true
        while !client.isFinished { usleep(10_000) }
        let statuses = results.value
        #expect(statuses.count > 20)
        #expect(statuses.allSatisfy { $0 == 200 }, "failed requests: \(statuses.filter { $0 != 200 })")
    }

    @Test func sigtermFinishesTheRequestInFlightAndExitsZero() throws {
        let server = TestServer()
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_WATCH": "false", "PXE_CATALOG_CATALOG_RESCAN_INTERVAL": "0"]
        try server.start()
        defer { server.stop() }
        // A slow request: a refresh that reads thousands of new files.
        let png = PNGFixtures.named("x")
        for i in 0..<6000 { server.directory.write(png, to: "catalog/d\(i % 60)/f\(i).rts.png") }
        let response = LockedBox<TestServer.Response?>(nil)
        let client = Thread { response.value = try? server.request("POST", "/catalog/refresh") }
        client.start()
        usleep(200_000)   // the refresh is now running in the worker
        let status = server.signalWorker(SIGTERM)
        while !client.isFinished { usleep(10_000) }
        #expect(response.value?.status == 200)
        #expect(try response.value.map { try JSONParser.parse($0.body)["count"] } == .int(6000))
        #expect(status == 0)
        // The signal arrived while the refresh was still running, and the refresh completed.
        let log = server.workerLog
        let signalled = try #require(log.range(of: "finishing in-flight"))
        let refreshed = try #require(log.range(of: "refreshed the catalog"))
        #expect(signalled.lowerBound < refreshed.lowerBound)
    }
}

@Suite(.serialized) struct ReloadAndWatchTests {
    @Test func sighupAppliesANewConfigurationAndKeepsTheOldOneWhenTheNewOneIsBad() throws {
        let server = TestServer(extraConfig: #""menu": {"title": "Before reload"}"#)
        server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png")
        try server.start()
        defer { server.stop() }
        #expect(try server.request("GET", "/pxe/menu.ipxe").text.contains("menu Before reload\n"))

        let original = try String(contentsOfFile: server.configPath, encoding: .utf8)
        try original.replacingOccurrences(of: "Before reload", with: "After reload")
            .replacingOccurrences(of: "\"threads\": 2", with: "\"threads\": 3")
            .write(toFile: server.configPath, atomically: true, encoding: .utf8)
        let worker = try #require(server.workerProcess)
        kill(worker.processIdentifier, SIGHUP)
        #expect(TestServer.waitFor(seconds: 10) { (try? server.request("GET", "/pxe/menu.ipxe").text.contains("menu After reload\n")) == true })
        #expect(server.workerLog.contains("worker.threads changed but cannot change while running"))

        kill(worker.processIdentifier, SIGUSR1)
        #expect(TestServer.waitFor(seconds: 10) { server.workerLog.contains("SIGUSR1 ignored") })
        #expect(worker.isRunning, "SIGUSR1 neither stops nor disturbs the worker")

        try #"{"menu": {"timeout": "soon"}}"#.write(toFile: server.configPath, atomically: true, encoding: .utf8)
        kill(worker.processIdentifier, SIGHUP)
        #expect(TestServer.waitFor(seconds: 10) { server.workerLog.contains("Configuration key 'menu.timeout'") })
        #expect(worker.isRunning)
        #expect(try server.request("GET", "/pxe/menu.ipxe").text.contains("menu After reload\n"))
    }

    @Test func watcherPicksUpAddedRemovedAndRenamedFilesByItself() throws {
        let server = TestServer()
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_SETTLE_MS": "300"]
        try server.start()
        defer { server.stop() }
        func names() -> [String] {
            guard let body = try? server.request("GET", "/containers").body, case let .array(items)? = try? JSONParser.parse(body)["containers"] else { return [] }
            return items.compactMap { $0["filename"]?.stringValue }
        }
        server.directory.write(PNGFixtures.named("new"), to: "catalog/sub/new.rts.png")
        #expect(TestServer.waitFor(seconds: 10) { names() == ["new.rts.png"] })
        try FileManager.default.moveItem(atPath: server.catalogRoot + "/sub/new.rts.png", toPath: server.catalogRoot + "/renamed.rts.png")
        #expect(TestServer.waitFor(seconds: 10) { names() == ["renamed.rts.png"] })
        server.directory.remove("catalog/renamed.rts.png")
        #expect(TestServer.waitFor(seconds: 10) { names().isEmpty })
        #expect(server.workerLog.contains("catalog watch: inotify"))
    }

    @Test func aFileStillBeingWrittenIsNotOfferedUntilItIsComplete() throws {
        let server = TestServer()
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_SETTLE_MS": "600"]
        try server.start()
        defer { server.stop() }
        let bytes = PNGFixtures.pixelRTS(payload: DemoBytes.make(count: 200_000), fields: [("name", .string("Slow copy"))])
        let path = server.catalogRoot + "/slow.rts.png"
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        var seenWhileWriting: [String] = []
        let chunk = bytes.count / 20
        for index in 0..<20 {
            let part = Array(bytes[(index * chunk)..<(index == 19 ? bytes.count : (index + 1) * chunk)])
            _ = part.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            usleep(120_000)
            if index % 4 == 0 { seenWhileWriting.append(try server.request("GET", "/containers").text) }
        }
        close(fd)
        #expect(seenWhileWriting.allSatisfy { !$0.contains("slow.rts.png") }, "a half-written file was listed")
        #expect(TestServer.waitFor(seconds: 10) {
            (try? JSONParser.parse(server.request("GET", "/pxe").body)["count"]) == .int(1)
        })
        #expect(try server.request("GET", "/pxe").text.contains("Slow copy"))
    }
}

@Suite(.serialized) struct StatusAndLogTests {
    @Test func statusMetricsAndHealthAnswerWithTheirFormats() throws {
        let server = TestServer()
        let file = server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png")
        server.directory.write(Array("bad".utf8), to: "catalog/b.rts.png")
        try server.start()
        defer { server.stop() }
        let id = CatalogEntry.id(forRealPath: file)
        #expect(try server.request("GET", "/containers/\(id)").status == 200)
        #expect(try server.request("GET", "/containers/\(id)").status == 200)

        let status = try server.request("GET", "/status")
        #expect(status.status == 200)
        let document = try JSONParser.parse(status.body)
        #expect(document["version"] == .string("1.0.0"))
        #expect(document["catalog"]?["count"] == .int(2))
        #expect(document["catalog"]?["invalid"] == .int(1))
        #expect(document["settings"]?["load"] == .string("fresh"))
        #expect(document["watch"] == .string("inotify"))
        #expect((document["requests"]?["served"]?.intValue ?? 0) >= 2)
        #expect(!status.text.contains(server.directory.path))

        let metrics = try server.request("GET", "/metrics")
        #expect(metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(metrics.text.contains("pxe_catalog_requests_total{route=\"container\",status=\"200\"} 2\n"))
        #expect(metrics.text.contains("pxe_catalog_downloads_total{id=\"\(id)\"} 2\n"))
        #expect(metrics.text.contains("pxe_catalog_containers{valid=\"false\"} 1\n"))
        #expect(metrics.text.contains("pxe_catalog_request_duration_seconds_count{route=\"container\"} 2\n"))
        #expect(metrics.text.contains("pxe_catalog_settings_write_failures_total 0\n"))
        #expect(metrics.text.contains("# TYPE pxe_catalog_request_duration_seconds histogram\n"))

        #expect(try server.request("GET", "/healthz").text == #"{"status":"ok"}"#)
    }

    @Test func nginxLimitsStatusAndMetricsToTheAllowList() throws {
        let server = TestServer(extraConfig: #""status": {"allow": ["192.0.2.1"], "public": ["healthz"]}"#)
        try server.start()
        defer { server.stop() }
        #expect(try server.request("GET", "/status").status == 403)
        #expect(try server.request("GET", "/metrics").status == 403)
        #expect(try server.request("GET", "/healthz").status == 200)
    }

    @Test func underJournaldLogLinesCarryPrioritiesAndNoTimestamps() throws {
        let server = TestServer()
        // JOURNAL_STREAM names stderr's device and inode; here stderr is the log file.
        _ = FileManager.default.createFile(atPath: server.directory.path + "/worker.log", contents: nil)
        var info = stat()
        stat(server.directory.path + "/worker.log", &info)
        server.workerEnvironment = ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino)"]
        server.directory.write(Array("bad".utf8), to: "catalog/b.rts.png")
        try server.start()
        defer { server.stop() }
        let lines = server.workerLog.split(separator: "\n")
        #expect(lines.first?.hasPrefix("<6>pxe-catalog 1.0.0 starting") == true)
        #expect(lines.contains { $0.hasPrefix("<4>invalid container b.rts.png: not a PNG file") })
        #expect(lines.allSatisfy { $0.hasPrefix("<") && !$0.contains("\u{1B}[") })
    }

    @Test func withoutJournaldLogLinesStartWithATimestampAndLevel() throws {
        let server = TestServer()
        try server.start()
        defer { server.stop() }
        let first = String(server.workerLog.split(separator: "\n").first ?? "")
        #expect(first.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ info pxe-catalog 1\.0\.0 starting "#, options: .regularExpression) != nil, "\(first)")
    }
}
