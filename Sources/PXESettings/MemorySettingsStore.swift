import Foundation
import Locking

/// Settings kept in this process only: for commands that show a catalog without a state
/// directory (`scan` of bare directories) and for unit tests of the catalog's logic. The same
/// semantics as the database backends (serialised writers, revisions, audit, events), checked
/// by the same backend suite: `connection()` opens another handle onto the same contents, as a
/// second process opens the same database, and each handle's watcher hears the others' commits.
package final class MemorySettingsStore: SettingsStore {
    private struct Contents {
        var settings = PXESettings()
        var revision: Int64 = 0
        var audit: [AuditRecord] = []
        var nextBoots: [String: NextBoot] = [:]
        var hosts: [String: HostRecord] = [:]
        var hostRules: [String: String] = [:]
    }

    /// What every handle of one store shares: the contents and the handles to tell of commits.
    private final class Database: Sendable {
        let contents: Locked<Contents>
        let handles = Locked<[ObjectIdentifier: Watcher]>([:])
        init(_ contents: Contents) { self.contents = Locked(contents) }
    }

    /// A handle's watcher, called in order on a queue of its own (never on the writer's thread,
    /// which may hold locks of its own).
    private struct Watcher: Sendable {
        let queue: DispatchQueue
        let handler: @Sendable (SettingsStoreEvent) -> Void
    }

    private let database: Database
    private var contents: Locked<Contents> { database.contents }

    package init(settings: PXESettings = PXESettings(), revision: Int64 = 0) {
        database = Database(Contents(settings: settings, revision: revision))
    }

    private init(database: Database) { self.database = database }

    /// Another handle onto the same settings (another process or node, in tests).
    package func connection() -> MemorySettingsStore { MemorySettingsStore(database: database) }

    package var backendName: String { "memory" }
    package var health: SettingsStoreHealth { SettingsStoreHealth() }

    package func load() throws(SettingsStoreError) -> (settings: PXESettings, revision: Int64) {
        contents.withLock { ($0.settings, $0.revision) }
    }

    package func write<Result>(_ change: (any SettingsTransaction) throws -> Result) throws -> (result: Result, commit: SettingsCommit) {
        let outcome: (result: Result, commit: SettingsCommit, committed: Bool) = try contents.withLock { contents in
            let transaction = Transaction(contents.settings, nextBoots: contents.nextBoots, revision: contents.revision + 1)
            transaction.hostRules = contents.hostRules
            let result = try change(transaction)
            guard !transaction.commit.isEmpty || !transaction.records.isEmpty else {
                return (result, SettingsCommit(revision: contents.revision), false)
            }
            contents.settings = transaction.working
            contents.nextBoots = transaction.nextBoots
            contents.hostRules = transaction.hostRules
            contents.revision = transaction.revision
            let firstID = (contents.audit.last?.id ?? 0) + 1
            contents.audit += transaction.records.enumerated().map { offset, record in
                var numbered = record
                numbered.id = firstID + Int64(offset)
                return numbered
            }
            return (result, transaction.commit, true)
        }
        if outcome.committed { tellOthers(.changed(revision: outcome.commit.revision)) }
        return (outcome.result, outcome.commit)
    }

    private func tellOthers(_ event: SettingsStoreEvent) {
        let me = ObjectIdentifier(self)
        for (handle, watcher) in database.handles.withLock({ $0 }) where handle != me {
            watcher.queue.async { watcher.handler(event) }
        }
    }

    package func changes(since revision: Int64) throws(SettingsStoreError) -> SettingsCommit {
        contents.withLock { contents in
            SettingsCommit(revision: contents.revision, saved: contents.settings.byID.filter { $0.value.revision > revision },
                           removed: contents.audit.filter { $0.revision > revision && $0.field == "forgotten" }.compactMap(\.entry)
                               .filter { contents.settings[$0] == nil })
        }
    }

    package func saveHosts(_ records: [HostRecord]) throws(SettingsStoreError) {
        contents.withLock { contents in
            for record in records { contents.hosts[record.mac] = contents.hosts[record.mac]?.adding(record) ?? record }
        }
    }

    package func hostRules() throws(SettingsStoreError) -> [String: String] { contents.withLock { $0.hostRules } }

    package func hosts(limit: Int) throws(SettingsStoreError) -> [HostRecord] {
        contents.withLock { Array($0.hosts.values.sorted { ($0.lastSeen, $1.mac) > ($1.lastSeen, $0.mac) }.prefix(limit)) }
    }

    package func nextBoots() throws(SettingsStoreError) -> [NextBoot] {
        contents.withLock { $0.nextBoots.values.sorted { $0.mac < $1.mac } }
    }

    package func audit(_ query: AuditQuery) throws(SettingsStoreError) -> [AuditRecord] {
        contents.withLock { contents in
            Array(contents.audit.reversed().filter { record in
                (query.afterID.map { record.id > $0 } ?? true) && (query.since.map { record.time >= $0 } ?? true)
            }.prefix(query.limit))
        }
    }

    package func watch(_ handler: @escaping @Sendable (SettingsStoreEvent) -> Void) {
        let watcher = Watcher(queue: DispatchQueue(label: "memory-settings-watch"), handler: handler)
        database.handles.withLock { $0[ObjectIdentifier(self)] = watcher }
    }

    package func close() {
        database.handles.withLock { $0[ObjectIdentifier(self)] = nil }
    }

    deinit { close() }

    private final class Transaction: SettingsTransaction {
        let revision: Int64
        var working: PXESettings
        var commit: SettingsCommit
        var records: [AuditRecord] = []
        var nextBoots: [String: NextBoot]

        init(_ settings: PXESettings, nextBoots: [String: NextBoot], revision: Int64) {
            working = settings
            self.nextBoots = nextBoots
            self.revision = revision
            commit = SettingsCommit(revision: revision)
        }

        func setting(_ id: String) -> PXESetting? { working[id] }
        func allSettings() -> PXESettings { working }

        func reserve(saves count: Int) {
            working.reserveCapacity(working.byID.count + count)
            commit.saved.reserveCapacity(commit.saved.count + count)
        }

        func save(_ id: String, _ setting: PXESetting) {
            var stored = setting
            stored.revision = revision
            working[id] = stored
            commit.saved[id] = stored
            if !commit.removed.isEmpty { commit.removed.removeAll { $0 == id } }
        }

        func remove(_ id: String) {
            working[id] = nil
            commit.saved[id] = nil
            commit.removed.append(id)
        }

        func record(actor: String, entry: String?, field: String, old: String?, new: String?) {
            records.append(AuditRecord(id: 0, revision: revision, time: Date(), actor: actor, entry: entry, field: field, old: old, new: new))
        }

        func setNextBoot(_ boot: NextBoot) { nextBoots[boot.mac] = boot }

        func takeNextBoot(mac: String) -> NextBoot? { nextBoots.removeValue(forKey: mac) }

        var hostRules: [String: String] = [:]

        func setHostRule(name: String, body: String?) -> Bool {
            defer { hostRules[name] = body }
            return hostRules[name] != nil
        }
    }
}
