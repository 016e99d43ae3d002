import Foundation
import PXEAPI
import PXECatalog
import PXEHosts
import PXESettings
import StrictJSON
import TestSupport
import Testing

/// Host rules made through the API: kept in the store, shaping menus at once, refused where
/// the configuration or another rule owns the machines.
@Suite struct HostRulesEndpointTests {
    func fixture() -> (APIFixture, [String]) {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A"), "b.rts.png": PNGFixtures.named("B")], hostRules: { id in
            let rules = try! HostRules.parseRules(try! JSONParser.parse(#"[{"name": "lab", "match": {"mac_prefix": "52:54:00"}, "timeout": 3}]"#),
                                                  isEntryID: CatalogEntry.isWellFormedID)
            return HostRules(rules: rules)
        })
        fixture.markAllReady()
        return (fixture, ["a", "b"].map { fixture.id("\($0).rts.png") })
    }

    func error(_ response: HTTPResponse) -> String? { (try? JSONParser.parse(response.body))?["error"]?.stringValue }

    @Test func aRuleMadeThroughTheAPIShapesTheMenuAndIsListedWithItsSource() throws {
        let (fixture, ids) = fixture()
        let query = "mac=52-54-00-00-00-09"
        #expect(fixture.call("GET", "/pxe/menu.ipxe", query: query).bodyText.contains("--timeout 3000"), "the configuration's rule at first")
        let made = fixture.call("PUT", "/host-rules/kiosk-9", body: #"{"match": {"mac": "52:54:00:00:00:09"}, "default": "\#(ids[1])", "timeout": 7}"#)
        #expect(made.status == 201, "\(made.bodyText)")
        #expect(try JSONParser.parse(made.body) == JSONParser.parse(Array(#"{"name":"kiosk-9","source":"api","match":{"mac":"52:54:00:00:00:09"},"default":"\#(ids[1])","timeout":7}"#.utf8)))
        let menu = fixture.call("GET", "/pxe/menu.ipxe", query: query).bodyText
        #expect(menu.contains("--timeout 7000") && menu.contains("set pxe_default entry2"), "the more specific API rule wins:\n\(menu)")
        #expect(fixture.call("PUT", "/host-rules/kiosk-9", body: #"{"match": {"mac": "52:54:00:00:00:09"}, "timeout": 8}"#).status == 200, "replaced")
        #expect(fixture.call("GET", "/pxe/menu.ipxe", query: query).bodyText.contains("--timeout 8000"))
        let list = try JSONParser.parse(fixture.call("GET", "/host-rules").body)
        #expect(list["count"] == .int(2))
        #expect(list["rules"]?[0]?["name"] == .string("lab") && list["rules"]?[0]?["source"] == .string("config"))
        #expect(list["rules"]?[1]?["name"] == .string("kiosk-9") && list["rules"]?[1]?["source"] == .string("api"))
        let audit = try fixture.store.settingsStore.audit(AuditQuery(limit: 5))
        #expect(audit.first?.field == "host_rule kiosk-9" && audit.first?.new == #"{"match":{"mac":"52:54:00:00:00:09"},"timeout":8}"#)

        #expect(fixture.call("DELETE", "/host-rules/kiosk-9").status == 200)
        #expect(fixture.call("GET", "/pxe/menu.ipxe", query: query).bodyText.contains("--timeout 3000"), "back to the configuration's rule")
        #expect(error(fixture.call("DELETE", "/host-rules/kiosk-9")) == "No host rule named kiosk-9 was made through the API.")
    }

    @Test func whatTheAPICannotDoIsRefusedWithASentenceAndChangesNothing() throws {
        let (fixture, ids) = fixture()
        let configured = fixture.call("PUT", "/host-rules/lab", body: #"{"timeout": 1}"#)
        #expect(configured.status == 409 && error(configured) == "Host rule lab comes from the configuration (hosts.rules); change it there. Nothing was changed.")
        #expect(fixture.call("DELETE", "/host-rules/lab").status == 409)
        // Equally specific and overlapping with the configuration's rule: ambiguous.
        let ambiguous = fixture.call("PUT", "/host-rules/other-lab", body: #"{"match": {"mac_prefix": "52:54:00"}, "timeout": 2}"#)
        #expect(ambiguous.status == 409 && error(ambiguous)?.contains("host rules \"lab\" and \"other-lab\" are equally specific") == true, "\(ambiguous.bodyText)")
        for (body, message) in [
            (#"{"match": {"mac": "nope"}}"#, "Field 'match.mac' holds \"nope\", which is not a MAC address."),
            (#"{"name": "x"}"#, "Field 'name' is not part of the body: the rule's name is in the path and its source is the API."),
            (#"{"boot": "\#(ids[0])", "cmdline_append": "a && reboot"}"#, "Field 'cmdline_append' must not contain the word && (iPXE would run what follows as a command)."),
            (#"{"timeout": 99999}"#, "Field 'timeout' must be a whole number of seconds from 0 to 3600."),
        ] {
            let response = fixture.call("PUT", "/host-rules/r1", body: body)
            #expect(response.status == 400 && error(response) == message, "\(body): \(response.bodyText)")
        }
        #expect(fixture.call("PUT", "/host-rules/bad%2Fname", body: "{}").status == 400)
        #expect(fixture.call("PUT", "/host-rules/r1", body: #"{"timeout": 1}"#, authorization: nil).status == 401)
        #expect(fixture.call("GET", "/host-rules", authorization: nil).status == 401)
        #expect(fixture.hostRuleBook.stored.isEmpty, "nothing was saved")
    }
}
