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
}

extension SettingsTransaction {
    package func reserve(saves count: Int) {}
}

/// A one-shot boot: the next time machine `mac` asks for its menu it boots `entry` directly,
/// then its usual policy applies again. Kept in the settings store, so a restart neither loses
/// nor repeats it.
/// What the store keeps of a machine that booted.
package struct HostRecord: Sendable, Equatable {
    package var mac: String
    package var firstSeen: Double
    package var lastSeen: Double
    package var lastEntry: String?
    /// Saved: the boots and requests seen since the last save; loaded: the totals.
    package var boots: Int64
    package var requests: Int64
    /// The machine's identity as the query string its requests carried.
    package var identity: String

    package init(mac: String, firstSeen: Double, lastSeen: Double, lastEntry: String?, boots: Int64, requests: Int64, identity: String) {
        self.mac = mac
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.lastEntry = lastEntry
        self.boots = boots
        self.requests = requests
        self.identity = identity
    }

    /// `self` with `newer` (seen later) added.
    package func adding(_ newer: HostRecord) -> HostRecord {
        let later = newer.lastSeen >= lastSeen
        return HostRecord(mac: mac, firstSeen: min(firstSeen, newer.firstSeen), lastSeen: max(lastSeen, newer.lastSeen),
                          lastEntry: later ? (newer.lastEntry ?? lastEntry) : (lastEntry ?? newer.lastEntry),
                          boots: boots + newer.boots, requests: requests + newer.requests, identity: later ? newer.identity : identity)
    }
}

package struct NextBoot: Sendable, Equatable {
    /// Normalised MAC address (`52:54:00:12:34:56`).
    package var mac: String
    package var entry: String
    /// Seconds since 1970 after which it is void.
    package var expiresAt: Int64
    /// Who set it (token name), and when (seconds since 1970).
    package var actor: String
    package var createdAt: Int64

    package init(mac: String, entry: String, expiresAt: Int64, actor: String, createdAt: Int64) {
        self.mac = mac
        self.entry = entry
        self.expiresAt = expiresAt
        self.actor = actor
        self.createdAt = createdAt
    }

    package func isExpired(at now: Int64) -> Bool { now >= expiresAt }
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

/// One change in the history: who changed which field of which entry, from what to what.
package struct AuditRecord: Sendable, Equatable {
    package var id: Int64
    package var revision: Int64
    package var time: Date
    package var actor: String
    package var entry: String?
    package var field: String
    package var old: String?
    package var new: String?

    package init(id: Int64, revision: Int64, time: Date, actor: String, entry: String?, field: String, old: String?, new: String?) {
        self.id = id
        self.revision = revision
        self.time = time
        self.actor = actor
        self.entry = entry
        self.field = field
        self.old = old
        self.new = new
    }
}

package struct AuditQuery: Sendable, Equatable {
    /// Only records after this id (exclusive), for polling.
    package var afterID: Int64?
    /// Only records at or after this time.
    package var since: Date?
    package var limit: Int

    package init(afterID: Int64? = nil, since: Date? = nil, limit: Int = 100) {
        self.afterID = afterID
        self.since = since
        self.limit = limit
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
