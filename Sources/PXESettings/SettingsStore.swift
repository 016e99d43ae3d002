import Foundation

/// Where the PXE settings are kept: SQLite on one server, PostgreSQL for a fleet (the backends
/// live in the PXESettings module). The catalog keeps every setting in memory and reads them
/// from there (the boot path never waits on a database); the store is written on each change
/// and tells the catalog what other processes and nodes changed.
package protocol SettingsStore: AnyObject, Sendable {
    /// "sqlite" or "postgresql", for `/status` and the log.
    var backendName: String { get }

    /// Every saved setting and the store's revision (at start, and after a reconnect).
    func load() throws(SettingsStoreError) -> (settings: PXESettings, revision: Int64)

    /// Runs `change` in one transaction serialised with every other writer of the store (other
    /// threads, processes and nodes alike), at the store's next revision. Commits only if the
    /// change wrote something; returns once the commit is durable.
    func write<Result>(_ change: (any SettingsTransaction) throws -> Result) throws -> (result: Result, commit: SettingsCommit)

    /// What changed after `revision` (made anywhere).
    func changes(since revision: Int64) throws(SettingsStoreError) -> SettingsCommit

    /// The one-shot next boots waiting (expired ones included; `NextBoot.isExpired` says).
    func nextBoots() throws(SettingsStoreError) -> [NextBoot]

    /// Adds what this node saw of machines since its last save: counts add up across nodes,
    /// the latest sighting wins for the rest. Not a settings change: no revision, no audit.
    func saveHosts(_ records: [HostRecord]) throws(SettingsStoreError)

    /// Host rules made through the API: name to the rule's JSON.
    func hostRules() throws(SettingsStoreError) -> [String: String]

    /// The machines the store knows, most recently seen first, at most `limit`.
    func hosts(limit: Int) throws(SettingsStoreError) -> [HostRecord]

    /// The change history, newest first.
    func audit(_ query: AuditQuery) throws(SettingsStoreError) -> [AuditRecord]

    /// Calls `handler` (on a thread of the store's) when another process or node committed a
    /// change, when the connection to the database was lost, and when it is back. Once.
    func watch(_ handler: @escaping @Sendable (SettingsStoreEvent) -> Void)

    /// Stops watching and closes connections.
    func close()

    /// Whether the store can be written now, and since when it cannot.
    var health: SettingsStoreHealth { get }
}

/// One transaction of a `SettingsStore.write`.
package protocol SettingsTransaction: AnyObject {
    /// The revision this transaction commits as.
    var revision: Int64 { get }
    func setting(_ id: String) throws(SettingsStoreError) -> PXESetting?
    func allSettings() throws(SettingsStoreError) -> PXESettings
    /// Saves an entry's settings at this transaction's revision.
    func save(_ id: String, _ setting: PXESetting) throws(SettingsStoreError)
    func remove(_ id: String) throws(SettingsStoreError)
    func record(actor: String, entry: String?, field: String, old: String?, new: String?) throws(SettingsStoreError)
    /// Sets (replacing any) the one-shot next boot of machine `boot.mac`.
    func setNextBoot(_ boot: NextBoot) throws(SettingsStoreError)
    /// Removes machine `mac`'s one-shot and answers it; nil when there was none. Two
    /// transactions racing for it (on any nodes) cannot both get it: the store serialises writers.
    func takeNextBoot(mac: String) throws(SettingsStoreError) -> NextBoot?

    /// Saves a host rule made through the API (`body` nil: removes it); returns whether the
    /// name was taken before.
    func setHostRule(name: String, body: String?) throws(SettingsStoreError) -> Bool

    /// A hint that about `count` saves follow (a refresh adopting 10,000 new entries): the
    /// transaction may make room for them at once.
    func reserve(saves count: Int)

    /// Saves the default settings of entries that have none yet (enabled, boot orders
    /// `firstBootOrder`, `firstBootOrder + 1`, ... in the order of `ids`) and records an "added"
    /// audit record by `actor` for each: what a refresh that finds new files writes. A backend
    /// may do it in a few statements rather than two per entry.
    func addDefaults(_ ids: [String], firstBootOrder: Int, actor: String) throws(SettingsStoreError)
}

extension SettingsTransaction {
    package func reserve(saves count: Int) {}

    package func addDefaults(_ ids: [String], firstBootOrder: Int, actor: String) throws(SettingsStoreError) {
        reserve(saves: ids.count)
        for (offset, id) in ids.enumerated() { try save(id, PXESetting(bootOrder: firstBootOrder + offset)) }
        for id in ids { try record(actor: actor, entry: id, field: "added", old: nil, new: "enabled") }
    }
}

/// What one or more commits changed: the rows written (with their revision) and removed.
package struct SettingsCommit: Sendable, Equatable {
    package var revision: Int64
    package var saved: [String: PXESetting]
    package var removed: [String]

    package init(revision: Int64, saved: [String: PXESetting] = [:], removed: [String] = []) {
        self.revision = revision
        self.saved = saved
        self.removed = removed
    }

    package var isEmpty: Bool { saved.isEmpty && removed.isEmpty }
}

package enum SettingsStoreEvent: Sendable, Equatable {
    /// Another process or node committed `revision`.
    case changed(revision: Int64)
    /// The database cannot be reached (the reason says why); the store retries by itself.
    case lost(String)
    /// The database is reachable again: reload everything (changes may have been missed).
    case reconnected
}

package struct SettingsStoreHealth: Sendable, Equatable {
    package var available: Bool
    /// Why not, while unavailable.
    package var problem: String?
    package var unavailableSince: Date?
    /// Times the store lost and regained its database since start.
    package var reconnects: Int

    package init(available: Bool = true, problem: String? = nil, unavailableSince: Date? = nil, reconnects: Int = 0) {
        self.available = available
        self.problem = problem
        self.unavailableSince = unavailableSince
        self.reconnects = reconnects
    }
}

/// Why the store could not do what was asked. The description is for the log (it may name
/// the database); the API says what the kind means.
package struct SettingsStoreError: Error, Equatable, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        /// The database cannot be reached: retry later; nothing was changed.
        case unavailable
        /// The disk holding the settings is full.
        case outOfSpace
        /// Written by a newer pxe-catalog (its schema version is higher than this one knows).
        case newerSchema
        /// Any other failure (an I/O error, a corrupt file, a refused statement).
        case failed
    }

    package let kind: Kind
    package let description: String

    package init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    /// `error` as a store error (a failure of another type becomes `.failed`).
    package static func wrapping(_ error: any Error) -> SettingsStoreError {
        (error as? SettingsStoreError) ?? SettingsStoreError(.failed, "\(error)")
    }
}

extension SettingsTransaction {
    /// Writes the rows that differ between `old` and `new` and removes those `new` lacks.
    /// Returns nothing: the store's commit lists what was written.
    package func replace(_ old: PXESettings, with new: PXESettings) throws(SettingsStoreError) {
        var changed: [(id: String, setting: PXESetting)] = []
        for (id, setting) in new.byID where !(old[id].map { $0.sameValues(as: setting) } ?? false) { changed.append((id, setting)) }
        reserve(saves: changed.count)
        for (id, setting) in changed { try save(id, setting) }
        for id in old.byID.keys where new[id] == nil { try remove(id) }
    }
}
