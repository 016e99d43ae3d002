import BootScripts
import Foundation
import PXEAPI
import PXECatalog
import PXESettings
import PixelRTS
import PXESettingsSQLite
import StrictJSON
import TestSupport
import Testing

@Suite struct MenuEndpointTests {
    /// A refresh that removes the entry between the change and the answer (here: run from the
    /// audit hook, which sits exactly there) must not crash the worker: the answer shows the
    /// entry as the change left it.
    @Test func aRefreshThatRemovesTheEntryDuringAnEditDoesNotCrash() throws {
        let holder = LockedBox<APIFixture?>(nil)
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A"), "b.rts.png": PNGFixtures.named("B")], onAudit: { _ in
            guard let fixture = holder.value else { return }
            try? FileManager.default.removeItem(atPath: fixture.root.path + "/b.rts.png")
            fixture.store.refresh()
        })
        holder.value = fixture
        let id = fixture.id("b.rts.png")
        let response = fixture.call("POST", "/pxe/\(id)/menu", body: #"{"name": "Renamed"}"#)
        #expect(response.status == 200)
        #expect(try JSONParser.parse(response.body)["pxe_name"] == .string("Renamed"))
        #expect(fixture.store.current.snapshot.entry(id: id) == nil, "the refresh did remove it")
        holder.value = nil
    }

    func fixture(settingsStore: any SettingsStore = MemorySettingsStore()) -> (APIFixture, [String]) {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A"), "b.rts.png": PNGFixtures.named("B"),
                                         "c.rts.png": PNGFixtures.named("C"), "bad.rts.png": Array("x".utf8)], settingsStore: settingsStore)
        fixture.markAllReady()
        return (fixture, ["a", "b", "c", "bad"].map { fixture.id("\($0).rts.png") })
    }

    func pxeOrder(_ fixture: APIFixture) throws -> [String] {
        guard case let .array(items)? = try JSONParser.parse(fixture.call("GET", "/pxe").body)["pxe_containers"] else { return [] }
        return items.compactMap { $0["name"]?.stringValue }
    }

    @Test func setsNameAndDescriptionAndTheMenuShowsThem() throws {
        let (fixture, ids) = fixture()
        _ = fixture.call("GET", "/pxe/menu.ipxe")   // fill the render cache first
        let response = fixture.call("POST", "/pxe/\(ids[1])/menu", body: #"{"name": "Rescue B", "description": "Fixes things"}"#)
        #expect(response.status == 200)
        let size = PNGFixtures.named("B").count
        // The answer is the entry as /pxe shows it: `name` is the menu name once one is set.
        #expect(response.bodyText == #"{"id":"\#(ids[1])","name":"Rescue B","url":"/containers/\#(ids[1])","boot_order":1,"size":\#(size),"pxe_name":"Rescue B","pxe_description":"Fixes things","pxe_cmdline":null,"revision":2,"boot":{"kind":"linux","ready":true,"state":"ready","problem":null},"pxe_enabled":true,"valid":true}"#)
        #expect(response.header("ETag") == #""2""#)
        let sizeText = IPXEText.size(Int64(size))
        #expect(fixture.call("GET", "/pxe/menu.ipxe").bodyText.contains("\nitem --key 2 entry2 2. Rescue B (linux, \(sizeText)) - Fixes things\n"))
        let reset = fixture.call("POST", "/pxe/\(ids[1])/menu", body: #"{"name": null}"#)
        #expect(try JSONParser.parse(reset.body)["pxe_name"] == .null)
        #expect(try JSONParser.parse(reset.body)["name"] == .string("B"))
        #expect(try JSONParser.parse(reset.body)["pxe_description"] == .string("Fixes things"))
        #expect(fixture.call("GET", "/pxe/menu.ipxe").bodyText.contains("\nitem --key 2 entry2 2. B (linux, \(sizeText)) - Fixes things\n"))
        // A hostile description is sanitised like a name: no expansion, no second command.
        let hostile = fixture.call("POST", "/pxe/\(ids[1])/menu", body: #"{"description": "Fix ${net0/mac} && shell ; #x chain http://e/x"}"#)
        #expect(hostile.status == 200)
        #expect(fixture.call("GET", "/pxe/menu.ipxe").bodyText.contains("\nitem --key 2 entry2 2. B (linux, \(sizeText)) - Fix $(net0/mac) & shell , x chain http://e/x\n"))
        _ = fixture.call("POST", "/pxe/\(ids[1])/menu", body: #"{"description": null}"#)
        #expect(fixture.call("GET", "/pxe/menu.ipxe").bodyText.contains("\nitem --key 2 entry2 2. B (linux, \(sizeText))\n"))
    }

    @Test func bootOrderMovesTheEntryAndKeepsOrdersDense() throws {
        let (fixture, ids) = fixture()
        #expect(try pxeOrder(fixture) == ["A", "B", "C"])
        #expect(fixture.call("POST", "/pxe/\(ids[2])/menu", body: #"{"boot_order": 0}"#).status == 200)
        #expect(try pxeOrder(fixture) == ["C", "A", "B"])
        #expect(fixture.call("POST", "/pxe/\(ids[2])/menu", body: #"{"boot_order": 99}"#).status == 200)
        #expect(try pxeOrder(fixture) == ["A", "B", "C"])
        // 1.0 is the integer 1 (as JSON Schema, and so docs/openapi.yaml, has it).
        #expect(fixture.call("POST", "/pxe/\(ids[2])/menu", body: #"{"boot_order": 1.0}"#).status == 200)
        #expect(try pxeOrder(fixture) == ["A", "C", "B"])
        let orders = fixture.store.current.settings.byID.values.map(\.bootOrder).sorted()
        #expect(orders == [0, 1, 2, 3])
    }

    @Test(arguments: [
        (#"{"name": 5}"#, "Field 'name' must be a string or null, not a number."),
        (#"{"name": "two\nlines"}"#, "Field 'name' must not contain control characters."),
        (#"{"description": "tab\there"}"#, "Field 'description' must not contain control characters."),
        (#"{"name": "\#(String(repeating: "n", count: 81))"}"#, "Field 'name' must be at most 80 characters."),
        (#"{"boot_order": -1}"#, "Field 'boot_order' must be a non-negative integer."),
        (#"{"boot_order": 1.5}"#, "Field 'boot_order' must be a non-negative integer."),
        (#"{"boot_order": "2"}"#, "Field 'boot_order' must be a non-negative integer."),
        (#"{"boot_order": true}"#, "Field 'boot_order' must be a non-negative integer."),
        (#"{"nmae": "x"}"#, "Unknown field 'nmae'; use name, description, cmdline or boot_order."),
        (#"["name"]"#, "The request body must be a JSON object with any of name, description, cmdline, boot_order."),
        (#"{"cmdline": 3}"#, "Field 'cmdline' must be a string or null, not a number."),
        (#"{"cmdline": "root=${x}"}"#, "Field 'cmdline' must not contain { or } (iPXE would expand ${...})."),
        (#"{"cmdline": "quiet && reboot"}"#, "Field 'cmdline' must not contain the word && (iPXE would run what follows as a command)."),
        (#"{"name": "A", "name": "B"}"#, "Field 'name' appears more than once in the request body."),
        // Counted in code points, as JSON Schema's maxLength counts: 41 "e" + combining accent pairs are 82.
        (#"{"name": "\#(String(repeating: "e\u{301}", count: 41))"}"#, "Field 'name' must be at most 80 characters."),
        (#"{"description": "C1 \u0087 control"}"#, "Field 'description' must not contain control characters."),
    ])
    func refusesBadFieldsAndChangesNothing(body: String, message: String) throws {
        let (fixture, ids) = fixture()
        let before = fixture.store.current.settings
        let response = fixture.call("POST", "/pxe/\(ids[0])/menu", body: body)
        #expect(response.status == 400)
        #expect(try JSONParser.parse(response.body)["error"] == .string(message))
        #expect(fixture.store.current.settings == before)
    }

    @Test func entryScriptIsServedOnlyForBootableEntries() throws {
        let (fixture, ids) = fixture()
        #expect(fixture.call("GET", "/pxe/\(ids[0])/boot.ipxe").bodyText.hasPrefix("#!ipxe\n"))
        #expect(fixture.call("GET", "/pxe/\(ids[3])/boot.ipxe").status == 404, "invalid")
        _ = try fixture.store.settings.setEnabled(false, id: ids[0])
        #expect(fixture.call("GET", "/pxe/\(ids[0])/boot.ipxe").status == 404, "disabled")
        let script = fixture.call("GET", "/pxe/menu.ipxe")
        #expect(script.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(script.header("Cache-Control") == "no-store")
        #expect(!script.bodyText.contains(ids[0]) && !script.bodyText.contains(ids[3]))
    }

    /// The command line: the container's own, the entry's override instead (null resets), and
    /// `boot.cmdline_append` after either; saved with the other settings.
    @Test func theCommandLineIsTheContainersOwnOrTheOverridePlusTheAppend() throws {
        let state = TemporaryDirectory()
        let fixture = APIFixture(files: ["k.rts.png": PNGFixtures.pixelRTS(parts: [("kernel", [1, 2, 3])], fields: [("kernel_cmdline", .string("root=/dev/ram0 quiet"))])],
                                 settingsStore: try SQLiteSettingsStore(path: state.path + "/settings.sqlite3"))
        fixture.api.replaceContext(APIContext(version: "9.9.9", catalogRoots: [fixture.root.path], filesRoot: fixture.root.path,
                                              internalPrefix: "/_pxe_internal/", scanner: fixture.store.scanner, commandLineAppend: "console=ttyS0"))
        fixture.markAllReady()
        let id = fixture.id("k.rts.png")
        #expect(fixture.call("GET", "/pxe/\(id)/boot.ipxe").bodyText.contains("kernel ../../containers/\(id)/kernel initrd=initrd root=/dev/ram0 quiet console=ttyS0 || goto failed\n"))
        let set = fixture.call("POST", "/pxe/\(id)/menu", body: #"{"cmdline": "init=/bin/sh -- -x"}"#)
        #expect(set.status == 200)
        #expect(try JSONParser.parse(set.body)["pxe_cmdline"] == .string("init=/bin/sh -- -x"))
        #expect(fixture.call("GET", "/pxe/menu.ipxe").bodyText.contains("kernel ../containers/\(id)/kernel initrd=initrd init=/bin/sh -- -x console=ttyS0 || goto entry1_failed\n"))
        #expect(try SQLiteSettingsStore(path: state.path + "/settings.sqlite3").load().settings[id]?.commandLine == "init=/bin/sh -- -x")
        #expect(fixture.call("POST", "/pxe/\(id)/menu", body: #"{"cmdline": null}"#).status == 200)
        #expect(fixture.call("GET", "/pxe/\(id)/boot.ipxe").bodyText.contains("initrd=initrd root=/dev/ram0 quiet console=ttyS0 || goto failed"))
    }

    /// Not ready: a line in the menu and a script that says so; failed: in neither.
    @Test func entriesThatAreNotReadyOrCannotBootAreNeverChoices() throws {
        let (fixture, ids) = fixture()
        fixture.store.publishBoot([ids[0]: BootStatus(state: .preparing), ids[1]: BootStatus(state: .failed, problem: "the payload's SHA-256 is 00"),
                                   ids[2]: BootStatus(state: .ready, kind: BootPlan.Kind.none, problem: "the payload is 3.0 KB of data", parts: [.payload: 3000])])
        let menu = fixture.call("GET", "/pxe/menu.ipxe").bodyText
        #expect(menu.contains("item --gap    A (being prepared, not ready to boot yet)\n"))
        #expect(!menu.contains(":entry1") && !menu.contains("B ") && !menu.contains("C ("))
        #expect(fixture.call("GET", "/pxe/\(ids[0])/boot.ipxe").bodyText.contains("echo pxe-catalog: A is not ready to boot: it is being prepared, try again shortly\n"))
        #expect(fixture.call("GET", "/pxe/\(ids[1])/boot.ipxe").bodyText.contains("echo pxe-catalog: B is not ready to boot: the payload's SHA-256 is 00\nsleep 3\nexit 1\n"))
        let pxe = try JSONParser.parse(fixture.call("GET", "/pxe").body)["pxe_containers"]
        #expect(pxe?[0]?["boot"]?["state"] == .string("preparing"))
        #expect(pxe?[2]?["boot"]?["kind"] == .string("none"))
    }

    @Test func menuFieldsSurviveRefreshAndRestart() throws {
        let state = TemporaryDirectory()
        let (fixture, ids) = fixture(settingsStore: try SQLiteSettingsStore(path: state.path + "/settings.sqlite3"))
        #expect(fixture.call("POST", "/pxe/\(ids[0])/menu", body: #"{"name": "Kept", "description": "Across restarts", "boot_order": 2}"#).status == 200)
        #expect(fixture.call("POST", "/catalog/refresh").status == 200)
        #expect(fixture.store.current.settings[ids[0]]?.menuName == "Kept")
        let (reloaded, _) = try SQLiteSettingsStore(path: state.path + "/settings.sqlite3").load()
        #expect(reloaded == fixture.store.current.settings)
        #expect(reloaded[ids[0]]?.sameValues(as: PXESetting(enabled: true, bootOrder: 2, menuName: "Kept", menuDescription: "Across restarts")) == true)
    }

    @Test func hostileNamesFromMetadataAndTheAPIDoNotChangeTheMenusCommands() throws {
        let hostile = ["a\nchain http://x/y", "${net0/mac}", "x && shell", "x ; reboot", "#x", "tab\tname", String(repeating: "z", count: 10_000)]
        var files: [String: [UInt8]] = [:]
        for (index, name) in hostile.enumerated() { files["h\(index).rts.png"] = PNGFixtures.named(name) }
        let evil = APIFixture(files: files)
        let benign = APIFixture(files: Dictionary(uniqueKeysWithValues: hostile.indices.map { ("h\($0).rts.png", PNGFixtures.named("n\($0)")) }))
        evil.markAllReady()
        benign.markAllReady()
        for (index, name) in ["${net0/mac} || reboot", "x && shell", "; exit", "#comment"].enumerated() {
            let response = evil.call("POST", "/pxe/\(evil.id("h\(index).rts.png"))/menu", body: JSONValue.object([("name", .string(name))]).serializedString())
            #expect(response.status == 200)
        }
        let evilScript = IPXETokenizer.tokenize(evil.call("GET", "/pxe/menu.ipxe").bodyText)
        let benignScript = IPXETokenizer.tokenize(benign.call("GET", "/pxe/menu.ipxe").bodyText)
        // Ids differ between the two temporary catalogs; everything else must match.
        func withoutIDs(_ lines: [String]) -> [String] {
            lines.map { $0.replacingOccurrences(of: "[0-9a-f]{12}", with: "ID", options: .regularExpression) }
        }
        #expect(withoutIDs(IPXETokenizer.skeleton(evilScript)) == withoutIDs(IPXETokenizer.skeleton(benignScript)))
        #expect(evilScript.expansions == benignScript.expansions)
        #expect(evilScript.lineCount == benignScript.lineCount)
    }
}
