import Foundation
import PXECatalog
import PXEHosts
import PXESettings
import PXESettingsPostgres
import PXESettingsSQLite
import TestSupport
import Testing

/// The settings backends, each put through the same tests: the in-memory store (commands
/// without a state directory, the catalog's unit tests), the SQLite file and a real PostgreSQL
/// the tests start themselves (`PostgresServer`, a database per test).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, sqlite, postgresql

    /// The backends kept in a database (schemas, files, servers).
    static let databases: [Backend] = [.sqlite, .postgresql]

    var testDescription: String { rawValue }

    /// A new, empty store; `reopen` opens the same one again (another process or node).
    func makeStore() throws -> (store: any SettingsStore, reopen: () throws -> any SettingsStore) {
        switch self {
        case .memory:
            let store = MemorySettingsStore()
            return (store, { store.connection() })
        case .sqlite:
            let directory = TemporaryDirectory()
            let path = directory.path + "/settings.sqlite3"
            let open = { () throws -> any SettingsStore in _ = directory; return try SQLiteSettingsStore(path: path) }
            return (try open(), open)
        case .postgresql:
            guard let server = PostgresServer.shared else { throw TestServerError(message: "PostgreSQL could not be started (make deps installs it)") }
            let url = try server.createDatabase()
            let open = { () throws -> any SettingsStore in try PostgresSettingsStore(conninfo: url) }
            return (try open(), open)
        }
    }
}

@Suite(.serialized) struct SettingsStoreTests {
    static let a = "00000000000a", b = "00000000000b", c = "00000000000c"

