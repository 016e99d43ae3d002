import PXESettings
import TestSupport
import Testing

/// The replica without a catalog: edits checked against the rules handed in, committed to the
/// store, published; other handles' commits followed in order.
@Suite struct SettingsReplicaTests {
    static let a = "00000000000a", b = "00000000000b"

    static func replica() throws -> (SettingsReplica, MemorySettingsStore) {
        let store = MemorySettingsStore()
        _ = try store.write { transaction in
            try transaction.save(a, PXESetting(bootOrder: 0))
            try transaction.save(b, PXESetting(bootOrder: 1))
        }
        let (settings, revision) = try store.load()
        return (SettingsReplica(store: store, settings: settings, revision: revision), store)
    }

    @Test func anEditOfAnEntryTheRulesDoNotKnowIsRefusedAndWritesNothing() throws {
        let (replica, store) = try Self.replica()
        #expect(throws: SettingsChangeError.unknownEntry(Self.a)) { try replica.setEnabled(false, id: Self.a) }
        replica.replaceRules(EditRules(isKnown: { $0 == Self.a }))
        #expect(try replica.setEnabled(false, id: Self.a).enabled == false)
        #expect(throws: SettingsChangeError.unknownEntry(Self.b)) { try replica.setEnabled(false, id: Self.b) }
        #expect(try store.load().settings[Self.b]?.enabled == true)
        #expect(replica.current.settings[Self.a]?.enabled == false, "published once committed")
    }

    @Test func fieldsTheMenuFileOwnsAreRefusedNamingTheFile() throws {
        let (replica, store) = try Self.replica()
        replica.replaceRules(EditRules(isKnown: { _ in true }, menuFile: "menu.yaml",
                                       ownedFields: { $0 == Self.a ? [.name, .bootOrder] : [] }))
        let before = try store.load().revision
        #expect(throws: SettingsChangeError.ownedByMenuFile(id: Self.a, field: "name", file: "menu.yaml", overridable: true)) {
            try replica.updateMenu(id: Self.a, name: .set("Mine"), bootOrder: 3)
        }
        #expect(throws: SettingsChangeError.ownedByMenuFile(id: Self.a, field: "boot_order", file: "menu.yaml", overridable: false)) {
            try replica.updateMenu(id: Self.a, bootOrder: 1)
        }
        #expect(try store.load().revision == before, "nothing committed")
        #expect(try replica.updateMenu(id: Self.a, description: .set("mine")).menuDescription == "mine")
        #expect(try replica.updateMenu(id: Self.b, name: .set("B")).menuName == "B")
    }

    @Test func anotherHandlesCommitIsFollowedBeforeItIsPublished() throws {
        let (replica, store) = try Self.replica()
        let other = store.connection()
        let seenAtReload = LockedBox(-1)
        replica.followRemoteChanges { seenAtReload.value = replica.current.settings[Self.b]?.enabled == false ? 1 : 0 }
        _ = try other.write { transaction in try transaction.save(Self.b, PXESetting(enabled: false, bootOrder: 1)) }
        let revision = replica.revision
        replica.handle(.changed(revision: try other.load().revision))
        #expect(replica.current.settings[Self.b]?.enabled == false)
        #expect(replica.revision > revision)
        #expect(seenAtReload.value == 0, "the follower ran before the change was published")
        #expect(replica.current.storeRevision == (try store.load().revision))
    }
}
