import Foundation
import PXECatalog
import PXESettings
import TestSupport
import Testing

@Suite struct CatalogStoreTests {
    /// After a reconnect the settings are reloaded whole, and the catalog then saves the defaults
    /// of its entries the store no longer knows (changes may have been missed while away).
    @Test func afterAReconnectEntriesTheStoreLostGetTheirDefaultsAgain() throws {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.named("a"), to: "a.rts.png")
        root.write(PNGFixtures.named("b"), to: "b.rts.png")
        let shared = MemorySettingsStore()
        let catalog = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: shared)
        catalog.refresh()
        let b = CatalogEntry.id(forRealPath: root.path + "/b.rts.png")
        _ = try shared.connection().write { try $0.remove(b) }   // another node, while this one was away
        #expect(try shared.load().settings[b] == nil)

        catalog.handle(.reconnected)
        #expect(try shared.load().settings[b]?.enabled == true, "saved again by the catalog after the reload")
        let revision = try shared.load().revision
        #expect(catalog.current.settings[b] != nil && catalog.current.storeRevision == revision)
    }

    @Test func newEntriesAreEnabledAtTheEndOfTheBootOrder() {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.png(), to: "a.rts.png")
        root.write(PNGFixtures.png(), to: "b.rts.png")
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]))
        store.refresh()
        root.write(PNGFixtures.png(), to: "0-first-by-name.rts.png")
        let summary = store.refresh()
        #expect(summary.added == 1 && summary.removed == 0 && summary.count == 3)
        let state = store.current
        let orders = state.snapshot.entries.map { (state.settings[$0.id]!.bootOrder, $0.fileName) }
        #expect(orders.sorted { $0.0 < $1.0 }.map(\.1) == ["a.rts.png", "b.rts.png", "0-first-by-name.rts.png"])
        #expect(state.snapshot.entries.allSatisfy { state.settings[$0.id]!.enabled })
    }

    @Test func refreshKeepsSettingsOfSurvivingEntriesAndRestoresReappearingOnes() throws {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.png(), to: "a.rts.png")
        root.write(PNGFixtures.png(), to: "b.rts.png")
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]))
        store.refresh()
        let a = CatalogEntry.id(forRealPath: root.path + "/a.rts.png")
        let b = CatalogEntry.id(forRealPath: root.path + "/b.rts.png")
        _ = try store.settings.setEnabled(false, id: a)
        _ = try store.settings.setEnabled(false, id: b)
        root.remove("b.rts.png")
        var summary = store.refresh()
        #expect(summary.removed == 1)
        #expect(store.current.settings[a]?.enabled == false)
        #expect(throws: SettingsChangeError.unknownEntry(b)) { try store.settings.setEnabled(true, id: b) }
        root.write(PNGFixtures.png(), to: "b.rts.png")
        summary = store.refresh()
        #expect(summary.added == 1)
        #expect(store.current.settings[b]?.sameValues(as: PXESetting(enabled: false, bootOrder: 1)) == true)
    }

    @Test func concurrentRefreshesAndTogglesNeverLoseAnUpdate() async throws {
        let root = TemporaryDirectory()
        for i in 0..<20 { root.write(PNGFixtures.png(), to: "c\(i).rts.png") }
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]))
        store.refresh()
        let ids = store.current.snapshot.entries.map(\.id)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { store.refresh() } }
            for id in ids { group.addTask { _ = try? store.settings.setEnabled(false, id: id) } }
        }
        // Refreshes that overlap share scans: four of them cost between one and four.
        #expect((2...5).contains(store.current.snapshot.generation))
        #expect(ids.allSatisfy { store.current.settings[$0]?.enabled == false })
        #expect(Set(ids.compactMap { store.current.settings[$0]?.bootOrder }).count == ids.count)
    }

    /// Two nodes on one store. Node 1 moves an entry; before node 2 hears of it, node 2 changes
    /// another entry. Node 2's own commit must not make node 1's look applied: the late
    /// notification of it would then be ignored and node 2 would keep the old order for good.
    @Test func aLocalCommitAfterAnUnheardRemoteOneMissesNothing() throws {
        let root = TemporaryDirectory()
        for name in ["a", "b", "c"] { root.write(PNGFixtures.named(name), to: "\(name).rts.png") }
        let shared = MemorySettingsStore()
        let one = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: shared)
        one.refresh()
        let (settings, revision) = try shared.load()
        let two = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: shared, settings: settings, revision: revision)
        two.refresh()
        let ids = ["a", "b", "c"].map { CatalogEntry.id(forRealPath: root.path + "/\($0).rts.png") }

        try one.settings.updateMenu(id: ids[2], bootOrder: 0)
        let moved = try shared.load().revision
        try two.settings.updateMenu(id: ids[1], name: .set("Rescue"))
        two.handle(.changed(revision: moved))    // node 1's notification, arriving late

        #expect(two.current.settings[ids[1]]?.menuName == "Rescue")
        #expect(ids.map { two.current.settings[$0]?.bootOrder } == ids.map { one.current.settings[$0]?.bootOrder },
                "node 2 holds node 1's move")
        #expect(two.current.settings[ids[2]]?.bootOrder == 0)
        #expect(two.current.storeRevision == (try shared.load().revision))
    }

    /// A write that changes nothing (rolled back) reports the store's latest revision; that
    /// must not count as having applied the commits before it either. Here: a new file, which
    /// node 1 adopts first; node 2's refresh then finds nothing left to save.
    @Test func aNoOpWriteAfterAnUnheardRemoteCommitMissesNothing() throws {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.named("a"), to: "a.rts.png")
        let shared = MemorySettingsStore()
        let one = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: shared)
        one.refresh()
        let (settings, revision) = try shared.load()
        let two = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: shared, settings: settings, revision: revision)
        two.refresh()

        root.write(PNGFixtures.named("b"), to: "b.rts.png")
        let b = CatalogEntry.id(forRealPath: root.path + "/b.rts.png")
        one.refresh()
        let adopted = try shared.load().revision
        two.refresh()
        two.handle(.changed(revision: adopted))    // node 1's notification, arriving late

        #expect(two.current.settings[b] == one.current.settings[b], "node 2 holds the settings node 1 saved for the new file")
        #expect(two.current.settings[b]?.revision == adopted)
    }
}
