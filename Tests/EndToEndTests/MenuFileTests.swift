import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

/// The menu file (`menu.file`) with the real worker behind nginx: applied at start, owning its
/// settings against the API, re-read on SIGHUP, planned and applied by the command line while
/// the worker runs.
@Suite(.serialized) struct MenuFileTests {
    /// Names of the enabled entries in boot order, as GET /pxe lists them.
    static func menuNames(_ server: TestServer) -> [String] {
        guard let body = try? server.request("GET", "/pxe").body, case let .array(items)? = try? JSONParser.parse(body)["pxe_containers"] else { return [] }
        return items.compactMap { $0["name"]?.stringValue }
    }

    @Test func theFileSetsTheMenuOwnsItsSettingsAndFollowsSIGHUPAndApply() throws {
        let server = TestServer()
        for name in ["alpha", "beta", "lab/gamma", "lab/delta"] { server.directory.write(PNGFixtures.named(name.replacingOccurrences(of: "lab/", with: "")), to: "catalog/\(name).rts.png") }
        let menuPath = server.directory.path + "/menu.json"
        let beta = CatalogEntry.id(forRealPath: server.catalogRoot + "/beta.rts.png")
        let alpha = CatalogEntry.id(forRealPath: server.catalogRoot + "/alpha.rts.png")
        try #"{"entries": [{"path": "lab/*.rts.png", "name": "Lab"}, {"id": "\#(beta)", "enabled": false}], "api_may_override": ["enabled"]}"#
            .write(toFile: menuPath, atomically: true, encoding: .utf8)
        server.extraConfig = #""menu": {"file": "\#(menuPath)"}"#
        try server.start()
        defer { server.stop() }

        // At start: the lab entries first under the file's name, beta disabled, alpha after.
        #expect(TestServer.waitFor(seconds: 30) { Self.menuNames(server) == ["Lab", "Lab", "alpha"] }, "GET /pxe: \(Self.menuNames(server))")

        // The API may not change what the file owns; it may change what the file allows.
        let gamma = CatalogEntry.id(forRealPath: server.catalogRoot + "/lab/gamma.rts.png")
        let refused = try server.request("POST", "/pxe/\(gamma)/menu", body: #"{"name": "Mine"}"#)
        #expect(refused.status == 409)
        #expect(try JSONParser.parse(refused.body)["error"] == .string("The name of entry \(gamma) is set by the menu file menu.json (menu.file); change it there, or list \"name\" in the file's api_may_override. Nothing was changed."))
        #expect(!refused.text.contains(server.directory.path), "no absolute path in the answer")
        #expect(try server.request("POST", "/pxe/\(alpha)/menu", body: #"{"boot_order": 0}"#).status == 200, "alpha is not in the file")
        #expect(try server.request("POST", "/pxe/\(gamma)/menu", body: #"{"boot_order": 3}"#).status == 409)
        #expect(try server.request("POST", "/pxe/\(beta)/toggle", body: #"{"enabled": true}"#).status == 200, "enabled may be overridden")
        #expect(Self.menuNames(server).contains("beta"))

        // SIGHUP with a changed file applies it (and sets the overridden field again).
        try #"{"entries": [{"id": "\#(beta)", "enabled": false}, {"path": "lab/*.rts.png", "name": "Lab 2"}]}"#
            .write(toFile: menuPath, atomically: true, encoding: .utf8)
        kill(try #require(server.workerProcess).processIdentifier, SIGHUP)
        #expect(TestServer.waitFor(seconds: 30) { Self.menuNames(server) == ["Lab 2", "Lab 2", "alpha"] }, "after SIGHUP: \(Self.menuNames(server))")

        // plan says what apply would change (exit 2), apply makes it so in the running worker.
        try #"{"entries": [{"id": "\#(alpha)", "name": "First"}, {"path": "lab/*.rts.png", "name": "Lab 2"}, {"id": "\#(beta)", "enabled": false}]}"#
            .write(toFile: menuPath, atomically: true, encoding: .utf8)
        let plan = try TestServer.run(TestServer.binary, ["plan", "--config", server.configPath])
        #expect(plan.status == 2, "plan: \(plan.stdout) \(plan.stderr)")
        #expect(plan.stdout == """
        ~ \(alpha) alpha.rts.png: boot order 3 -> 0
        ~ \(alpha) alpha.rts.png: name (the container's) -> "First"
        ~ \(beta) beta.rts.png: boot order 0 -> 3
        Plan: 3 changes to 2 entries listed in menu.json.

        """)
        let apply = try TestServer.run(TestServer.binary, ["apply", "--config", server.configPath])
        #expect(apply.status == 0, "apply: \(apply.stdout) \(apply.stderr)")
        #expect(TestServer.waitFor(seconds: 30) { Self.menuNames(server) == ["First", "Lab 2", "Lab 2"] }, "after apply: \(Self.menuNames(server))")
        let again = try TestServer.run(TestServer.binary, ["plan", "--config", server.configPath])
        #expect(again.status == 0 && again.stdout == "No changes: the settings match menu.json.\n", "second plan: \(again.stdout)")
        let audit = try server.request("GET", "/audit?limit=50", headers: ["Authorization: Bearer \(TestServer.adminToken)"]).text
        #expect(audit.contains("\"actor\":\"pxe-catalog apply\"") && audit.contains("\"actor\":\"menu file\""))

        // A broken file is refused as a whole with the key named; the running menu stays.
        try #"{"entries": [{"path": "lab/*", "nmae": "typo"}]}"#.write(toFile: menuPath, atomically: true, encoding: .utf8)
        let check = try TestServer.run(TestServer.binary, ["check-config", "--config", server.configPath])
        #expect(check.status == 1 && check.stderr.contains("'entries[0].nmae' in \(menuPath) is not a known key"), "check-config: \(check.stderr)")
        kill(try #require(server.workerProcess).processIdentifier, SIGHUP)
        #expect(TestServer.waitFor(seconds: 20) { server.workerLog.contains("entries[0].nmae") })
        #expect(Self.menuNames(server) == ["First", "Lab 2", "Lab 2"])
        #expect(server.workerProcess?.isRunning == true)
    }
}
