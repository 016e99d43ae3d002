import Foundation
import Locking
import PXESettings
import StrictJSON

/// The settings in an SQLite database in the state directory: WAL journal, every commit
/// synced (`synchronous=FULL`), one transaction per change, writers serialised by SQLite's
/// write lock (also against other processes, such as `pxe-catalog db migrate`). Changes other
/// processes commit are noticed within half a second (`PRAGMA data_version`).
package final class SQLiteSettingsStore: SettingsStore {
    package static let fileName = "settings.sqlite3"

    private let database: Locked<SQLiteDatabase>
    private let schema = SettingsSchema.sqlite
    package let path: String
    private let watcher = Locked<Thread?>(nil)
    private let stopping = Locked(false)
    private let healthBox = Locked(SettingsStoreHealth())

    /// Opens (creating it if needed) and migrates the database at `path`; `readOnly` opens an
    /// existing one as it is and writes nothing (for `scan`, beside a running worker).
    package init(path: String, readOnly: Bool = false) throws(SettingsStoreError) {
        self.path = path
        let opened: SQLiteDatabase
        do {
            opened = try SQLiteDatabase(path: path, readOnly: readOnly)
            if !readOnly {
                try opened.query("PRAGMA journal_mode=WAL")
                try opened.execute("PRAGMA synchronous=FULL")
            }
        } catch {
            throw Self.storeError(error, path: path)
        }
        database = Locked(opened)
        if !readOnly { try migrate() }
    }

    package var backendName: String { "sqlite" }
    package var health: SettingsStoreHealth { healthBox.withLock { $0 } }

    static func storeError(_ failure: SQLiteDatabase.Failure, path: String) -> SettingsStoreError {
        if failure.isOutOfSpace { return SettingsStoreError(.outOfSpace, "The disk holding \(path) is full: \(failure.message).") }
        if failure.isCorrupt { return SettingsStoreError(.failed, "The settings database \(path) is not a usable SQLite database (\(failure.message)); restore it from a backup or move it away to start afresh.") }
        return SettingsStoreError(.failed, "The settings database \(path) failed: \(failure.message).")
    }

    private func withDatabase<Result>(_ body: (SQLiteDatabase) throws -> Result) throws -> Result {
        try database.withLock { database in
            do {
                return try body(database)
            } catch let failure as SQLiteDatabase.Failure {
                throw Self.storeError(failure, path: path)
            }
        }
    }

    /// Brings the schema to the current version in one transaction; refuses a newer one.
    package func migrate() throws(SettingsStoreError) {
        try inWriteTransaction { database in
            for statement in schema.createMeta { try database.query(statement) }
            let found = try database.query(schema.schemaVersion).first?.first?.integer ?? 0
            guard found <= SettingsSchema.currentVersion else { throw SettingsSchema.newerSchemaError(found: found, database: path) }
            if found < SettingsSchema.currentVersion {
                for version in (found + 1)...SettingsSchema.currentVersion {
                    for statement in schema.migration(to: version) { try database.query(statement) }
                }
                try database.query(schema.setSchemaVersion, [.integer(SettingsSchema.currentVersion)])
            }
        }
    }

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE`), rolled back when it throws.
    private func inWriteTransaction(_ body: (SQLiteDatabase) throws -> Void) throws(SettingsStoreError) {
        do {
            try withDatabase { database in
                try database.execute("BEGIN IMMEDIATE")
                do {
                    try body(database)
                    try database.execute("COMMIT")
                } catch {
                    try? database.execute("ROLLBACK")
                    throw error
                }
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    package func load() throws(SettingsStoreError) -> (settings: PXESettings, revision: Int64) {
        do {
            return try withDatabase { database in
                try database.execute("BEGIN")
                defer { try? database.execute("COMMIT") }
                let revision = try database.query(schema.revision).first?.first?.integer ?? 0
                return (try Self.settings(database.query(schema.allEntries)), revision)
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    static func setting(_ row: ArraySlice<SQLiteDatabase.Value>) -> PXESetting {
        let values = Array(row)
        return PXESetting(enabled: values[0].integer == 1, bootOrder: Int(values[1].integer ?? 0), menuName: values[2].text,
                          menuDescription: values[3].text, commandLine: values[4].text, missingSince: values[5].integer,
                          revision: values[6].integer ?? 0)
    }

    static func settings(_ rows: [[SQLiteDatabase.Value]]) -> PXESettings {
        var byID: [String: PXESetting] = [:]
        byID.reserveCapacity(rows.count)
        for row in rows { if let id = row[0].text { byID[id] = setting(row[1...]) } }
        return PXESettings(byID: byID)
    }

    package func write<Result>(_ change: (any SettingsTransaction) throws -> Result) throws -> (result: Result, commit: SettingsCommit) {
        try withDatabase { database in
            try database.execute("BEGIN IMMEDIATE")
            do {
                let revision = try database.query(schema.nextRevision).first?.first?.integer ?? 1
                let transaction = Transaction(database: database, schema: schema, revision: revision)
                let result = try change(transaction)
                if transaction.commit.isEmpty && !transaction.recorded {
                    try database.execute("ROLLBACK")
                    return (result, SettingsCommit(revision: revision - 1))
                }
                try database.execute("COMMIT")
                return (result, transaction.commit)
            } catch {
                try? database.execute("ROLLBACK")
                throw error
            }
        }
    }

    package func changes(since revision: Int64) throws(SettingsStoreError) -> SettingsCommit {
        do {
            return try withDatabase { database in
                try database.execute("BEGIN")
                defer { try? database.execute("COMMIT") }
                let latest = try database.query(schema.revision).first?.first?.integer ?? 0
                let saved = Self.settings(try database.query(schema.entriesChanged, [.integer(revision)])).byID
                let forgotten = try database.query(schema.forgottenSince, [.integer(revision)]).compactMap { $0.first?.text }
                let removed = try forgotten.filter { try database.query(schema.entry, [.text($0)]).isEmpty }
                return SettingsCommit(revision: latest, saved: saved, removed: removed)
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    package func audit(_ query: AuditQuery) throws(SettingsStoreError) -> [AuditRecord] {
        do {
            return try withDatabase { database in
                try database.query(schema.auditQuery, [.integer(query.afterID ?? 0), .integer(query.since.map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0),
                                                        .integer(Int64(query.limit))]).map { row in
                    AuditRecord(id: row[0].integer ?? 0, revision: row[1].integer ?? 0,
                                time: Date(timeIntervalSince1970: Double(row[2].integer ?? 0) / 1000), actor: row[3].text ?? "",
                                entry: row[4].text, field: row[5].text ?? "", old: row[6].text, new: row[7].text)
                }
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    /// Polls `PRAGMA data_version`, which changes when another connection (another process)
    /// commits; our own commits leave it alone.
    package func watch(_ handler: @escaping @Sendable (SettingsStoreEvent) -> Void) {
        // The baseline is read before watch() returns: read on the new thread, a commit made
        // in between would already be in it and never be reported.
        let baseline = (try? withDatabase { try $0.query("PRAGMA data_version").first?.first?.integer }) ?? nil
        let thread = Thread { [weak self] in
            var seen = baseline
            while let store = self, !store.stopping.withLock({ $0 }) {
                usleep(500_000)
                guard let version = (try? store.withDatabase { try $0.query("PRAGMA data_version").first?.first?.integer }) ?? nil,
                      version != seen else { continue }
                seen = version
                if let revision = (try? store.withDatabase { try $0.query(store.schema.revision).first?.first?.integer }) ?? nil {
                    handler(.changed(revision: revision))
                }
            }
        }
        thread.name = "settings-watch"
        watcher.withLock { $0 = thread }
        thread.start()
    }

    /// Stops the watcher and closes the database, so that a clean stop leaves one file behind
    /// (the WAL checkpointed into it), not a database whose latest pages live in a -wal file.
    package func close() {
        stopping.withLock { $0 = true }
        database.withLock { $0.close() }
    }

    /// Each save and audit record is one prepared statement, run at once: SQLite runs in this
    /// process, and multi-row statements measured slower here than single rows.
    private final class Transaction: SettingsTransaction {
        let database: SQLiteDatabase
        let schema: SettingsSchema
        let revision: Int64
        var commit: SettingsCommit
        var recorded = false

        init(database: SQLiteDatabase, schema: SettingsSchema, revision: Int64) {
            self.database = database
            self.schema = schema
            self.revision = revision
            commit = SettingsCommit(revision: revision)
        }

        private func run(_ sql: String, _ values: [SQLiteDatabase.Value] = []) throws(SettingsStoreError) -> [[SQLiteDatabase.Value]] {
            do {
                return try database.query(sql, values)
            } catch {
                throw SQLiteSettingsStore.storeError(error, path: database.path)
            }
        }

        func setting(_ id: String) throws(SettingsStoreError) -> PXESetting? {
            try run(schema.entry, [.text(id)]).first.map { SQLiteSettingsStore.setting($0[...]) }
        }

        func allSettings() throws(SettingsStoreError) -> PXESettings {
            SQLiteSettingsStore.settings(try run(schema.allEntries))
        }

        func reserve(saves count: Int) { commit.saved.reserveCapacity(commit.saved.count + count) }

        func save(_ id: String, _ setting: PXESetting) throws(SettingsStoreError) {
            var stored = setting
            stored.revision = revision
            let row = stored.rowValues
            _ = try run(schema.saveEntries(rows: 1), [.text(id), .integer(row.enabled), .integer(row.bootOrder), row.name.map { .text($0) } ?? .null,
                                                      row.description.map { .text($0) } ?? .null, row.commandLine.map { .text($0) } ?? .null,
                                                      row.missingSince.map { .integer($0) } ?? .null, .integer(revision)])
            commit.saved[id] = stored
            if !commit.removed.isEmpty { commit.removed.removeAll { $0 == id } }
        }

        /// Two statements for any number of new entries: the ids go in as one JSON array that
        /// SQLite walks itself (`json_each`). Two prepared statements run per entry cost three
        /// times as much, and a refresh that finds 10,000 new files waits for them.
        func addDefaults(_ ids: [String], firstBootOrder: Int, actor: String) throws(SettingsStoreError) {
            guard !ids.isEmpty else { return }
            let list = JSONValue.array(ids.map(JSONValue.string)).serializedString()
            _ = try run(Self.insertDefaults, [.text(list), .integer(Int64(firstBootOrder)), .integer(revision)])
            _ = try run(Self.recordAdded, [.text(list), .integer(revision), .integer(Int64(Date().timeIntervalSince1970 * 1000)), .text(actor)])
            commit.saved.reserveCapacity(commit.saved.count + ids.count)
            for (offset, id) in ids.enumerated() {
                var setting = PXESetting(bootOrder: firstBootOrder + offset)
                setting.revision = revision
                commit.saved[id] = setting
            }
            if !commit.removed.isEmpty { commit.removed.removeAll(where: Set(ids).contains) }
            recorded = true
        }

        // `WHERE true`: an upsert's SELECT needs a WHERE, or SQLite reads ON as a join's.
        static let insertDefaults = SettingsSchema.sqlite.sql("""
            INSERT INTO §entries (id, \(SettingsSchema.columns))
            SELECT value, 1, $2 + key, NULL, NULL, NULL, NULL, $3 FROM json_each($1) WHERE true
            ON CONFLICT (id) DO UPDATE SET enabled = 1, boot_order = excluded.boot_order, menu_name = NULL,
                menu_description = NULL, cmdline = NULL, missing_since = NULL, revision = excluded.revision
            """)
        static let recordAdded = SettingsSchema.sqlite.sql("""
            INSERT INTO §audit (revision, at_ms, actor, entry, field, old_value, new_value)
            SELECT $2, $3, $4, value, 'added', NULL, 'enabled' FROM json_each($1) ORDER BY key
            """)

        func remove(_ id: String) throws(SettingsStoreError) {
            _ = try run(schema.deleteEntry, [.text(id)])
            commit.saved[id] = nil
            commit.removed.append(id)
        }

        func record(actor: String, entry: String?, field: String, old: String?, new: String?) throws(SettingsStoreError) {
            _ = try run(schema.insertAudit(rows: 1), [.integer(revision), .integer(Int64(Date().timeIntervalSince1970 * 1000)), .text(actor),
                                                      entry.map { .text($0) } ?? .null, .text(field), old.map { .text($0) } ?? .null,
                                                      new.map { .text($0) } ?? .null])
            recorded = true
        }

        func setNextBoot(_ boot: NextBoot) throws(SettingsStoreError) {
            _ = try run(schema.saveNextBoot, [.text(boot.mac), .text(boot.entry), .integer(boot.expiresAt), .text(boot.actor), .integer(boot.createdAt)])
            recorded = true
        }

        func takeNextBoot(mac: String) throws(SettingsStoreError) -> NextBoot? {
            guard let row = try run(schema.takeNextBoot, [.text(mac)]).first else { return nil }
            recorded = true
            return SQLiteSettingsStore.nextBoot(row)
        }

        func setHostRule(name: String, body: String?) throws(SettingsStoreError) -> Bool {
            recorded = true
            guard let body else { return try !run(schema.deleteHostRule, [.text(name)]).isEmpty }
            let existed = try !run(schema.deleteHostRule, [.text(name)]).isEmpty
            _ = try run(schema.saveHostRule, [.text(name), .text(body), .integer(revision)])
            return existed
        }
    }

    static func nextBoot(_ row: [SQLiteDatabase.Value]) -> NextBoot {
        NextBoot(mac: row[0].text ?? "", entry: row[1].text ?? "", expiresAt: row[2].integer ?? 0, actor: row[3].text ?? "", createdAt: row[4].integer ?? 0)
    }

    package func saveHosts(_ records: [HostRecord]) throws(SettingsStoreError) {
        guard !records.isEmpty else { return }
        try inWriteTransaction { database in
            for record in records {
                _ = try database.query(schema.saveHost, [.text(record.mac), .integer(Int64(record.firstSeen * 1000)), .integer(Int64(record.lastSeen * 1000)),
                                                         record.lastEntry.map { .text($0) } ?? .null, .integer(record.boots),
                                                         .integer(record.requests), .text(record.identity)])
            }
        }
    }

    package func hostRules() throws(SettingsStoreError) -> [String: String] {
        do {
            return try withDatabase { database in
                Dictionary(try database.query(schema.allHostRules).map { ($0[0].text ?? "", $0[1].text ?? "") }) { $1 }
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    package func hosts(limit: Int) throws(SettingsStoreError) -> [HostRecord] {
        do {
            return try withDatabase { database in
                try database.query(schema.someHosts, [.integer(Int64(limit))]).map { row in
                    HostRecord(mac: row[0].text ?? "", firstSeen: Double(row[1].integer ?? 0) / 1000, lastSeen: Double(row[2].integer ?? 0) / 1000,
                               lastEntry: row[3].text, boots: row[4].integer ?? 0, requests: row[5].integer ?? 0, identity: row[6].text ?? "")
                }
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    package func nextBoots() throws(SettingsStoreError) -> [NextBoot] {
        do {
            return try withDatabase { database in try database.query(schema.allNextBoots).map(Self.nextBoot) }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }
}
