import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

@Suite(.serialized) struct CatalogChangeTests {
    @Test func refreshPicksUpAddedAndRemovedFiles() throws {
        let server = TestServer()
        server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png")
        server.directory.write(PNGFixtures.named("B"), to: "catalog/b.rts.png")
        try server.start()
        defer { server.stop() }

        server.directory.write(PNGFixtures.named("C"), to: "catalog/new/c.rts.png")
        server.directory.remove("catalog/b.rts.png")
        let refresh = try server.request("POST", "/catalog/refresh")
        #expect(refresh.status == 200)
        let summary = try JSONParser.parse(refresh.body)
        #expect(summary["success"] == .bool(true))
        #expect(summary["added"] == .int(1))
        #expect(summary["removed"] == .int(1))
        #expect(summary["count"] == .int(2))

        let names = try JSONParser.parse(server.request("GET", "/containers").body)["containers"]
        guard case let .array(items)? = names else { Issue.record("no containers array"); return }
        #expect(items.compactMap { $0["name"]?.stringValue } == ["A", "C"])
        let goneID = CatalogEntry.id(forRealPath: server.catalogRoot + "/b.rts.png")
        #expect(try server.request("GET", "/containers/\(goneID)").status == 404)
    }

    @Test func toggleIsReflectedInPXEListing() throws {
        let server = TestServer()
        let a = server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png")
        server.directory.write(PNGFixtures.named("B"), to: "catalog/b.rts.png")
        server.directory.write(Array("junk".utf8), to: "catalog/c.rts.png")
        try server.start()
        defer { server.stop() }

        let pxeBefore = try JSONParser.parse(server.request("GET", "/pxe").body)
        #expect(pxeBefore["count"] == .int(2), "invalid files are never offered")

        let id = CatalogEntry.id(forRealPath: a)
        let off = try server.request("POST", "/pxe/\(id)/toggle", headers: ["Content-Type: application/json"], body: #"{"enabled": false}"#)
        #expect(off.status == 200)
        #expect(off.text == #"{"success":true,"entry_id":"\#(id)","pxe_enabled":false,"revision":2}"#)
        #expect(off.headers["etag"] == #""2""#)
        let pxeAfter = try JSONParser.parse(server.request("GET", "/pxe").body)
        #expect(pxeAfter["count"] == .int(1))
        guard case let .array(items)? = pxeAfter["pxe_containers"] else { Issue.record("no list"); return }
        #expect(items.first?["name"] == .string("B"))

        let bad = try server.request("POST", "/pxe/\(id)/toggle", body: #"{"enabled": "yes"}"#)
        #expect(bad.status == 400)
        let empty = try server.request("POST", "/pxe/\(id)/toggle")
        #expect(empty.text == #"{"success":true,"entry_id":"\#(id)","pxe_enabled":true,"revision":3}"#)
    }

    @Test func oversizedBodiesAreRefusedByNginxAndTheWorker() throws {
        let server = TestServer()
        let a = server.directory.write(PNGFixtures.named("A"), to: "catalog/a.rts.png")
        try server.start()
        defer { server.stop() }
        let big = String(repeating: " ", count: 70_000) + "{}"
        let response = try server.request("POST", "/pxe/\(CatalogEntry.id(forRealPath: a))/toggle", body: big)
        #expect(response.status == 413)
    }

    /// Twenty refreshes sent at once through nginx, on a worker with two threads: they do not
    /// queue behind each other's scans; they share at most two (the one running when the first
    /// arrived and one after), and all get the same answer. A catalog of 20,000 files makes
    /// each scan long next to the burst, however fast or loaded the machine.
    @Test func twentyConcurrentRefreshesShareAtMostTwoScans() throws {
        let server = TestServer()
        server.workerEnvironment = ["PXE_CATALOG_CATALOG_WATCH": "false", "PXE_CATALOG_CATALOG_RESCAN_INTERVAL": "0"]
        let png = PNGFixtures.named("x")
        server.directory.writeMany(png, count: 20_000) { "catalog/d\($0 % 200)/f\($0).rts.png" }
        try server.start()
        defer { server.stop() }
        func scans() throws -> Int64? { try JSONParser.parse(server.request("GET", "/status").body)["catalog"]?["scans"]?.intValue }
        let before = try #require(try scans())

        let sockets = (0..<20).compactMap { _ in Sockets.connectTCP(port: server.port, receiveTimeout: 600) }
        defer { sockets.forEach { close($0) } }
        #expect(sockets.count == 20)
        let request = Array("POST /catalog/refresh HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer \(TestServer.adminToken)\r\nContent-Length: 0\r\n\r\n".utf8)
        for fd in sockets { _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        let answers = sockets.map { Sockets.exchange($0, []) }
        let bodies = answers.map { answer -> String in
            let text = String(decoding: answer, as: UTF8.self)
            return text.hasPrefix("HTTP/1.1 200") ? String(text[(text.range(of: "\r\n\r\n")?.upperBound ?? text.endIndex)...]) : "failed: \(text.prefix(40))"
        }
        #expect(Set(bodies).count == 1, "\(Set(bodies))")
        #expect(bodies.first?.contains(#""count":20000"#) == true)
        let after = try #require(try scans())
        #expect(after - before >= 1 && after - before <= 2, "\(after - before) scans for twenty refreshes")
    }
}
