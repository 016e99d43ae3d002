import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

/// Socket activation and restarts, signals, automatic refresh, status and metrics, log format.
@Suite(.serialized) struct OperationsTests {
    /// Fifty restarts while eight clients loop through nginx: every request is answered 200,
    /// none is cut by a restart (neither the one being accepted nor one being answered).
    @Test(arguments: [true, false])
    func restartingTheWorkerOnAHeldSocketRefusesNoRequest(systemdProtocol: Bool) throws {
        let server = TestServer()
        server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png")
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_WATCH": "false", "PXE_CATALOG_CATALOG_RESCAN_INTERVAL": "0"]
        // The test plays systemd (or spawn-fcgi): it owns the listening socket for the whole run.
        let listenFD = TestServer.listeningSocket(path: server.directory.path + "/worker.sock")
        defer { close(listenFD) }
        server.inheritedSocket = (listenFD, systemdProtocol)
        try server.start()
        defer { server.stop() }
        #expect(server.workerLog.contains(systemdProtocol ? "listening on the inherited socket (fd 3)" : "listening on the inherited socket (fd 0)"))

        let results = LockedBox<[Int]>([])
        let stop = LockedBox(false)
        let nginxClients = (0..<8).map { _ in
            Thread {
                while !stop.value {
                    let answer = (try? server.rawRequest(Array("GET /pxe HTTP/1.0\r\nHost: x\r\n\r\n".utf8))) ?? []
                    let status = Int(String(decoding: answer.prefix(12).dropFirst(9), as: UTF8.self)) ?? 0
                    results.update { $0.append(status) }
                }
            }
        }
        // Two more talk FastCGI to the socket directly and wait a little between connecting and
        // sending: their connections are accepted before their request is there to read, the
        // moment a stop signal used to cut.
        let slowSenders = (0..<2).map { _ in
            Thread {
                let socket = server.directory.path + "/worker.sock"
                let request = FastCGIClient.requestRecords(params: FastCGIClient.params(method: "GET", documentURI: Array("/pxe".utf8)))
                    + FastCGIClient.stdinRecords([], end: true)
                while !stop.value {
                    guard let fd = try? FastCGIClient.open(socket: socket) else { results.update { $0.append(-1) }; continue }
                    usleep(20_000)
                    FastCGIClient.send(fd, request)
                    let status = FastCGIClient.readReply(fd).status
                    close(fd)
                    results.update { $0.append(status) }
                }
            }
        }
        let clients = nginxClients + slowSenders
        clients.forEach { $0.start() }
        // Each restart waits for requests answered by the new worker, so every restart happens
        // under load, however slow the machine.
        for restart in 0..<50 {
            let before = results.value.count
            #expect(TestServer.waitFor(seconds: 60) { results.value.count >= before + 8 }, "no progress before restart \(restart)")
            #expect(server.signalWorker(SIGTERM) == 0)
            try server.startWorker()
        }
        let before = results.value.count
        #expect(TestServer.waitFor(seconds: 60) { results.value.count >= before + 8 })
        stop.value = true
        while clients.contains(where: { !$0.isFinished }) { usleep(10_000) }
        let statuses = results.value
        let failed = statuses.filter { $0 != 200 }
        #expect(statuses.count >= 8 * 50)
        #expect(failed.count == 0, "\(failed.count) of \(statuses.count) requests failed: \(Set(failed))")
    }

    /// A 10,000-entry listing the client has not read yet when SIGTERM arrives (the worker is
    /// blocked writing it) still arrives whole, and the worker then exits 0.
    @Test func aLargeResponseBeingWrittenDuringSigtermArrivesWhole() throws {
        let server = TestServer()
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_WATCH": "false", "PXE_CATALOG_CATALOG_RESCAN_INTERVAL": "0"]
        let png = PNGFixtures.named("x")
        server.directory.writeMany(png, count: 10_000) { "catalog/d\($0 % 100)/f\($0).rts.png" }
        try server.start()
        defer { server.stop() }
        let fd = try FastCGIClient.open(socket: server.directory.path + "/worker.sock")
        defer { close(fd) }
        FastCGIClient.send(fd, FastCGIClient.requestRecords(params: FastCGIClient.params(method: "GET", documentURI: Array("/containers".utf8)))
                           + FastCGIClient.stdinRecords([], end: true))
        // Nothing is read yet: the listing (megabytes) fills the socket buffer and the worker's
        // write blocks. Wait until it has started writing, then stop the worker.
        #expect(TestServer.waitFor(seconds: 60) { Sockets.pendingBytes(fd) > 0 })
        let worker = try #require(server.workerProcess)
        kill(worker.processIdentifier, SIGTERM)
        #expect(TestServer.waitFor(seconds: 30) { server.workerLog.contains("finishing in-flight") })
        let reply = FastCGIClient.readReply(fd)
        #expect(reply.status == 200)
        let listing = try JSONParser.parse(reply.body)
        #expect(listing["count"] == .int(10_000))
        #expect(TestServer.waitFor(seconds: 30) { !worker.isRunning })
        #expect(worker.terminationStatus == 0)
    }

