import Foundation
import StrictJSON
import TestSupport
import Testing

/// catalog.analyzer through the worker and nginx: results in /containers by content, kept across
/// restarts, failures recorded, a hanging analyzer blocking nothing, and the shipped OCR analyzer.
@Suite(.serialized) struct AnalyzerEndToEndTests {
    static func listing(_ server: TestServer) -> [String: JSONValue] {
        guard let body = try? server.request("GET", "/containers").body, case let .array(items)? = try? JSONParser.parse(body)["containers"] else { return [:] }
        var entries: [String: JSONValue] = [:]
        for item in items { if let name = item["filename"]?.stringValue { entries[name] = item } }
        return entries
    }

    func script(_ server: TestServer, _ name: String, _ body: String) -> String {
        let path = server.directory.write(Array("#!/bin/sh\n\(body)\n".utf8), to: name)
        chmod(path, 0o755)
        return path
    }

    @Test func resultsAreKeptByContentAcrossRestartsAndFailuresAreRecorded() throws {
        let server = TestServer()
        let runs = server.directory.path + "/runs"
        server.analyzer = [script(server, "analyzer", """
            echo "$1" >> \(runs)
            chrt -p $$ | sed -n 's/.*scheduling policy: //p' >> \(runs).policy
            case "$1" in
              *garbage*) echo 'not json' ;;
              *) printf '{"description": "A picture of %s", "labels": ["tux", "logo"]}' "$(basename "$1" .rts.png)" ;;
            esac
            """)]
        try ConsoleBrowserTests.packLinux(server, to: server.catalogRoot + "/alpha.rts.png", name: "Alpha", seed: 1)
        try FileManager.default.copyItem(atPath: server.catalogRoot + "/alpha.rts.png", toPath: server.catalogRoot + "/same-as-alpha.rts.png")
        try ConsoleBrowserTests.packLinux(server, to: server.catalogRoot + "/garbage.rts.png", name: "Garbage", seed: 2)
        try server.start()

        var entries: [String: JSONValue] = [:]
        let analysed = TestServer.waitFor(seconds: 120) {
            entries = Self.listing(server)
            return entries.count == 3 && entries.values.allSatisfy { $0["visual_description"] != .null || $0["analysis_problem"] != .null }
        }
        #expect(analysed, "\(entries)")
        // Identical files share one analysis: the first one analysed names it.
        let alpha = entries["alpha.rts.png"]?["visual_description"]?.stringValue
        #expect(alpha == "A picture of alpha" || alpha == "A picture of same-as-alpha")
        #expect(entries["same-as-alpha.rts.png"]?["visual_description"]?.stringValue == alpha)
        #expect(entries["alpha.rts.png"]?["detected_objects"] == .array([.string("tux"), .string("logo")]))
        #expect(entries["garbage.rts.png"]?["visual_description"] == .null)
        #expect(entries["garbage.rts.png"]?["analysis_problem"] == .string("the analyzer analyzer printed something other than a JSON object with description and labels"))
        #expect(entries["garbage.rts.png"]?["boot"]?["ready"] == .bool(true), "a failed analysis does not touch booting")
        let runsBefore = try String(contentsOfFile: runs, encoding: .utf8).split(separator: "\n").count
        #expect(runsBefore == 2)
        // Analysis is optional: it only gets CPU time nobody else wants.
        #expect(try String(contentsOfFile: runs + ".policy", encoding: .utf8) == "SCHED_IDLE\nSCHED_IDLE\n")
        let saved = server.directory.path + "/state/boot-cache/analysis"
        #expect(try FileManager.default.contentsOfDirectory(atPath: saved).count == 1, "the good analysis is kept on disk")

        // A restart finds the kept analysis; only the failed one is tried again.
        let savedBefore = try FileManager.default.contentsOfDirectory(atPath: saved)
        server.stop()
        #expect(try FileManager.default.contentsOfDirectory(atPath: saved) == savedBefore, "kept at stop")
        try server.start()
        defer { server.stop() }
        #expect(TestServer.waitFor(seconds: 120) {
            let now = Self.listing(server)
            return now["alpha.rts.png"]?["visual_description"]?.stringValue == alpha && now["garbage.rts.png"]?["analysis_problem"]?.stringValue != nil
        })
        let lines = try String(contentsOfFile: runs, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3 && lines.last?.hasSuffix("garbage.rts.png") == true, "\(lines)")
        // The boot cache survived too (the worker starts preparing before its first scan).
        let afterRestart = server.workerLog.components(separatedBy: "starting").last ?? ""
        #expect(afterRestart.contains("boot parts of alpha.rts.png are already in the cache"), "\(afterRestart)")
    }

    /// An analyzer that never ends delays nothing: parts, thumbnails and menus are there, and
    /// stopping the worker stops it (and what it started).
    @Test func aHangingAnalyzerBlocksNeitherBootsNorStopping() throws {
        let server = TestServer()
        let pidFile = server.directory.path + "/hang.pid"
        server.analyzer = [script(server, "hang", "sleep 600 & echo $! > \(pidFile); wait")]
        server.analyzerTimeoutSeconds = 3600
        try ConsoleBrowserTests.packLinux(server, to: server.catalogRoot + "/one.rts.png", name: "One", seed: 1)
        try ConsoleBrowserTests.packLinux(server, to: server.catalogRoot + "/two.rts.png", name: "Two", seed: 2)
        try server.start()
        var entries: [String: JSONValue] = [:]
        #expect(TestServer.waitFor(seconds: 120) {
            entries = Self.listing(server)
            return entries.count == 2 && entries.values.allSatisfy { $0["boot"]?["ready"] == .bool(true) && $0["thumbnail"] != .null }
        }, "\(entries)")
        #expect(entries.values.allSatisfy { $0["visual_description"] == .null && $0["analysis_problem"] == .null }, "still analysing")
        #expect(try server.request("GET", "/pxe/menu.ipxe").text.contains("One"))
        #expect(TestServer.waitFor(seconds: 60) { FileManager.default.fileExists(atPath: pidFile) })
        let child = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let worker = try #require(server.workerProcess)
        server.stop()
        #expect(worker.terminationStatus == 0, "the worker stopped on SIGTERM, not by a kill: \(server.workerLog)")
        #expect(TestServer.waitFor(seconds: 10) { kill(child, 0) != 0 }, "the analyzer's child was stopped with the worker")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tesseract"), "needs Debian's tesseract-ocr"))
    func theShippedOCRAnalyzerReadsTextDrawnInAnImage() throws {
        let server = TestServer()
        server.analyzer = [TestServer.binary, "analyze-ocr"]
        server.directory.write(ThumbnailFixtures.textImage("TEST BOOT"), to: "catalog/sign.rts.png")
        server.directory.write(ThumbnailFixtures.png(side: 64) { _, _ in [255, 255, 255, 255] }, to: "catalog/blank.rts.png")
        try server.start()
        defer { server.stop() }
        var entries: [String: JSONValue] = [:]
        #expect(TestServer.waitFor(seconds: 300) {
            entries = Self.listing(server)
            return entries.count == 2 && entries["sign.rts.png"]?["visual_description"] != .null
                && (entries["blank.rts.png"]?["detected_objects"] == .array([]) && entries["blank.rts.png"]?["analysis_problem"] == .null)
        }, "\(entries)")
        #expect(entries["sign.rts.png"]?["visual_description"] == .string("Contains text: TEST BOOT"))
        #expect(entries["sign.rts.png"]?["detected_objects"] == .array([.string("text"), .string("test"), .string("boot")]))
    }
}
