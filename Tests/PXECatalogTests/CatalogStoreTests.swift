import Foundation
import PXECatalog
import TestSupport
import Testing

@Suite struct CatalogStoreTests {
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
        _ = try store.setEnabled(false, id: a)
        _ = try store.setEnabled(false, id: b)
        root.remove("b.rts.png")
        var summary = store.refresh()
        #expect(summary.removed == 1)
        #expect(store.current.settings[a]?.enabled == false)
        #expect(throws: CatalogStoreError.unknownEntry(b)) { try store.setEnabled(true, id: b) }
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
            for id in ids { group.addTask { _ = try? store.setEnabled(false, id: id) } }
        }
        // Refreshes that overlap share scans: four of them cost between one and four.
        #expect((2...5).contains(store.current.snapshot.generation))
        #expect(ids.allSatisfy { store.current.settings[$0]?.enabled == false })
        #expect(Set(ids.compactMap { store.current.settings[$0]?.bootOrder }).count == ids.count)
    }
}
