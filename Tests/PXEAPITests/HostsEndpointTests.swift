import Foundation
import PXEAPI
import PXECatalog
import PXEHosts
import PXESettings
import StrictJSON
import TestSupport
import Testing

/// Per-machine policy, one-shot next boots and the boot log, through the API without sockets.
@Suite struct HostsEndpointTests {
    static let staff = "mac=52-54-00-00-00-01&platform=pcbios"
    static let student = "mac=52-54-00-00-00-02&hostname=\(hex("pc-student"))&platform=pcbios"
    static let kiosk = "mac=52-54-00-00-00-03"

    static func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined(separator: "-") }

    func fixture() throws -> (APIFixture, [String]) {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A"), "b.rts.png": PNGFixtures.named("B"), "c.rts.png": PNGFixtures.named("C")],
                                 hostRules: { id in
            let rules = try! HostRules.parseRules(try! JSONParser.parse("""
                [{"name": "students", "match": {"labels": {"role": "student"}}, "default": "\(id("b.rts.png"))", "timeout": 5,
                  "entries": ["\(id("b.rts.png"))"], "cmdline_append": "exam=1"},
                 {"name": "kiosk", "match": {"mac": "52:54:00:00:00:03"}, "boot": "\(id("c.rts.png"))"}]
                """), isEntryID: CatalogEntry.isWellFormedID)
            return HostRules(rules: rules, labels: ["52:54:00:00:00:02": ["role": "student"]])
        })
        fixture.markAllReady()
        return (fixture, ["a", "b", "c"].map { fixture.id("\($0).rts.png") })
    }

    func menu(_ fixture: APIFixture, _ query: String) -> String { fixture.call("GET", "/pxe/menu.ipxe", query: query).bodyText }

    @Test func twoMachinesGetDifferentDefaultsAndDifferentEntries() throws {
        let (fixture, ids) = try fixture()
        let staff = menu(fixture, Self.staff)
        let student = menu(fixture, Self.student)
        #expect(staff.contains("set pxe_default local") && staff.contains("--timeout 10000"))
        #expect(["A", "B", "C"].allSatisfy { staff.contains(". \($0) (") })
        #expect(student.contains("set pxe_default entry1") && student.contains("--timeout 5000"))
        #expect(student.contains("1. B (") && !student.contains(". A (") && !student.contains(". C ("), "only the rule's entries")
        #expect(student.contains("exam=1") && !staff.contains("exam=1"), "the rule's command line is for its machines only")
        // Each request of the boot carries the machine's identity.
        #expect(student.hasPrefix("#!ipxe\nset pxe_machine mac=52%3A54%3A00%3A00%3A00%3A02&hostname=pc-student&platform=pcbios\n"))
        #expect(student.contains("kernel ../containers/\(ids[1])/kernel?${pxe_machine} "))
        // A machine that says nothing gets the site's menu, unattributed, as before.
        let anonymous = menu(fixture, "")
        #expect(!anonymous.contains("pxe_machine") && anonymous.contains("kernel ../containers/\(ids[0])/kernel initrd=initrd"))
    }

    @Test func aDirectBootRuleSkipsTheMenu() throws {
        let (fixture, ids) = try fixture()
        let script = menu(fixture, Self.kiosk)
        #expect(script == "#!ipxe\n# pxe-catalog: this machine boots C without a menu.\nchain --replace --autofree \(ids[2])/boot.ipxe?mac=52%3A54%3A00%3A00%3A00%3A03\n")
        let entry = fixture.call("GET", "/pxe/\(ids[2])/boot.ipxe", query: "mac=52%3A54%3A00%3A00%3A00%3A03").bodyText
        #expect(entry.hasPrefix("#!ipxe\nset pxe_machine mac=52%3A54%3A00%3A00%3A00%3A03\n"))
        #expect(entry.contains("kernel ../../containers/\(ids[2])/kernel?${pxe_machine} "))
        // Disabled: the rule cannot boot it, so the machine gets the menu.
        _ = fixture.call("POST", "/pxe/\(ids[2])/toggle", body: #"{"enabled": false}"#)
        #expect(menu(fixture, Self.kiosk).contains("choose --default"))
    }

    @Test func theBootLogAttributesEveryRequest() throws {
        let (fixture, ids) = try fixture()
        #expect(fixture.call("GET", "/boots", authorization: nil).status == 401, "the boot log needs a token")
        #expect(fixture.call("GET", "/hosts", authorization: nil).status == 401)
        _ = fixture.call("GET", "/pxe/boot.ipxe")
        _ = menu(fixture, Self.student)
        _ = fixture.call("GET", "/containers/\(ids[1])/kernel", query: "mac=52%3A54%3A00%3A00%3A00%3A02&hostname=pc-student")
        _ = fixture.call("GET", "/containers/\(ids[1])/initrd", query: "mac=52%3A54%3A00%3A00%3A00%3A02&hostname=pc-student")

        let boots = try JSONParser.parse(fixture.call("GET", "/boots", query: "limit=10").body)
        guard case let .array(events)? = boots["boots"] else { Issue.record("no boots"); return }
        #expect(events.map { $0["kind"]?.stringValue } == ["initrd", "kernel", "menu", "boot_script"])
        #expect(events[1]["mac"] == .string("52:54:00:00:00:02") && events[1]["entry_id"] == .string(ids[1]) && events[1]["hostname"] == .string("pc-student"))
        #expect(events[2]["outcome"] == .string("rule:students"))
        #expect(events[3]["mac"] == .null)
        let newest = try #require(events[0]["id"]?.intValue)
        #expect(try JSONParser.parse(fixture.call("GET", "/boots", query: "since=\(newest)").body)["count"] == .int(0))
        #expect(fixture.call("GET", "/boots", query: "limit=0").status == 400)

        let host = try JSONParser.parse(fixture.call("GET", "/hosts/52-54-00-00-00-02").body)
        #expect(host["boots"] == .int(1) && host["last_entry"] == .string(ids[1]))
        #expect(host["labels"]?["role"] == .string("student"))
        #expect(host["rule"]?["name"] == .string("students") && host["rule"]?["source"] == .string("config"))
        #expect(fixture.call("GET", "/hosts/52-54-00-99-99-99").status == 404)
        #expect(fixture.call("GET", "/hosts/not-a-mac").status == 400)
        #expect(fixture.call("GET", "/metrics").bodyText.contains("pxe_catalog_boots_total{entry=\"\(ids[1])\",kind=\"linux\"} 1"))
    }

    @Test func aOneShotIsTakenByExactlyOneOfManyRacingRequests() throws {
        let (fixture, ids) = try fixture()
        let set = fixture.call("POST", "/hosts/52:54:00:00:00:01/next-boot", body: #"{"entry": "\#(ids[2])", "expires_in": 600}"#)
        #expect(set.status == 200, "\(set.bodyText)")
        #expect(try JSONParser.parse(fixture.call("GET", "/hosts/52:54:00:00:00:01").body)["next_boot"]?["entry_id"] == .string(ids[2]))
        let answers = LockedBox<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 20) { _ in
            let text = fixture.call("GET", "/pxe/menu.ipxe", query: Self.staff, authorization: nil).bodyText
            answers.update { $0.append(text) }
        }
        let direct = answers.value.filter { $0.contains("chain --replace --autofree \(ids[2])/boot.ipxe") }
        #expect(direct.count == 1, "exactly one request boots the one-shot")
        #expect(answers.value.count - direct.count == 19)
        #expect(!menu(fixture, Self.staff).contains("--replace"), "then the usual menu again")
        #expect(try fixture.store.settingsStore.nextBoots().isEmpty, "taken in the store too")
        let audit = try fixture.store.settingsStore.audit(AuditQuery())
        #expect(audit.first?.field == "next_boot" && audit.first?.new == "booted" && audit.first?.actor == "machine")
        #expect(fixture.call("DELETE", "/hosts/52:54:00:00:00:01/next-boot").status == 404, "nothing left to cancel")
    }

    @Test func aOneShotCanBeCancelledAndExpires() throws {
        let (fixture, ids) = try fixture()
        #expect(fixture.call("POST", "/hosts/52:54:00:00:00:01/next-boot", body: #"{"entry": "\#(ids[0])"}"#).status == 200)
        let cancelled = fixture.call("DELETE", "/hosts/52-54-00-00-00-01/next-boot")
        #expect(cancelled.status == 200)
        #expect(try JSONParser.parse(cancelled.body)["cancelled"]?["entry_id"] == .string(ids[0]))
        #expect(!menu(fixture, Self.staff).contains("--replace"))
        // Refusals: each names what was wrong, nothing is saved.
        for (body, status, words) in [(#"{"entry": "0123456789ab"}"#, 404, "No container"), (#"{"entry": "xyz"}"#, 400, "'entry'"),
                                      (#"{}"#, 400, "required"), (#"{"entry": "\#(ids[0])", "expires_in": 0}"#, 400, "'expires_in'"),
                                      (#"{"entry": "\#(ids[0])", "when": 1}"#, 400, "Unknown field")] {
            let refused = fixture.call("POST", "/hosts/52:54:00:00:00:01/next-boot", body: body)
            #expect(refused.status == status && refused.bodyText.contains(words), "\(body): \(refused.bodyText)")
        }
        #expect(fixture.call("POST", "/hosts/nonsense/next-boot", body: #"{"entry": "\#(ids[0])"}"#).status == 400)
        #expect(fixture.call("POST", "/hosts/52:54:00:00:00:01/next-boot", body: #"{"entry": "\#(ids[0])"}"#, authorization: nil).status == 401)
        #expect(fixture.call("PUT", "/hosts/52:54:00:00:00:01/next-boot").header("Allow") == "POST, DELETE")
        #expect(try fixture.store.settingsStore.nextBoots().isEmpty)
    }

    @Test func anExpiredOneShotIsNotUsed() throws {
        let clock = LockedBox(Date(timeIntervalSince1970: 1_800_000_000))
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A")], now: { clock.value })
        fixture.markAllReady()
        let id = fixture.id("a.rts.png")
        _ = try fixture.nextBoots.set(mac: "52:54:00:00:00:01", entry: id, expiresAt: 1_800_000_060, actor: "admin")
        clock.value = clock.value.addingTimeInterval(61)
        #expect(!menu(fixture, Self.staff).contains("--replace"))
        #expect(fixture.nextBoots.pending.isEmpty, "and it is gone")
    }

    /// Hostile identity values never reach a script and never break the log's JSON.
    @Test(arguments: ["hostname=a%0Aboot", "hostname=" + hex("x && shell"), "serial=%24%7Bnet0%2Fmac%7D", "hostname=" + hex("a\u{1b}[2J"),
                      "hostname=" + String(repeating: "A", count: 5000), "mac=52-54-00-00-00-01&mac=%0A"])
    func hostileIdentitiesStayOutOfScripts(query: String) throws {
        let (fixture, _) = try fixture()
        let script = menu(fixture, query)
        let header = script.split(separator: "\n").prefix(2).joined(separator: "\n")
        #expect(!header.contains("&&") && !header.contains(" shell") && !header.contains("boot\n") && !header.contains("${net0") && !header.contains("\u{1b}"), "\(header)")
        let setLine = script.split(separator: "\n").first { $0.hasPrefix("set pxe_machine ") }
        if let setLine { #expect(setLine.dropFirst(16).allSatisfy { $0.isLetter || $0.isNumber || "._~%=&-".contains($0) }) }
        #expect((try? JSONParser.parse(fixture.call("GET", "/boots").body)) != nil)
    }
}
