import Foundation
import Locking
import PXESettings

/// The settings of a fleet in PostgreSQL (tables in the `pxe_catalog` schema). Every commit
/// takes the row lock of the revision counter, so writers on all nodes are serialised in the
/// database and revisions commit in order; each commit NOTIFYs its revision, and every node's
/// listener applies what it missed. While the database is unreachable, writes fail at once
/// (`unavailable`) and a listener thread reconnects with backoff, then reports `reconnected` so
/// the node reloads everything.
package final class PostgresSettingsStore: SettingsStore {
    private let conninfo: String
    /// False for read-only use (`scan`): the schema is taken as it is.
    private let migrates: Bool
    /// What logs may say about the database: the conninfo without a password.
    package let displayName: String
    private let schema = SettingsSchema.postgresql
    private let writer = Locked<PostgresConnection?>(nil)
    private let healthBox = Locked(SettingsStoreHealth(available: false, problem: "not connected yet", unavailableSince: Date()))
    private let stopping = Locked(false)
    /// Set once the database was unreachable: the next successful connection reports `reconnected`.
    private let missedChanges = Locked(false)
    private let lastAttempt = Locked<ContinuousClock.Instant?>(nil)
    /// Connects and migrates if the database is reachable; if it is not, the store starts
    /// unavailable and connects later. Throws only for what no retry can fix: a newer schema.
    package init(conninfo: String, migrate: Bool = true) throws(SettingsStoreError) {
        self.conninfo = conninfo
        migrates = migrate
        displayName = Self.redacted(conninfo)
        // Without libpq there is nothing to retry: refused at start, unlike an unreachable server.
        do {
            try PostgresConnection.loadLibrary()
        } catch {
            throw SettingsStoreError(.failed, error.message)
        }
        do {
            _ = try connection()
        } catch where error.kind == .newerSchema {
            throw error
        } catch {
            missedChanges.withLock { $0 = true }
        }
    }

    package var backendName: String { "postgresql" }
    package var health: SettingsStoreHealth { healthBox.withLock { $0 } }

    /// `password=...` and URI passwords removed.
    package static func redacted(_ conninfo: String) -> String {
        var text = conninfo.replacingOccurrences(of: #"password\s*=\s*('[^']*'|\S+)"#, with: "password=***", options: .regularExpression)
        text = text.replacingOccurrences(of: #"(postgres(ql)?://[^:/@]+):[^@/]*@"#, with: "$1:***@", options: .regularExpression)
        return text
    }

    private func markUnavailable(_ problem: String) {
        healthBox.withLock { health in
            if health.available { health.unavailableSince = Date() }
            health.available = false
            health.problem = problem
        }
        missedChanges.withLock { $0 = true }
    }

    private func markAvailable() {
        healthBox.withLock { health in
            if !health.available && health.unavailableSince != nil && health.problem != "not connected yet" { health.reconnects += 1 }
            health.available = true
            health.problem = nil
            health.unavailableSince = nil
        }
    }

    private func unavailable(_ failure: PostgresConnection.Failure) -> SettingsStoreError {
        SettingsStoreError(.unavailable, "The settings database (\(displayName)) is unreachable: \(failure.message).")
    }

    /// The writer connection, made (and the schema migrated) when there is none. While the
    /// database is known to be down, fails at once for a second after each attempt, so that
    /// admin requests are answered quickly.
    private func connection() throws(SettingsStoreError) -> PostgresConnection {
        try writer.withLock { current throws(SettingsStoreError) -> PostgresConnection in
            if let current, current.isConnected { return current }
            current = nil
            if !healthBox.withLock({ $0.available }), let last = lastAttempt.withLock({ $0 }), ContinuousClock.now - last < .seconds(1) {
                throw SettingsStoreError(.unavailable, "The settings database (\(displayName)) is unreachable: \(healthBox.withLock { $0.problem ?? "not connected" }).")
            }
            lastAttempt.withLock { $0 = .now }
            do {
                let made = try PostgresConnection(conninfo: conninfo, connectTimeoutSeconds: 3)
                if migrates { try migrate(made) }
                current = made
                markAvailable()
                return made
            } catch let failure as PostgresConnection.Failure {
                markUnavailable(failure.message)
                throw failure.isConnectionLost ? unavailable(failure) : SettingsStoreError(.failed, "The settings database (\(displayName)) refused the schema: \(failure.message).")
            } catch let error as SettingsStoreError {
                throw error
            } catch {
                throw SettingsStoreError(.failed, "\(error)")
            }
        }
    }

    /// Runs `body` on the writer connection; a lost connection marks the store unavailable.
    private func withConnection<Result>(_ body: (PostgresConnection) throws -> Result) throws -> Result {
        let connection = try connection()
        do {
            return try writer.withLock { _ in try body(connection) }
        } catch let failure as PostgresConnection.Failure {
            if failure.isConnectionLost || !connection.isConnected {
                writer.withLock { $0 = nil }
                markUnavailable(failure.message)
                throw unavailable(failure)
            }
            if failure.isOutOfSpace { throw SettingsStoreError(.outOfSpace, "The settings database (\(displayName)) is out of disk space: \(failure.message).") }
            throw SettingsStoreError(.failed, "The settings database (\(displayName)) refused a statement: \(failure.message).")
        }
    }

    /// Creates or upgrades the schema; an advisory lock keeps nodes starting together from
    /// migrating at once. Refuses a schema newer than this pxe-catalog's.
    private func migrate(_ connection: PostgresConnection) throws {
        try connection.query("BEGIN")
        do {
            try connection.query("SELECT pg_advisory_xact_lock(7301188842)")
            try connection.query("CREATE SCHEMA IF NOT EXISTS pxe_catalog")
            for statement in schema.createMeta { try connection.query(statement) }
            let found = Int64(try connection.query(schema.schemaVersion).first?.first.flatMap { $0 } ?? "0") ?? 0
            guard found <= SettingsSchema.currentVersion else { throw SettingsSchema.newerSchemaError(found: found, database: displayName) }
            if found < SettingsSchema.currentVersion {
                for version in (found + 1)...SettingsSchema.currentVersion {
                    for statement in schema.migration(to: version) { try connection.query(statement) }
                }
                try connection.query(schema.setSchemaVersion, [String(SettingsSchema.currentVersion)])
            }
            try connection.query("COMMIT")
        } catch {
            _ = try? connection.query("ROLLBACK")
            throw error
        }
    }

    /// `pxe-catalog db migrate`: connect (now, not later) and migrate.
    package func migrateNow() throws(SettingsStoreError) {
        _ = try connection()
    }

    package func load() throws(SettingsStoreError) -> (settings: PXESettings, revision: Int64) {
        do {
            return try withConnection { connection in
                try connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                defer { _ = try? connection.query("COMMIT") }
                let revision = Int64(try connection.query(schema.revision).first?.first.flatMap { $0 } ?? "0") ?? 0
                return (try Self.settings(connection.query(schema.allEntries)), revision)
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    static func setting(_ row: ArraySlice<String?>) -> PXESetting {
        let values = Array(row)
        return PXESetting(enabled: values[0] == "1", bootOrder: Int(values[1] ?? "0") ?? 0, menuName: values[2],
                          menuDescription: values[3], commandLine: values[4], missingSince: values[5].flatMap { Int64($0) },
                          revision: Int64(values[6] ?? "0") ?? 0)
    }

    static func settings(_ rows: [[String?]]) -> PXESettings {
        var byID: [String: PXESetting] = [:]
        byID.reserveCapacity(rows.count)
        for row in rows { if let id = row[0] { byID[id] = setting(row[1...]) } }
        return PXESettings(byID: byID)
    }

    package func write<Result>(_ change: (any SettingsTransaction) throws -> Result) throws -> (result: Result, commit: SettingsCommit) {
        try withConnection { connection in
            try connection.query("BEGIN")
            do {
                let revision = Int64(try connection.query(schema.nextRevision).first?.first.flatMap { $0 } ?? "1") ?? 1
                let transaction = Transaction(connection: connection, schema: schema, revision: revision)
                let result = try change(transaction)
                try transaction.flush()
                if transaction.commit.isEmpty && !transaction.recorded {
                    try connection.query("ROLLBACK")
                    return (result, SettingsCommit(revision: revision - 1))
                }
                try connection.query("SELECT pg_notify($1, $2)", [SettingsSchema.channel, String(revision)])
                try connection.query("COMMIT")
                return (result, transaction.commit)
            } catch {
                _ = try? connection.query("ROLLBACK")
                throw error
            }
        }
    }

    package func changes(since revision: Int64) throws(SettingsStoreError) -> SettingsCommit {
        do {
            return try withConnection { connection in
                try connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                defer { _ = try? connection.query("COMMIT") }
                let latest = Int64(try connection.query(schema.revision).first?.first.flatMap { $0 } ?? "0") ?? 0
                let saved = Self.settings(try connection.query(schema.entriesChanged, [String(revision)])).byID
                let forgotten = try connection.query(schema.forgottenSince, [String(revision)]).compactMap { $0.first.flatMap { $0 } }
                let removed = try forgotten.filter { try connection.query(schema.entry, [$0]).isEmpty }
                return SettingsCommit(revision: latest, saved: saved, removed: removed)
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    package func audit(_ query: AuditQuery) throws(SettingsStoreError) -> [AuditRecord] {
        do {
            return try withConnection { connection in
                try connection.query(schema.auditQuery, [String(query.afterID ?? 0), String(query.since.map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0),
                                                          String(query.limit)]).map { row in
                    AuditRecord(id: Int64(row[0] ?? "0") ?? 0, revision: Int64(row[1] ?? "0") ?? 0,
                                time: Date(timeIntervalSince1970: (Double(row[2] ?? "0") ?? 0) / 1000), actor: row[3] ?? "",
                                entry: row[4], field: row[5] ?? "", old: row[6], new: row[7])
                }
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    /// The listener: its own connection LISTENing on the channel; reconnects with backoff
    /// (0.25 s doubling to 8 s) after any failure and reports what happened.
    package func watch(_ handler: @escaping @Sendable (SettingsStoreEvent) -> Void) {
        let thread = Thread { [weak self] in
            var backoff = 0.25
            var reportedLoss = false
            while let store = self, !store.stopping.withLock({ $0 }) {
                do {
                    let listener = try PostgresConnection(conninfo: store.conninfo, connectTimeoutSeconds: 3)
                    try listener.query("LISTEN \(SettingsSchema.channel)")
                    // Changes committed before LISTEN took effect are caught up at once.
                    let revision = Int64(try listener.query(store.schema.revision).first?.first.flatMap { $0 } ?? "0") ?? 0
                    store.markAvailable()
                    backoff = 0.25
                    reportedLoss = false
                    if store.missedChanges.withLock({ missed in defer { missed = false }; return missed }) {
                        handler(.reconnected)
                    } else {
                        handler(.changed(revision: revision))
                    }
                    while !store.stopping.withLock({ $0 }) {
                        for payload in try listener.notifications(timeoutMilliseconds: 500) {
                            if let revision = Int64(payload) { handler(.changed(revision: revision)) }
                        }
                    }
                    return
                } catch {
                    let problem = (error as? PostgresConnection.Failure)?.message ?? "\(error)"
                    store.markUnavailable(problem)
                    if !reportedLoss {
                        handler(.lost("The settings database (\(store.displayName)) is unreachable: \(problem)."))
                        reportedLoss = true
                    }
                }
                let wait = backoff
                backoff = min(backoff * 2, 8)
                var waited = 0.0
                while waited < wait, let store = self, !store.stopping.withLock({ $0 }) {
                    usleep(50_000)
                    waited += 0.05
                }
            }
        }
        thread.name = "settings-listen"
        thread.start()
    }

    package func close() {
        stopping.withLock { $0 = true }
        writer.withLock { $0 = nil }
    }

    /// Saves and audit records are buffered (`PendingWrites`); reads and the commit flush them first.
    private final class Transaction: SettingsTransaction {
        let connection: PostgresConnection
        let schema: SettingsSchema
        let revision: Int64
        var commit: SettingsCommit
        var recorded = false
        private var pending = PendingWrites<[String?]>()

        init(connection: PostgresConnection, schema: SettingsSchema, revision: Int64) {
            self.connection = connection
            self.schema = schema
            self.revision = revision
            commit = SettingsCommit(revision: revision)
        }

        private func run(_ sql: String, _ values: [String?] = []) throws -> [[String?]] {
            try connection.query(sql, values)
        }

        func flush() throws {
            try pending.drain(writeSaves: { batch in
                var values: [String?] = []
                values.reserveCapacity(batch.count * 8)
                for (id, setting) in batch {
                    let row = setting.rowValues
                    values += [id, String(row.enabled), String(row.bootOrder), row.name, row.description, row.commandLine,
                               row.missingSince.map(String.init), String(revision)]
                }
                _ = try run(schema.saveEntries(rows: batch.count), values)
            }, writeAudit: { batch in
                _ = try run(schema.insertAudit(rows: batch.count), batch.flatMap { $0 })
            })
        }

        private func guarded<T>(_ body: () throws -> T) throws(SettingsStoreError) -> T {
            do {
                return try body()
            } catch let error as SettingsStoreError {
                throw error
            } catch let failure as PostgresConnection.Failure {
                throw SettingsStoreError(failure.isConnectionLost ? .unavailable : failure.isOutOfSpace ? .outOfSpace : .failed,
                                         "The settings database refused a statement: \(failure.message).")
            } catch {
                throw SettingsStoreError(.failed, "\(error)")
            }
        }

        func setting(_ id: String) throws(SettingsStoreError) -> PXESetting? {
            try guarded {
                try flush()
                return try run(schema.entry, [id]).first.map { PostgresSettingsStore.setting($0[...]) }
            }
        }

        func allSettings() throws(SettingsStoreError) -> PXESettings {
            try guarded {
                try flush()
                return PostgresSettingsStore.settings(try run(schema.allEntries))
            }
        }

        func reserve(saves count: Int) { commit.saved.reserveCapacity(commit.saved.count + count) }

        func save(_ id: String, _ setting: PXESetting) throws(SettingsStoreError) {
            var stored = setting
            stored.revision = revision
            pending.save(id, stored)
            commit.saved[id] = stored
            if !commit.removed.isEmpty { commit.removed.removeAll { $0 == id } }
            if pending.isFull { try guarded { try flush() } }
        }

        func remove(_ id: String) throws(SettingsStoreError) {
            try guarded {
                try flush()
                _ = try run(schema.deleteEntry, [id])
            }
            commit.saved[id] = nil
            commit.removed.append(id)
        }

        func record(actor: String, entry: String?, field: String, old: String?, new: String?) throws(SettingsStoreError) {
            pending.record([String(revision), String(Int64(Date().timeIntervalSince1970 * 1000)), actor, entry, field, old, new])
            recorded = true
            if pending.isFull { try guarded { try flush() } }
        }

        func setNextBoot(_ boot: NextBoot) throws(SettingsStoreError) {
            try guarded {
                _ = try run(schema.saveNextBoot, [boot.mac, boot.entry, String(boot.expiresAt), boot.actor, String(boot.createdAt)])
            }
            recorded = true
        }

        func takeNextBoot(mac: String) throws(SettingsStoreError) -> NextBoot? {
            let row = try guarded { try run(schema.takeNextBoot, [mac]).first }
            guard let row else { return nil }
            recorded = true
            return PostgresSettingsStore.nextBoot(row)
        }

        func setHostRule(name: String, body: String?) throws(SettingsStoreError) -> Bool {
            recorded = true
            let existed = try guarded { try !run(schema.deleteHostRule, [name]).isEmpty }
            if let body { try guarded { _ = try run(schema.saveHostRule, [name, body, String(revision)]) } }
            return existed
        }
    }

    static func nextBoot(_ row: [String?]) -> NextBoot {
        NextBoot(mac: row[0] ?? "", entry: row[1] ?? "", expiresAt: Int64(row[2] ?? "0") ?? 0, actor: row[3] ?? "",
                 createdAt: Int64(row[4] ?? "0") ?? 0)
    }

    package func saveHosts(_ records: [HostRecord]) throws(SettingsStoreError) {
        guard !records.isEmpty else { return }
        do {
            try withConnection { connection in
                try connection.query("BEGIN")
                do {
                    for record in records {
                        try connection.query(schema.saveHost, [record.mac, String(Int64(record.firstSeen * 1000)), String(Int64(record.lastSeen * 1000)),
                                                               record.lastEntry, String(record.boots), String(record.requests), record.identity])
                    }
                    try connection.query("COMMIT")
                } catch {
                    _ = try? connection.query("ROLLBACK")
                    throw error
                }
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    package func hostRules() throws(SettingsStoreError) -> [String: String] {
        do {
            return try withConnection { connection in
                Dictionary(try connection.query(schema.allHostRules).map { ($0[0] ?? "", $0[1] ?? "") }) { $1 }
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    package func hosts(limit: Int) throws(SettingsStoreError) -> [HostRecord] {
        do {
            return try withConnection { connection in
                try connection.query(schema.someHosts, [String(limit)]).map { row in
                    HostRecord(mac: row[0] ?? "", firstSeen: Double(Int64(row[1] ?? "0") ?? 0) / 1000, lastSeen: Double(Int64(row[2] ?? "0") ?? 0) / 1000,
                               lastEntry: row[3], boots: Int64(row[4] ?? "0") ?? 0, requests: Int64(row[5] ?? "0") ?? 0, identity: row[6] ?? "")
                }
            }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }

    package func nextBoots() throws(SettingsStoreError) -> [NextBoot] {
        do {
            return try withConnection { connection in try connection.query(schema.allNextBoots).map(Self.nextBoot) }
        } catch {
            throw SettingsStoreError.wrapping(error)
        }
    }
}