    /// SIGTERM while the services are busy: a request is being written to a client that does
    /// not read, the analyzer's command is running (it would for ten minutes), the watcher
    /// watches, the store is polled. Every service the worker listed at start says it stopped,
    /// in reverse order, the analyzer's process is gone, and the worker exits 0 in time.
    @Test func everyServiceStopsWhileBusy() throws {
        let server = TestServer()
        let pidFile = server.directory.path + "/analyzer.pid"
        let analyzer = server.directory.write(Array("#!/bin/sh\necho $$ > \(pidFile)\nexec /bin/sleep 600\n".utf8), to: "analyzer")
        chmod(analyzer, 0o755)
        server.analyzer = [analyzer]
        server.analyzerTimeoutSeconds = 900
        try ConsoleBrowserTests.packLinux(server, to: server.catalogRoot + "/alpha.rts.png", name: "Alpha", seed: 1)
        server.directory.writeMany(PNGFixtures.named("x"), count: 10_000) { "catalog/d\($0 % 100)/f\($0).rts.png" }
        try server.start()
        defer { server.stop() }
        let worker = try #require(server.workerProcess)

        // The shell creates the file before it writes the PID into it: wait for the whole line.
        func writtenPID() -> pid_t? {
            guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), text.hasSuffix("\n") else { return nil }
            return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(TestServer.waitFor(seconds: 120) { writtenPID() != nil }, "the analyzer started")
        let analyzerPID = writtenPID() ?? 0
        try #require(analyzerPID > 0 && kill(analyzerPID, 0) == 0)
        let fd = try FastCGIClient.open(socket: server.directory.path + "/worker.sock")
        defer { close(fd) }
        FastCGIClient.send(fd, FastCGIClient.requestRecords(params: FastCGIClient.params(method: "GET", documentURI: Array("/containers".utf8)))
                           + FastCGIClient.stdinRecords([], end: true))
        #expect(TestServer.waitFor(seconds: 60) { Sockets.pendingBytes(fd) > 0 }, "the listing is being written")

        kill(worker.processIdentifier, SIGTERM)
        #expect(TestServer.waitFor(seconds: 30) { server.workerLog.contains("finishing in-flight") })
        #expect(FastCGIClient.readReply(fd).status == 200, "the request in flight is answered")
        #expect(TestServer.waitFor(seconds: 60) { !worker.isRunning }, "stopped within the deadline (shutdown timeout and margin)")
        #expect(worker.terminationStatus == 0, "log: \(server.workerLog)")
        #expect(TestServer.waitFor(seconds: 10) { kill(analyzerPID, 0) != 0 }, "the analyzer's process was killed")

        let log = server.workerLog
        let listed = log.split(separator: "\n").first { $0.contains("services, in start order: ") }
        let names = listed.map { $0.components(separatedBy: "services, in start order: ")[1].components(separatedBy: ", ") } ?? []
        #expect(names == ["settings-watch", "host-summaries", "boot-preparer", "fastcgi", "catalog-watcher", "dnsmasq-log", "grub-tree"], "\(log)")
        let stops = log.split(separator: "\n").compactMap { line in names.first { line.contains("stopped \($0) (") } }
        #expect(stops == names.reversed(), "each stopped once, in reverse: \(log)")
    }