    /// A catalog of three entries over `store`, refreshed once (the store adopts them).
    static func catalog(_ store: any SettingsStore, root: TemporaryDirectory = TemporaryDirectory()) -> (CatalogStore, [String]) {
        for name in ["a", "b", "c"] { root.write(PNGFixtures.named(name), to: "\(name).rts.png") }
        let (settings, revision) = (try? store.load()) ?? (PXESettings(), 0)
        let catalog = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: store, settings: settings, revision: revision)
        catalog.refresh()
        let ids = ["a", "b", "c"].map { CatalogEntry.id(forRealPath: root.path + "/\($0).rts.png") }
        return (catalog, ids)
    }

    static func hostRules(_ catalog: CatalogStore) -> HostRuleBook {
        HostRuleBook(settings: catalog.settings, isEntryID: CatalogEntry.isWellFormedID)
    }

    @Test(arguments: Backend.allCases)
    func eachChangeIsOneCommitWithItsRevisionAndAuditRecords(_ backend: Backend) throws {
        let (store, reopen) = try backend.makeStore()
        let (catalog, ids) = Self.catalog(store)
        let (adopted, firstRevision) = try store.load()
        #expect(adopted.byID.count == 3)
        #expect(adopted.idsInBootOrder == ids, "new entries are enabled, at the end, in catalog order")
        #expect(adopted.byID.values.allSatisfy { $0.enabled && $0.revision == firstRevision })

        let toggled = try catalog.settings.setEnabled(false, id: ids[1], actor: "alice")
        #expect(toggled.revision == firstRevision + 1)
        let renamed = try catalog.settings.updateMenu(id: ids[1], name: .set("Rescue"), commandLine: .set("quiet"), actor: "bob")
        #expect(renamed.revision == firstRevision + 2)
        // The same value again writes nothing: no revision, no record.
        #expect(try catalog.settings.setEnabled(false, id: ids[1], actor: "alice").revision == firstRevision + 1 + 1)
        #expect(try store.load().revision == firstRevision + 2)

        // Durable: another connection (another process) sees exactly this.
        let other = try reopen()
        let (saved, revision) = try other.load()
        #expect(revision == firstRevision + 2)
        #expect(saved[ids[1]] == catalog.current.settings[ids[1]])
        #expect(saved[ids[1]]?.menuName == "Rescue" && saved[ids[1]]?.commandLine == "quiet" && saved[ids[1]]?.enabled == false)

        let records = try other.audit(AuditQuery(limit: 10))
        #expect(records.map(\.field) == ["cmdline", "name", "enabled", "added", "added", "added"], "newest first")
        #expect(records[0].actor == "bob" && records[0].entry == ids[1] && records[0].old == nil && records[0].new == "quiet")
        #expect(records[2].actor == "alice" && records[2].old == "true" && records[2].new == "false")
        #expect(records[3].actor == "catalog" && records.dropFirst(3).allSatisfy { $0.revision == firstRevision })
        #expect(try other.audit(AuditQuery(afterID: records[2].id, limit: 10)).map(\.field) == ["cmdline", "name"])
        #expect(try other.audit(AuditQuery(limit: 1)).count == 1)
        #expect(try other.audit(AuditQuery(since: Date().addingTimeInterval(3600), limit: 10)).isEmpty)
        other.close()
        store.close()
    }

    /// A transaction of more rows than one statement holds (PostgreSQL writes multi-row
    /// statements of fixed sizes: 1,237 = 2 x 500 + 4 x 50 + 37 x 1) is written whole, every row
    /// and every audit record as given, and a change to a row written earlier in the same
    /// transaction is the one kept.
    @Test(arguments: Backend.allCases)
    func aTransactionOfManyRowsIsWrittenWhole(_ backend: Backend) throws {
        let (store, reopen) = try backend.makeStore()
        let ids = (0..<1237).map { String(format: "%012x", $0) }
        let (_, commit) = try store.write { transaction in
            for (index, id) in ids.enumerated() {
                try transaction.save(id, PXESetting(enabled: index % 3 != 0, bootOrder: index, menuName: index % 7 == 0 ? "Entry \(index)" : nil))
                try transaction.record(actor: "test", entry: id, field: "added", old: nil, new: "\(index)")
            }
            // Rewritten after it was first saved in this transaction.
            try transaction.save(ids[3], PXESetting(enabled: true, bootOrder: 3, menuName: "Changed"))
        }
        #expect(commit.saved.count == ids.count)
        let (saved, revision) = try reopen().load()
        #expect(revision == commit.revision)
        #expect(saved.byID.count == ids.count)
        #expect(saved.idsInBootOrder == ids)
        #expect(saved[ids[3]]?.menuName == "Changed" && saved[ids[3]]?.enabled == true)
        #expect(saved[ids[7]]?.menuName == "Entry 7" && saved[ids[6]]?.enabled == false && saved[ids[1235]]?.enabled == true && saved[ids[1236]]?.enabled == false)
        let records = try store.audit(AuditQuery(limit: 2000))
        #expect(records.count == ids.count)
        #expect(Set(records.compactMap(\.new)) == Set((0..<1237).map(String.init)))
        store.close()
    }

    /// New entries' defaults as a refresh writes them (SQLite in two statements, the others row
    /// by row): each id enabled at the boot order given, an "added" record for each in the
    /// order given, the commit listing every row; ids with quotes and backslashes survive the
    /// JSON the SQLite store hands itself.
    @Test(arguments: Backend.allCases)
    func addingDefaultsSavesEveryIdInOrderWithAnAuditRecordEach(_ backend: Backend) throws {
        let (store, reopen) = try backend.makeStore()
        let (_, first) = try store.write { transaction in
            try transaction.save("kept", PXESetting(enabled: false, bootOrder: 0, menuName: "Kept"))
        }
        let ids = (0..<700).map { String(format: "%012x", $0 * 7919) } + [#"quote"and\back"#, "ünïcode"]
        let (_, commit) = try store.write { transaction in
            try transaction.addDefaults(ids, firstBootOrder: 1, actor: "catalog")
        }
        #expect(commit.revision == first.revision + 1)
        #expect(commit.saved.count == ids.count)
        #expect(commit.saved[ids[5]] == PXESetting(bootOrder: 6, revision: commit.revision))
        let (saved, revision) = try reopen().load()
        #expect(revision == commit.revision)
        #expect(saved.idsInBootOrder == ["kept"] + ids)
        #expect(saved["kept"]?.menuName == "Kept" && saved["kept"]?.enabled == false)
        #expect(ids.allSatisfy { saved[$0]?.enabled == true && saved[$0]?.menuName == nil && saved[$0]?.revision == commit.revision })
        let records = try store.audit(AuditQuery(limit: 1000))
        #expect(records.count == ids.count, "one record each, none for the row saved before")
        #expect(records.reversed().compactMap(\.entry) == ids, "in the order given (newest first)")
        #expect(records.allSatisfy { $0.actor == "catalog" && $0.field == "added" && $0.old == nil && $0.new == "enabled" && $0.revision == commit.revision })
        store.close()
    }

    /// A one-shot survives a restart (a new connection, a new catalog) and is taken exactly
    /// once by two nodes racing for it, with an audit record of who set and who used it.
    @Test(arguments: Backend.allCases)
    func aOneShotIsDurableAndTakenOnceAcrossNodes(_ backend: Backend) throws {
        let (store, reopen) = try backend.makeStore()
        let root = TemporaryDirectory()
        let (catalog, ids) = Self.catalog(store, root: root)
        _ = try NextBootBook(settings: catalog.settings).set(mac: "52:54:00:00:00:01", entry: ids[2], expiresAt: Int64(Date().timeIntervalSince1970) + 600, actor: "alice")
        store.close()

        // "Restart": two nodes open the store afresh and learn of the one-shot from it.
        let nodes = try (0..<2).map { _ in Self.catalog(try reopen(), root: root).0 }
        let books = nodes.map { NextBootBook(settings: $0.settings) }
        #expect(books.allSatisfy { $0.pending["52:54:00:00:00:01"]?.entry == ids[2] })
        let taken = LockedBox<[NextBoot]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { index in
            if let boot = books[index % 2].take(mac: "52:54:00:00:00:01") { taken.update { $0.append(boot) } }
        }
        #expect(taken.value.count == 1, "exactly one boot gets it")
        #expect(taken.value.first?.entry == ids[2] && taken.value.first?.actor == "alice")
        #expect(try nodes[0].settingsStore.nextBoots().isEmpty)
        let records = try nodes[1].settingsStore.audit(AuditQuery(limit: 2))
        #expect(records.map(\.field) == ["next_boot", "next_boot"])
        #expect(records[0].actor == "machine" && records[0].new == "booted" && records[1].actor == "alice" && records[1].old == nil)
        for node in nodes { node.settingsStore.close() }
    }

    /// A host rule made on one node reaches another with the next catch-up, and survives a
    /// restart; removing it does too.
    @Test(arguments: Backend.allCases)
    func hostRulesMadeOnOneNodeReachTheOthers(_ backend: Backend) throws {
        let (store, reopen) = try backend.makeStore()
        let root = TemporaryDirectory()
        let (one, _) = Self.catalog(store, root: root)
        let (two, _) = Self.catalog(try reopen(), root: root)
        let (rulesOne, rulesTwo) = (Self.hostRules(one), Self.hostRules(two))
        let revision = two.revision.settingsRevision
        #expect(try rulesOne.set(name: "lab", body: #"{"timeout":3}"#, actor: "alice") == false)
        two.settings.catchUp()
        #expect(rulesTwo.stored == ["lab": #"{"timeout":3}"#])
        #expect(rulesTwo.rules.map(\.name) == ["lab"])
        #expect(two.revision.settingsRevision > revision, "cached menus of the other node are renewed")
        let (restarted, _) = Self.catalog(try reopen(), root: root)
        #expect(Self.hostRules(restarted).stored == ["lab": #"{"timeout":3}"#], "loaded at start")
        #expect(try rulesOne.set(name: "lab", body: nil, actor: "alice") == true)
        two.settings.catchUp()
        #expect(rulesTwo.stored.isEmpty && rulesTwo.rules.isEmpty)
        for node in [one, two, restarted] { node.settingsStore.close() }
    }

    /// Two nodes add what they saw of the same machines: counts add up, the later sighting's
    /// entry and identity win, the earliest first sighting stays; nothing else changes.
    @Test(arguments: Backend.allCases)
    func machineSummariesFromSeveralNodesAddUp(_ backend: Backend) throws {
        let (store, reopen) = try backend.makeStore()
        let other = try reopen()
        let revision = try store.load().revision
        try store.saveHosts([HostRecord(mac: "52:54:00:00:00:01", firstSeen: 100, lastSeen: 200, lastEntry: "aaaaaaaaaaaa", boots: 2, requests: 9,
                                        identity: "mac=52%3A54%3A00%3A00%3A00%3A01&hostname=old")])
        try other.saveHosts([HostRecord(mac: "52:54:00:00:00:01", firstSeen: 150, lastSeen: 300, lastEntry: nil, boots: 1, requests: 4,
                                        identity: "mac=52%3A54%3A00%3A00%3A00%3A01&hostname=new"),
                             HostRecord(mac: "52:54:00:00:00:02", firstSeen: 50, lastSeen: 60, lastEntry: "bbbbbbbbbbbb", boots: 0, requests: 1, identity: "")])
        // A late save of an earlier sighting does not take over the entry or identity.
        try store.saveHosts([HostRecord(mac: "52:54:00:00:00:01", firstSeen: 90, lastSeen: 120, lastEntry: "cccccccccccc", boots: 1, requests: 1,
                                        identity: "mac=52%3A54%3A00%3A00%3A00%3A01&hostname=older")])
        let hosts = try other.hosts(limit: 10)
        #expect(hosts == [
            HostRecord(mac: "52:54:00:00:00:01", firstSeen: 90, lastSeen: 300, lastEntry: "aaaaaaaaaaaa", boots: 4, requests: 14,
                       identity: "mac=52%3A54%3A00%3A00%3A00%3A01&hostname=new"),
            HostRecord(mac: "52:54:00:00:00:02", firstSeen: 50, lastSeen: 60, lastEntry: "bbbbbbbbbbbb", boots: 0, requests: 1, identity: ""),
        ])
        #expect(try store.hosts(limit: 1).map(\.mac) == ["52:54:00:00:00:01"], "most recently seen first")
        #expect(try store.load().revision == revision, "not a settings change")
        store.close()
        other.close()
    }

    @Test(arguments: Backend.allCases)
    func aStaleRevisionIsRefusedAndChangesNothing(_ backend: Backend) throws {
        let (store, _) = try backend.makeStore()
        let (catalog, ids) = Self.catalog(store)
        let seen = catalog.current.settings[ids[0]]!.revision
        try catalog.settings.setEnabled(false, id: ids[0], expectedRevision: seen)
        let now = catalog.current.settings[ids[0]]!.revision
        #expect(throws: SettingsChangeError.revisionMismatch(id: ids[0], current: now)) {
            try catalog.settings.updateMenu(id: ids[0], name: .set("Late"), expectedRevision: seen)
        }
        #expect(try store.load().settings[ids[0]]?.menuName == nil)
        #expect(try store.load().revision == now)
        store.close()
    }

    @Test(arguments: Backend.allCases)
    func movesKeepOrdersDenseAndUniqueUnderConcurrentWritersOnTwoNodes(_ backend: Backend) async throws {
        let (first, reopen) = try backend.makeStore()
        let root = TemporaryDirectory()
        for index in 0..<12 { root.write(PNGFixtures.named("n\(index)"), to: "n\(index).rts.png") }
        let (settings, revision) = try first.load()
        let nodeA = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: first, settings: settings, revision: revision)
        nodeA.refresh()
        let second = try reopen()
        let (loaded, loadedRevision) = try second.load()
        let nodeB = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: second, settings: loaded, revision: loadedRevision)
        nodeB.refresh()
        let ids = nodeA.current.snapshot.entries.map(\.id)
        var random = SeededRandom(seed: 7)
        let moves = (0..<40).map { _ in (ids[Int.random(in: 0..<ids.count, using: &random)], Int.random(in: 0..<ids.count, using: &random)) }
        await withTaskGroup(of: Void.self) { group in
            for (index, move) in moves.enumerated() {
                let node = index % 2 == 0 ? nodeA : nodeB
                group.addTask { _ = try? node.settings.updateMenu(id: move.0, bootOrder: move.1) }
            }
        }
        let (final, _) = try first.load()
        #expect(final.byID.values.map(\.bootOrder).sorted() == Array(0..<ids.count), "dense and unique: \(final.byID.values.map(\.bootOrder).sorted())")
        #expect(try second.load().settings == final)
        first.close()
        second.close()
    }


    @Test(arguments: Backend.allCases)
    func anotherNodesChangesArriveAsEventsAndCatchUpAppliesThem(_ backend: Backend) throws {
        let (first, reopen) = try backend.makeStore()
        let root = TemporaryDirectory()
        let (nodeA, ids) = Self.catalog(first, root: root)
        let second = try reopen()
        let (loaded, revision) = try second.load()
        let nodeB = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: second, settings: loaded, revision: revision)
        nodeB.refresh()
        let events = LockedBox<[SettingsStoreEvent]>([])
        second.watch { event in
            events.update { $0.append(event) }
            nodeB.handle(event)
        }
        try nodeA.settings.updateMenu(id: ids[2], name: .set("From A"), bootOrder: 0)
        let arrived = TestServer.waitFor(seconds: 10) { nodeB.current.settings[ids[2]]?.menuName == "From A" }
        #expect(arrived, "events: \(events.value)")
        #expect(nodeB.current.settings == nodeA.current.settings)
        #expect(nodeB.current.storeRevision == nodeA.current.storeRevision)
        first.close()
        second.close()
    }

    @Test(arguments: Backend.allCases)
    func forgottenEntriesAreReportedAsRemovedToOtherNodes(_ backend: Backend) throws {
        let (store, reopen) = try backend.makeStore()
        let root = TemporaryDirectory()
        let clock = LockedBox(Date(timeIntervalSince1970: 1_900_000_000))
        for name in ["a", "b"] { root.write(PNGFixtures.named(name), to: "\(name).rts.png") }
        let catalog = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: store, forgetMissingAfter: 10, now: { clock.value })
        catalog.refresh()
        let before = try store.load().revision
        #expect(catalog.current.settings.idsInBootOrder == ["a", "b"].map { CatalogEntry.id(forRealPath: root.path + "/\($0).rts.png") })
        root.remove("a.rts.png")
        catalog.refresh()
        clock.value = clock.value.addingTimeInterval(11)
        #expect(catalog.refresh().forgotten == 1)
        let changes = try reopen().changes(since: before)
        #expect(changes.removed == [CatalogEntry.id(forRealPath: root.path + "/a.rts.png")])
        #expect(changes.saved.keys.sorted() == [CatalogEntry.id(forRealPath: root.path + "/b.rts.png")], "b moved up to the first place")
        #expect(changes.saved.values.first?.bootOrder == 0)
        store.close()
    }

    @Test(arguments: Backend.allCases)
    func anOldSettingsFileIsImportedOnceAndKept(_ backend: Backend) throws {
        let (store, _) = try backend.makeStore()
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        let old = PXESettings(byID: [Self.a: PXESetting(enabled: false, bootOrder: 1, menuName: "Old name"),
                                     Self.b: PXESetting(enabled: true, bootOrder: 0, commandLine: "quiet")])
        try file.save(old)
        #expect(try SettingsImport.run(file, into: store) == .imported(entries: 2, renamedTo: file.path + ".imported"))
        let (imported, _) = try store.load()
        #expect(imported.byID.count == 2)
        #expect(imported[Self.a]?.sameValues(as: old[Self.a]!) == true && imported[Self.b]?.sameValues(as: old[Self.b]!) == true)
        #expect(!FileManager.default.fileExists(atPath: file.path) && FileManager.default.fileExists(atPath: file.path + ".imported"))
        #expect(try store.audit(AuditQuery()).first?.actor == "import")
        // A second file (another node's) does not overwrite what the store holds.
        try PXESettings(byID: [Self.c: PXESetting(bootOrder: 0)]).write(to: file)
        #expect(try SettingsImport.run(file, into: store) == .skippedStoreNotEmpty)
        #expect(try store.load().settings[Self.c] == nil)
        #expect(FileManager.default.fileExists(atPath: file.path), "left in place")
        store.close()
    }

    @Test(arguments: Backend.databases)
    func aSchemaNewerThanThisVersionIsRefused(_ backend: Backend) throws {
        switch backend {
        case .sqlite:
            let directory = TemporaryDirectory()
            let path = directory.path + "/settings.sqlite3"
            try SQLiteSettingsStore(path: path).close()
            _ = try TestServer.run("/usr/bin/python3", ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE meta SET value=99 WHERE key='schema_version'\"); c.commit()", path])
            #expect { try SQLiteSettingsStore(path: path) } throws: { error in
                let failure = error as? SettingsStoreError
                return failure?.kind == .newerSchema && failure?.description.contains("schema version 99") == true
            }
        case .postgresql:
            guard let server = PostgresServer.shared else { throw TestServerError(message: "PostgreSQL could not be started") }
            let url = try server.createDatabase()
            try PostgresSettingsStore(conninfo: url).close()
            let database = url.split(separator: "=").last.map(String.init) ?? ""
            try server.psql(database, "UPDATE pxe_catalog.meta SET value = 99 WHERE key = 'schema_version'")
            #expect { try PostgresSettingsStore(conninfo: url) } throws: { error in
                let failure = error as? SettingsStoreError
                return failure?.kind == .newerSchema && failure?.description.contains("schema version 99") == true
            }
        case .memory:
            Issue.record("the in-memory store has no schema")
        }
    }

    @Test func anUnreachablePostgreSQLMakesAStoreThatRefusesWritesAtOnceAndReconnects() throws {
        let server = try PostgresServer()
        try server.start()
        let url = try server.createDatabase()
        let store = try PostgresSettingsStore(conninfo: url)
        let events = LockedBox<[SettingsStoreEvent]>([])
        store.watch { event in events.update { $0.append(event) } }
        #expect(TestServer.waitFor(seconds: 10) { events.value.contains(.changed(revision: 0)) })
        server.stop()
        #expect(TestServer.waitFor(seconds: 10) { !store.health.available })
        #expect(events.value.contains { if case .lost = $0 { return true } else { return false } })
        let started = ContinuousClock.now
        #expect { _ = try store.write { try $0.record(actor: "t", entry: nil, field: "x", old: nil, new: nil) } } throws: { error in
            (error as? SettingsStoreError)?.kind == .unavailable
        }
        #expect(ContinuousClock.now - started < .seconds(10), "refused without waiting for a timeout per request")
        try server.start()
        #expect(TestServer.waitFor(seconds: 30) { events.value.contains(.reconnected) }, "events: \(events.value)")
        #expect(store.health.available && store.health.reconnects == 1)
        _ = try store.write { try $0.save(Self.a, PXESetting(bootOrder: 0)) }
        #expect(try store.load().settings[Self.a] != nil)
        store.close()
    }

    @Test func aReadOnlySQLiteStoreWritesNothing() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/settings.sqlite3"
        #expect(throws: SettingsStoreError.self) { try SQLiteSettingsStore(path: path, readOnly: true) }
        #expect(!FileManager.default.fileExists(atPath: path), "not created")
    }

    @Test func postgresPasswordsNeverReachTheLog() {
        #expect(PostgresSettingsStore.redacted("host=db user=pxe password=s3cret dbname=pxe") == "host=db user=pxe password=*** dbname=pxe")
        #expect(PostgresSettingsStore.redacted("postgresql://pxe:s3cret@db/pxe") == "postgresql://pxe:***@db/pxe")
    }
}

extension PXESettings {
    func write(to file: SettingsFile) throws { try file.save(self) }
}
