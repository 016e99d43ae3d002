import Foundation
import PXECatalog
import PXESettings
import TestSupport
import Testing

/// The menu file's semantics: which entries an item takes, the order and fields it sets, the
/// plan's exact text, and what it refuses through the API.
@Suite struct DesiredMenuTests {
    /// A catalog of `names` (paths under one root) in a store, scanned once.
    static func store(_ names: [String]) -> (CatalogStore, TemporaryDirectory, [String: String]) {
        let root = TemporaryDirectory()
        for name in names { root.write(PNGFixtures.png(), to: name) }
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]))
        store.refresh()
        var ids: [String: String] = [:]
        for name in names { ids[name] = CatalogEntry.id(forRealPath: root.path + "/" + name) }
        return (store, root, ids)
    }

    static func order(_ store: CatalogStore) -> [String] {
        let state = store.current
        return state.settings.idsInBootOrder.compactMap { state.snapshot.entry(id: $0)?.relativePath }
    }

    @Test func planTextForAddsRemovalsReordersAndRenames() throws {
        let (store, _, ids) = Self.store(["a.rts.png", "b.rts.png", "rescue/r1.rts.png", "rescue/r2.rts.png"])
        _ = try store.settings.setEnabled(false, id: ids["b.rts.png"]!)
        _ = try store.settings.updateMenu(id: ids["a.rts.png"]!, name: .set("Old \"A\""))
        let menu = DesiredMenu(items: [
            .init(selector: .id(ids["b.rts.png"]!), enabled: true),                      // joins the menu, moves first
            .init(selector: .path("rescue/*.rts.png"), name: .set("Rescue"), commandLine: .set("console=ttyS0")),
            .init(selector: .id(ids["a.rts.png"]!), enabled: false, name: .reset),       // leaves, renamed back
            .init(selector: .path("nightly/*.rts.png")),
        ], fileName: "menu.json")
        let b = ids["b.rts.png"]!, a = ids["a.rts.png"]!, r1 = ids["rescue/r1.rts.png"]!, r2 = ids["rescue/r2.rts.png"]!
        #expect(store.plan(menu).text(fileName: "menu.json") == """
        + \(b) b.rts.png: enabled (joins the menu)
        ~ \(b) b.rts.png: boot order 1 -> 0
        ~ \(r1) rescue/r1.rts.png: boot order 2 -> 1
        ~ \(r1) rescue/r1.rts.png: name (the container's) -> "Rescue"
        ~ \(r1) rescue/r1.rts.png: cmdline (the container's) -> "console=ttyS0"
        ~ \(r2) rescue/r2.rts.png: boot order 3 -> 2
        ~ \(r2) rescue/r2.rts.png: name (the container's) -> "Rescue"
        ~ \(r2) rescue/r2.rts.png: cmdline (the container's) -> "console=ttyS0"
        - \(a) a.rts.png: disabled (leaves the menu)
        ~ \(a) a.rts.png: boot order 0 -> 3
        ~ \(a) a.rts.png: name "Old \\"A\\"" -> (the container's)
        ? path "nightly/*.rts.png" matches no entry in the catalog
        Plan: 11 changes to 4 entries listed in menu.json.

        """)
        let applied = try store.applyDesiredMenu(menu)
        #expect(applied.changes.count == 11)
        #expect(Self.order(store) == ["b.rts.png", "rescue/r1.rts.png", "rescue/r2.rts.png", "a.rts.png"])
        #expect(store.current.settings[a]?.enabled == false && store.current.settings[a]?.menuName == nil)
        #expect(store.current.settings[r2]?.commandLine == "console=ttyS0")
        // Applying again changes nothing: the plan says so.
        #expect(store.plan(menu).text(fileName: "menu.json") == "? path \"nightly/*.rts.png\" matches no entry in the catalog\nNo changes: the settings match menu.json.\n")
        #expect(try store.applyDesiredMenu(menu).changesSettings == false)
    }

    @Test func unlistedEntriesKeepTheirOrderAfterTheListedOnesAndTheFirstItemWins() throws {
        let (store, _, ids) = Self.store(["a.rts.png", "b.rts.png", "c.rts.png", "d.rts.png"])
        _ = try store.settings.updateMenu(id: ids["d.rts.png"]!, bootOrder: 0)   // d a b c
        let menu = DesiredMenu(items: [
            .init(selector: .path("c.*"), name: .set("by glob")),
            .init(selector: .id(ids["c.rts.png"]!), name: .set("by id")),   // c is the glob's already
            .init(selector: .id(ids["b.rts.png"]!)),
        ], fileName: "menu.json")
        let plan = try store.applyDesiredMenu(menu)
        #expect(Self.order(store) == ["c.rts.png", "b.rts.png", "d.rts.png", "a.rts.png"])
        #expect(store.current.settings[ids["c.rts.png"]!]?.menuName == "by glob")
        #expect(plan.othersMoved == 2)
        #expect(plan.unmatched == ["id \(ids["c.rts.png"]!)"], "an item whose entries all belong to earlier items matches nothing")
    }

    @Test func globsStayWithinADirectoryAndSkipHiddenFiles() {
        let (store, _, _) = Self.store(["top.rts.png", "lab/x.rts.png", "lab/deep/y.rts.png", "lab/.hidden.rts.png"])
        let entries = store.current.snapshot.entries
        let matched = entries.filter { DesiredMenu.Selector.path("lab/*.rts.png").matches($0) }.map(\.relativePath)
        #expect(matched == ["lab/x.rts.png"])
        #expect(entries.filter { DesiredMenu.Selector.path("*/*/*.rts.png").matches($0) }.map(\.relativePath) == ["lab/deep/y.rts.png"])
    }

    @Test func theAPICannotChangeWhatTheFileOwnsUnlessTheFileAllowsIt() throws {
        let (store, _, ids) = Self.store(["a.rts.png", "b.rts.png"])
        let a = ids["a.rts.png"]!, b = ids["b.rts.png"]!
        let menu = DesiredMenu(items: [.init(selector: .id(a), enabled: true, name: .set("A"))], apiMayOverride: [.enabled], fileName: "menu.json")
        try store.applyDesiredMenu(menu)
        #expect(throws: SettingsChangeError.ownedByMenuFile(id: a, field: "name", file: "menu.json", overridable: true)) {
            try store.settings.updateMenu(id: a, name: .set("Mine"))
        }
        #expect(throws: SettingsChangeError.ownedByMenuFile(id: a, field: "boot_order", file: "menu.json", overridable: false)) {
            try store.settings.updateMenu(id: a, bootOrder: 1)
        }
        #expect(store.current.settings[a]?.menuName == "A", "a refused edit changes nothing")
        // Allowed: a field the file lets the API override, a field the file does not set, an unlisted entry.
        #expect(try store.settings.setEnabled(false, id: a).enabled == false)
        #expect(try store.settings.updateMenu(id: a, description: .set("mine")).menuDescription == "mine")
        #expect(try store.settings.updateMenu(id: b, name: .set("B"), bootOrder: 0).bootOrder == 0)
        let message = SettingsChangeError.ownedByMenuFile(id: a, field: "name", file: "menu.json", overridable: true).description
        #expect(message == "The name of entry \(a) is set by the menu file menu.json (menu.file); change it there, or list \"name\" in the file's api_may_override.")
        // Without a file, the API owns everything again.
        try store.applyDesiredMenu(nil)
        #expect(try store.settings.updateMenu(id: a, name: .set("Mine")).menuName == "Mine")
    }

    @Test func newEntriesGetTheFilesSettingsAndOverriddenOnesStayUntilTheFileIsApplied() throws {
        let (store, root, ids) = Self.store(["lab/a.rts.png", "z.rts.png"])
        let a = ids["lab/a.rts.png"]!
        let menu = DesiredMenu(items: [.init(selector: .path("lab/*"), enabled: false, name: .set("Lab"))], apiMayOverride: [.enabled], fileName: "menu.json")
        try store.applyDesiredMenu(menu)
        _ = try store.settings.setEnabled(true, id: a)   // allowed, kept by scans
        root.write(PNGFixtures.png(), to: "lab/b.rts.png")
        store.refresh()
        let b = CatalogEntry.id(forRealPath: root.path + "/lab/b.rts.png")
        #expect(store.current.settings[b]?.enabled == false, "a new entry gets the file's values")
        #expect(store.current.settings[b]?.menuName == "Lab")
        #expect(Self.order(store) == ["lab/a.rts.png", "lab/b.rts.png", "z.rts.png"], "and its place in the file's order")
        #expect(store.current.settings[a]?.enabled == true, "the API's override survives the scan")
        try store.applyDesiredMenu(menu)
        #expect(store.current.settings[a]?.enabled == false, "applying the file (start, SIGHUP, pxe-catalog apply) sets it again")
    }

    @Test func changesMadeByTheFileAreAudited() throws {
        let (store, _, ids) = Self.store(["a.rts.png"])
        let a = ids["a.rts.png"]!
        try store.applyDesiredMenu(DesiredMenu(items: [.init(selector: .id(a), enabled: false)], fileName: "menu.json"), actor: "pxe-catalog apply")
        let records = try store.settingsStore.audit(AuditQuery(limit: 10))
        #expect(records.contains { $0.actor == "pxe-catalog apply" && $0.entry == a && $0.field == "enabled" && $0.old == "true" && $0.new == "false" })
    }
}