    /// On its unix socket the worker closes a connection as soon as the reply is written instead
    /// of half-closing and waiting for nginx to close first (which held a thread per request
    /// until nginx got round to it): a byte sent after the reply's end finds the socket closed.
    /// A body too large to read is still drained, and its refusal arrives.
    @Test func aUnixConnectionIsClosedWhenItsReplyIsWritten() throws {
        let (server, socket, toggle, auth) = try HostileInputTests.workerWithOneContainer()
        defer { server.stop() }
        let fd = try FastCGIClient.open(socket: socket)
        defer { close(fd) }
        FastCGIClient.send(fd, FastCGIClient.requestRecords(params: FastCGIClient.params(method: "GET", documentURI: Array("/pxe".utf8)))
                           + FastCGIClient.stdinRecords([], end: true))
        let reply = FastCGIClient.readReply(fd)   // up to the end of the stream
        #expect(reply.status == 200)
        let sent = send(fd, [UInt8(0)], 1, Int32(MSG_NOSIGNAL))
        let error = errno
        #expect(sent < 0 && (error == EPIPE || error == ECONNRESET), "the worker still had the connection open (sent \(sent))")

        // More body than a socket buffer holds, announced larger than the limit: the worker
        // refuses it unread, and drains it rather than closing on a sender still writing (nginx
        // would turn that broken pipe into a 502).
        let bodyFD = try FastCGIClient.open(socket: socket)
        defer { close(bodyFD) }
        let request = FastCGIClient.requestRecords(params: FastCGIClient.params(method: "POST", documentURI: toggle, contentLength: 1_000_000_000, extra: [auth]))
            + FastCGIClient.stdinRecords([UInt8](repeating: 0x20, count: 4 << 20), end: true)
        #expect(FastCGIClient.send(bodyFD, request) == request.count, "the worker closed while the body was still being sent")
        #expect(FastCGIClient.readReply(bodyFD).status == 413)
    }

    /// A request the worker has accepted but not fully received when SIGTERM arrives (its body
    /// is held back by the test) is still answered, and the worker then exits 0.
    @Test func sigtermFinishesTheRequestInFlightAndExitsZero() throws {
        let server = TestServer()
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_WATCH": "false", "PXE_CATALOG_CATALOG_RESCAN_INTERVAL": "0"]
        let id = CatalogEntry.id(forRealPath: server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png"))
        try server.start()
        defer { server.stop() }
        let body = Array(#"{"enabled": false}"#.utf8)
        let fd = try FastCGIClient.open(socket: server.directory.path + "/worker.sock")
        defer { close(fd) }
        let params = FastCGIClient.params(method: "POST", documentURI: Array("/pxe/\(id)/toggle".utf8), contentLength: body.count,
                                          extra: [("HTTP_AUTHORIZATION", Array("Bearer \(TestServer.adminToken)".utf8))])
        FastCGIClient.send(fd, FastCGIClient.requestRecords(params: params) + FastCGIClient.stdinRecords(Array(body.prefix(5)), end: false))
        #expect(TestServer.waitFor(seconds: 30) { server.statusInFlight() >= 2 })
        let worker = try #require(server.workerProcess)
        kill(worker.processIdentifier, SIGTERM)
        #expect(TestServer.waitFor(seconds: 30) { server.workerLog.contains("finishing in-flight") })
        #expect(worker.isRunning, "the worker waits for the request it accepted")
        FastCGIClient.send(fd, FastCGIClient.stdinRecords(Array(body.dropFirst(5)), end: true))
        let reply = FastCGIClient.readReply(fd)
        #expect(reply.status == 200)
        #expect(try JSONParser.parse(reply.body)["pxe_enabled"] == .bool(false))
        #expect(TestServer.waitFor(seconds: 30) { !worker.isRunning })
        #expect(worker.terminationStatus == 0)
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
        // Ten times the pause between writes: a busy machine may stall the writer, not that long.
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_SETTLE_MS": "1500"]
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

extension ReloadAndWatchTests {
    /// A file dated a year ahead is listed after one settle interval, and then the watcher is
    /// quiet: no rescan beyond the periodic ones (there used to be one every settle interval).
    @Test func aFileDatedInTheFutureIsListedAndDoesNotKeepTheWatcherBusy() throws {
        let server = TestServer()
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_SETTLE_MS": "300", "PXE_CATALOG_CATALOG_RESCAN_INTERVAL": "0"]
        try server.start()
        defer { server.stop() }
        let staging = server.directory.write(PNGFixtures.named("From the future"), to: "staging/future.rts.png")
        var times = [timespec(tv_sec: time(nil) + 365 * 86_400, tv_nsec: 0), timespec(tv_sec: time(nil) + 365 * 86_400, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, staging, &times, 0) == 0)
        #expect(rename(staging, server.catalogRoot + "/future.rts.png") == 0)
        #expect(TestServer.waitFor(seconds: 30) { (try? server.request("GET", "/pxe").text.contains("From the future")) == true })
        func scans() -> Int64? { try? JSONParser.parse(server.request("GET", "/status").body)["catalog"]?["scans"]?.intValue }
        let listedAt = scans()
        usleep(2_000_000)   // six settle intervals: the old watcher rescanned in each of them
        #expect(scans() == listedAt)
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
