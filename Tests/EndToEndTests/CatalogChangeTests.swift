import Foundation
import PXECatalog
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
        #expect(off.text == #"{"success":true,"entry_id":"\#(id)","pxe_enabled":false}"#)
        let pxeAfter = try JSONParser.parse(server.request("GET", "/pxe").body)
        #expect(pxeAfter["count"] == .int(1))
        guard case let .array(items)? = pxeAfter["pxe_containers"] else { Issue.record("no list"); return }
        #expect(items.first?["name"] == .string("B"))

        let bad = try server.request("POST", "/pxe/\(id)/toggle", body: #"{"enabled": "yes"}"#)
        #expect(bad.status == 400)
        let empty = try server.request("POST", "/pxe/\(id)/toggle")
        #expect(empty.text == #"{"success":true,"entry_id":"\#(id)","pxe_enabled":true}"#)
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
}
