import BootScripts
import Foundation
import PXEAPI
import PXECatalog
import PXEHosts
import StrictJSON
import TestSupport
import Testing

@Suite struct ProvisionEndpointTests {
    static let first = "52:54:00:12:34:56"
    static let second = "52:54:00:ab:cd:ef"
    static func hyphenated(_ mac: String) -> String { mac.replacingOccurrences(of: ":", with: "-") }

    /// Two Linux entries; `a` boots with `url=${provision_url}` and template `debian`; machine
    /// `first` has a rule with variables, `second` a rule that gives it template `other`.
    static func fixture() throws -> (APIFixture, a: String, b: String, templates: TemporaryDirectory) {
        let templates = TemporaryDirectory()
        try "d-i netcfg/get_hostname string {{hostname}}\nd-i mirror/http/hostname string {{vars.mirror}}\n# {{entry.name}} {{mac}} {{ip}} {{server}}\n"
            .write(toFile: templates.path + "/debian.preseed", atomically: true, encoding: .utf8)
        try "network --hostname={{hostname}}\n".write(toFile: templates.path + "/other.ks", atomically: true, encoding: .utf8)
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A"), "b.rts.png": PNGFixtures.named("B")], hostRules: { _ in
            HostRules(rules: [
                HostRule(name: "m1", selector: HostSelector(macs: [first]), policy: HostPolicy(variables: ["hostname": "web-1", "mirror": "deb.example"])),
                HostRule(name: "m2", selector: HostSelector(macs: [second]), policy: HostPolicy(answers: "other", variables: ["hostname": "db-2"])),
            ])
        })
        fixture.markAllReady()
        let a = fixture.id("a.rts.png"), b = fixture.id("b.rts.png")
        let set = try AnswerTemplateSet.load(directory: templates.path)
        fixture.api.replaceContext(fixture.api.context.with(answers: AnswerSettings(templates: set, entryTemplate: { $0.id == a ? "debian" : nil })))
        let cmdline = fixture.call("POST", "/pxe/\(a)/menu", body: #"{"cmdline": "console=ttyS0 auto=true url=${provision_url} priority=critical"}"#)
        #expect(cmdline.status == 200, "\(cmdline.bodyText)")
        return (fixture, a, b, templates)
    }

    static func entryScript(_ fixture: APIFixture, _ id: String, mac: String?) -> HTTPResponse {
        fixture.call("GET", "/pxe/\(id)/boot.ipxe", query: mac.map { "mac=\(hyphenated($0))" } ?? "", authorization: nil, headers: ["host": "10.0.0.1:8080"])
    }

    /// The `url=` word of an entry script's kernel line.
    static func answersURL(_ script: String) -> String? {
        script.split(separator: "\n").first { $0.hasPrefix("kernel ") }?.split(separator: " ").first { $0.hasPrefix("url=") }.map { String($0.dropFirst(4)) }
    }

    static func fetch(_ fixture: APIFixture, _ url: String, from address: String = "10.0.0.50") -> HTTPResponse {
        let path = url.replacingOccurrences(of: "http://10.0.0.1:8080", with: "")
        return fixture.call("GET", path, authorization: nil, headers: ["host": "10.0.0.1:8080"], remoteAddress: address)
    }

    @Test func eachMachinesEntryScriptCarriesItsOwnOneTimeURL() throws {
        let (fixture, a, b, _) = try Self.fixture()
        // The menu hands over to the entry script for `a` (which makes the URL); `b` boots inline.
        let menu = fixture.call("GET", "/pxe/menu.ipxe", query: "mac=\(Self.hyphenated(Self.first))", authorization: nil).bodyText
        #expect(menu.contains("chain --replace --autofree ../pxe/\(a)/boot.ipxe?${pxe_machine} || goto entry1_failed"), "\(menu)")
        #expect(menu.contains("kernel ../containers/\(b)/kernel?${pxe_machine}"))
        #expect(!menu.contains("provision"))

        let script = Self.entryScript(fixture, a, mac: Self.first).bodyText
        let url = try #require(Self.answersURL(script), "\(script)")
        let prefix = "http://10.0.0.1:8080/provision/\(Self.hyphenated(Self.first))/"
        #expect(url.hasPrefix(prefix) && url.hasSuffix("/debian.preseed"), "\(url)")
        let token = String(url.dropFirst(prefix.count).prefix { $0 != "/" })
        #expect(token.count == 32)
        #expect(script.contains("console=ttyS0 auto=true url=\(url) priority=critical"), "the URL where the line asked for it:\n\(script)")

        let served = Self.fetch(fixture, url)
        #expect(served.status == 200)
        #expect(served.header("Content-Type") == "text/plain; charset=utf-8" && served.header("Cache-Control") == "no-store")
        #expect(served.bodyText == "d-i netcfg/get_hostname string web-1\nd-i mirror/http/hostname string deb.example\n# A \(Self.first) 10.0.0.50 http://10.0.0.1:8080\n")
        // Used once: refused after, with a sentence, and never the answers.
        let again = Self.fetch(fixture, url)
        #expect(again.status == 410 && again.header("Cache-Control") == "no-store")
        let sentence = try JSONParser.parse(again.body)["error"]?.stringValue ?? ""
        #expect(sentence.contains("already used") && !again.bodyText.contains("web-1"), "\(sentence)")
        // Another machine presenting it; a token nobody was given; a path without a MAC.
        let stolen = Self.fetch(fixture, url.replacingOccurrences(of: Self.hyphenated(Self.first), with: Self.hyphenated(Self.second)))
        #expect(stolen.status == 403 && !stolen.bodyText.contains("web-1"), "\(stolen.bodyText)")
        #expect(Self.fetch(fixture, url.replacingOccurrences(of: token, with: String(repeating: "0", count: 32))).status == 404)
        #expect(Self.fetch(fixture, url.replacingOccurrences(of: Self.hyphenated(Self.first), with: "not-a-mac")).status == 404)

        // The boot log: the script that minted it, each fetch with its answer and address.
        let boots = try JSONParser.parse(fixture.call("GET", "/boots").body)
        guard case let .array(events)? = boots["boots"] else { Issue.record("no boots"); return }
        let mine = events.filter { $0["mac"]?.stringValue == Self.first }
        #expect(mine.contains { $0["kind"]?.stringValue == "entry_script" && $0["outcome"]?.stringValue == "answers: debian" })
        let fetches = mine.filter { $0["kind"]?.stringValue == "answers" }
        #expect(fetches.contains { $0["status"] == .int(200) && $0["outcome"]?.stringValue == "served debian.preseed (debian)" && $0["address"]?.stringValue == "10.0.0.50" && $0["entry_id"]?.stringValue == a },
                "\(fetches)")
        #expect(fetches.contains { $0["status"] == .int(410) && $0["outcome"]?.stringValue == "refused: already used" })
        #expect(events.contains { $0["mac"]?.stringValue == Self.second && $0["status"] == .int(403) && $0["outcome"]?.stringValue == "refused: token of another machine" })
    }

    @Test func aNewRenderingReplacesTheMachinesEarlierURL() throws {
        let (fixture, a, _, _) = try Self.fixture()
        let earlier = try #require(Self.answersURL(Self.entryScript(fixture, a, mac: Self.first).bodyText))
        let later = try #require(Self.answersURL(Self.entryScript(fixture, a, mac: Self.first).bodyText))
        #expect(earlier != later)
        #expect(Self.fetch(fixture, earlier).status == 404)
        #expect(Self.fetch(fixture, later).status == 200)
    }

    @Test func aRuleChoosesTheTemplateAndAnUnknownMachineGetsNoURL() throws {
        let (fixture, a, b, _) = try Self.fixture()
        let url = try #require(Self.answersURL(Self.entryScript(fixture, a, mac: Self.second).bodyText))
        #expect(url.hasSuffix("/other.ks"))
        #expect(Self.fetch(fixture, url).bodyText == "network --hostname=db-2\n")
        // No MAC: the line keeps its other words, the URL is empty, the boot log says why.
        let anonymous = Self.entryScript(fixture, a, mac: nil).bodyText
        #expect(anonymous.contains("console=ttyS0 auto=true url= priority=critical"), "\(anonymous)")
        // An entry without a template has no URL to fill in, and is booted from the menu itself.
        #expect(!Self.entryScript(fixture, b, mac: Self.first).bodyText.contains("url="))
        // GRUB's menus are files, not made per request: no URL there.
        let grub = fixture.call("GET", "/pxe/grub.cfg").bodyText
        #expect(grub.contains("url=") && grub.contains("priority=critical") && !grub.contains("provision"), "\(grub)")
    }

    @Test func templatesAndPreviewsAreForAdminsAndUseNoToken() throws {
        let (fixture, a, b, _) = try Self.fixture()
        #expect(fixture.call("GET", "/provision/templates", authorization: nil).status == 401)
        #expect(fixture.call("GET", "/provision/preview/\(a)", query: "mac=\(Self.hyphenated(Self.first))", authorization: nil).status == 401)
        let listing = try JSONParser.parse(fixture.call("GET", "/provision/templates").body)
        guard case let .array(templates)? = listing["templates"] else { Issue.record("\(listing)"); return }
        #expect(templates.compactMap { $0["name"]?.stringValue } == ["debian", "other"])
        #expect(templates[0]["entries"] == .array([.string(a)]) && templates[0]["rules"] == .array([]))
        #expect(templates[1]["rules"] == .array([.string("m2")]))
        #expect(templates[0]["files"] == .array([.object([("name", .string("debian.preseed")), ("format", .string("preseed"))])]))
        let preview = fixture.call("GET", "/provision/preview/\(a)", query: "mac=\(Self.hyphenated(Self.first))")
        #expect(preview.status == 200 && preview.bodyText.hasPrefix("d-i netcfg/get_hostname string web-1\n"), "\(preview.bodyText)")
        #expect(fixture.call("GET", "/provision/preview/\(b)", query: "mac=\(Self.hyphenated(Self.first))").status == 404)
        #expect(fixture.call("GET", "/provision/preview/\(a)", query: "mac=\(Self.hyphenated(Self.first))&file=nope").status == 404)
        // Previewing minted and used nothing: the machine's first real URL still works.
        let url = try #require(Self.answersURL(Self.entryScript(fixture, a, mac: Self.first).bodyText))
        #expect(Self.fetch(fixture, url).status == 200)
    }

    /// GRUB reads files written ahead: a machine's own menu (a MAC rule names it) carries its
    /// URL; the shared menu none; using the URL renews it at the next writing.
    @Test func aMachinesOwnGRUBMenuCarriesItsURLAndGetsANewOneOnceUsed() throws {
        let (fixture, _, _, _) = try Self.fixture()
        var context = fixture.api.context
        context.answers.tftpMachinesBaseURL = "http://10.0.0.1:8080"
        fixture.api.replaceContext(context)
        let tree = fixture.api.grubTree()
        let own = try #require(tree.menus["grub/host-\(Self.hyphenated(Self.first)).cfg"])
        let url = try #require(own.split(separator: " ").first { $0.hasPrefix("'url=http://10.0.0.1:8080/provision/\(Self.hyphenated(Self.first))/") }
            .map { String($0.dropFirst(5).dropLast()) }, "\(own)")
        #expect(url.hasSuffix("/debian.preseed"))
        #expect(!(tree.menus["grub/grub.cfg"] ?? "").contains("/provision/"), "the shared menu names no machine")
        // Written again without a change: the same URL; used: the version moves and a new one comes.
        let version = fixture.api.grubTreeVersion()
        #expect(fixture.api.grubTree() == tree)
        #expect(Self.fetch(fixture, url).status == 200)
        #expect(fixture.api.grubTreeVersion() != version)
        let renewed = fixture.api.grubTree().menus["grub/host-\(Self.hyphenated(Self.first)).cfg"] ?? ""
        #expect(renewed.contains("/provision/\(Self.hyphenated(Self.first))/") && !renewed.contains(url))
    }

    /// A rule made through the API gives its machines a template and variables; it may name
    /// only a template that is loaded.
    @Test func aRuleMadeThroughTheAPIGivesATemplateAndVariables() throws {
        let (fixture, a, _, _) = try Self.fixture()
        let missing = fixture.call("PUT", "/host-rules/kiosk", body: #"{"match": {"mac": "52:54:00:00:00:99"}, "answers": "rocky"}"#)
        #expect(missing.status == 400)
        let sentence = try JSONParser.parse(missing.body)["error"]?.stringValue ?? ""
        #expect(sentence.contains("template rocky") && sentence.contains("debian, other"), "\(sentence)")
        let badVars = fixture.call("PUT", "/host-rules/kiosk", body: #"{"match": {"mac": "52:54:00:00:00:99"}, "vars": {"no spaces": "x"}}"#)
        #expect(badVars.status == 400)
        let made = fixture.call("PUT", "/host-rules/kiosk", body: #"{"match": {"mac": "52:54:00:00:00:99"}, "answers": "other", "vars": {"hostname": "kiosk-99"}}"#)
        #expect(made.status == 201, "\(made.bodyText)")
        let url = try #require(Self.answersURL(Self.entryScript(fixture, a, mac: "52:54:00:00:00:99").bodyText))
        #expect(url.hasSuffix("/other.ks"))
        #expect(Self.fetch(fixture, url).bodyText == "network --hostname=kiosk-99\n")
        let listing = try JSONParser.parse(fixture.call("GET", "/provision/templates").body)
        #expect(listing["templates"]?[1]?["rules"] == .array([.string("m2"), .string("kiosk")]), "\(listing)")
    }
}
