import Foundation
import PXECatalog
@testable import PXEServer
import StrictJSON
import Testing

/// The menu file's reader: what it accepts, and a sentence naming the key for what it does not.
@Suite struct MenuFileParsingTests {
    static func parse(_ text: String) throws(ConfigurationError) -> MenuFile {
        let document: JSONValue
        do { document = try JSONParser.parse(Array(text.utf8)) } catch { fatalError("test JSON: \(error)") }
        return try MenuFile.parse(document, fileName: "menu.json", source: .file("/etc/pxe-catalog/menu.json"))
    }

    @Test func readsItemsOverridesAndHostRules() throws {
        let file = try Self.parse(#"""
        {"entries": [{"id": "0123456789ab", "enabled": false, "name": null},
                     {"path": "lab/*.rts.png", "name": "Lab", "description": "For the lab", "cmdline": "console=ttyS0"}],
         "api_may_override": ["enabled", "cmdline"],
         "hosts": {"rules": [{"name": "lab", "match": {"mac_prefix": "52:54:00"}, "default": "0123456789ab"}],
                   "labels": {"52:54:00:00:00:01": {"room": "a"}}}}
        """#)
        #expect(file.menu.items == [
            DesiredMenu.Item(selector: .id("0123456789ab"), enabled: false, name: .reset),
            DesiredMenu.Item(selector: .path("lab/*.rts.png"), name: .set("Lab"), description: .set("For the lab"), commandLine: .set("console=ttyS0")),
        ])
        #expect(file.menu.apiMayOverride == [.enabled, .cmdline])
        #expect(file.rules.map(\.name) == ["lab"] && file.rules[0].source == .menuFile)
        #expect(file.labels["52:54:00:00:00:01"] == ["room": "a"])
    }

    @Test(arguments: [
        (#"[]"#, "(file)", "must be a JSON object"),
        (#"{"entires": []}"#, "entires", "is not a known key"),
        (#"{"entries": [{"name": "x"}]}"#, "entries[0]", "needs \"id\" or \"path\""),
        (#"{"entries": [{"id": "0123456789ab", "path": "*"}]}"#, "entries[0].path", "cannot be given with \"id\""),
        (#"{"entries": [{"id": "0123456789AB"}]}"#, "entries[0].id", "12 lowercase hex digits"),
        (#"{"entries": [{"path": "/srv/x.rts.png"}]}"#, "entries[0].path", "relative to a catalog root"),
        (#"{"entries": [{"path": "*", "enabled": "yes"}]}"#, "entries[0].enabled", "true or false"),
        (#"{"entries": [{"path": "*", "name": "a\u0007b"}]}"#, "entries[0].name", "control characters"),
        (#"{"entries": [{"path": "*", "cmdline": "quiet ${evil}"}]}"#, "entries[0].cmdline", "$"),
        (#"{"entries": [{"path": "*", "description": "\#(String(repeating: "x", count: 201))"}]}"#, "entries[0].description", "at most 200"),
        (#"{"api_may_override": ["boot_order"]}"#, "api_may_override", "the file's order is always the menu's"),
        (#"{"hosts": {"rulez": []}}"#, "hosts.rulez", "is not a known key"),
        (#"{"hosts": {"rules": [{"name": "r", "match": {"mac": "nope"}}]}}"#, "hosts.rules", "not a MAC address"),
    ])
    func refusesWhatTheWorkerCouldNotApplyNamingTheKey(text: String, key: String, reason: String) {
        do {
            _ = try Self.parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.key.hasPrefix(key), "\(error.description)")
            #expect(error.description.contains(reason), "\(error.description)")
            #expect(error.description.contains("in /etc/pxe-catalog/menu.json"))
        }
    }
}
