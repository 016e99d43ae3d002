/// The settings database's tables and statements, the same for SQLite and PostgreSQL but for
/// a table prefix (PostgreSQL keeps them in a `pxe_catalog` schema, so a shared database can
/// hold other things), an auto-increment key, and placeholders (`$1` stays for PostgreSQL,
/// becomes `?1` for SQLite).
///
/// Tables: `meta` (schema_version, revision), `entries` (one row per entry id, with the
/// revision of the change that last wrote it), `audit` (one row per changed field) and, from
/// version 2, `next_boots` (one-shot boots per machine), from version 3 `hosts` (a summary per
/// machine that booted: counts added by every node) and `host_rules` (rules made through the API,
/// as their JSON).
package struct SettingsSchema: Sendable {
    /// The schema version this pxe-catalog writes; a database at a higher one is refused.
    package static let currentVersion: Int64 = 3
    /// PostgreSQL channel each commit notifies (payload: the revision).
    package static let channel = "pxe_catalog_settings"

    package let prefix: String
    package let autoIncrementKey: String
    package let numberedPlaceholder: String

    package static let sqlite = SettingsSchema(prefix: "", autoIncrementKey: "INTEGER PRIMARY KEY AUTOINCREMENT", numberedPlaceholder: "?")
    package static let postgresql = SettingsSchema(prefix: "pxe_catalog.", autoIncrementKey: "BIGSERIAL PRIMARY KEY", numberedPlaceholder: "$")

    /// Rows per multi-row statement, largest first: a transaction's buffered saves and audit
    /// records are written in batches of these sizes only (437 rows: 8 x 50 + 37 x 1), so each
    /// backend keeps a few prepared statements rather than one per remainder.
    package static let batchSizes = [500, 50, 1]
    package static var batchRows: Int { batchSizes[0] }

    // Every statement is made once, here: a refresh that adopts 10,000 new entries runs the
    // same few statements 20,000 times, and each prepared statement is found by its text.
    package let createMeta: [String]
    package let allHostRules: String
    package let saveHostRule: String
    package let deleteHostRule: String
    package let someHosts: String
    /// Adds a node's sightings: counts add, the later sighting's entry and identity win.
    package let saveHost: String
    package let schemaVersion: String
    package let setSchemaVersion: String
    package let revision: String
    /// Takes the store's write lock (the row lock on the counter) and the next revision.
    package let nextRevision: String
    package let entry: String
    package let allEntries: String
    package let entriesChanged: String
    package let forgottenSince: String
    package let deleteEntry: String
    package let allNextBoots: String
    package let saveNextBoot: String
    package let takeNextBoot: String
    /// Upserts of entries and inserts of audit records, by rows (each of `batchSizes`).
    private let saveEntryBatches: [Int: String]
    private let insertAuditBatches: [Int: String]
    package let auditQuery: String

    package init(prefix: String, autoIncrementKey: String, numberedPlaceholder: String) {
        self.prefix = prefix
        self.autoIncrementKey = autoIncrementKey
        self.numberedPlaceholder = numberedPlaceholder
        func sql(_ template: String) -> String { Self.render(template, prefix: prefix, placeholder: numberedPlaceholder) }
        // The two-argument minimum and maximum (SQLite's scalar min/max, PostgreSQL's LEAST/GREATEST).
        let least = prefix.isEmpty ? "min" : "LEAST", greatest = prefix.isEmpty ? "max" : "GREATEST"
        createMeta = [sql("CREATE TABLE IF NOT EXISTS §meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)"),
                      sql("INSERT INTO §meta (key, value) VALUES ('schema_version', 0), ('revision', 0) ON CONFLICT (key) DO NOTHING")]
        allHostRules = sql("SELECT name, body FROM §host_rules ORDER BY name")
        saveHostRule = sql("INSERT INTO §host_rules (name, body, revision) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET body = excluded.body, revision = excluded.revision")
        deleteHostRule = sql("DELETE FROM §host_rules WHERE name = $1 RETURNING name")
        someHosts = sql("SELECT \(Self.hostColumns) FROM §hosts ORDER BY last_seen_ms DESC, mac LIMIT $1")
        saveHost = sql("""
            INSERT INTO §hosts AS h (\(Self.hostColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (mac) DO UPDATE SET first_seen_ms = \(least)(h.first_seen_ms, excluded.first_seen_ms),
                last_seen_ms = \(greatest)(h.last_seen_ms, excluded.last_seen_ms),
                last_entry = CASE WHEN excluded.last_seen_ms >= h.last_seen_ms THEN COALESCE(excluded.last_entry, h.last_entry)
                                  ELSE COALESCE(h.last_entry, excluded.last_entry) END,
                identity = CASE WHEN excluded.last_seen_ms >= h.last_seen_ms THEN excluded.identity ELSE h.identity END,
                boots = h.boots + excluded.boots, requests = h.requests + excluded.requests
            """)
        schemaVersion = sql("SELECT value FROM §meta WHERE key = 'schema_version'")
        setSchemaVersion = sql("UPDATE §meta SET value = $1 WHERE key = 'schema_version'")
        revision = sql("SELECT value FROM §meta WHERE key = 'revision'")
        nextRevision = sql("UPDATE §meta SET value = value + 1 WHERE key = 'revision' RETURNING value")
        entry = sql("SELECT \(Self.columns) FROM §entries WHERE id = $1")
        allEntries = sql("SELECT id, \(Self.columns) FROM §entries")
        entriesChanged = sql("SELECT id, \(Self.columns) FROM §entries WHERE revision > $1")
        forgottenSince = sql("SELECT DISTINCT entry FROM §audit WHERE revision > $1 AND field = 'forgotten' AND entry IS NOT NULL")
        deleteEntry = sql("DELETE FROM §entries WHERE id = $1")
        allNextBoots = sql("SELECT \(Self.nextBootColumns) FROM §next_boots ORDER BY mac")
        saveNextBoot = sql("""
            INSERT INTO §next_boots (\(Self.nextBootColumns)) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (mac) DO UPDATE SET entry = excluded.entry, expires_at = excluded.expires_at,
                actor = excluded.actor, created_at = excluded.created_at
            """)
        takeNextBoot = sql("DELETE FROM §next_boots WHERE mac = $1 RETURNING \(Self.nextBootColumns)")
        saveEntryBatches = Dictionary(uniqueKeysWithValues: Self.batchSizes.map { ($0, sql(Self.saveEntriesTemplate(rows: $0))) })
        insertAuditBatches = Dictionary(uniqueKeysWithValues: Self.batchSizes.map { ($0, sql(Self.insertAuditTemplate(rows: $0))) })
        auditQuery = sql("""
            SELECT id, revision, at_ms, actor, entry, field, old_value, new_value FROM §audit
            WHERE id > $1 AND at_ms >= $2 ORDER BY id DESC LIMIT $3
            """)
    }

    /// `template` with `§` replaced by the table prefix and `$` by the placeholder sign (by
    /// scalars: no locale-aware search).
    package static func render(_ template: String, prefix: String, placeholder: String) -> String {
        var text = ""
        text.reserveCapacity(template.utf8.count + 64)
        for scalar in template.unicodeScalars {
            switch scalar {
            case "§": text += prefix
            case "$": text += placeholder
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text
    }

    package func sql(_ template: String) -> String { Self.render(template, prefix: prefix, placeholder: numberedPlaceholder) }

    /// The statements that bring the schema from version `n - 1` to `n`, for n in 1...current.
    package func migration(to version: Int64) -> [String] {
        switch version {
        case 1:
            return [
                sql("""
                CREATE TABLE §entries (id TEXT PRIMARY KEY, enabled INTEGER NOT NULL, boot_order INTEGER NOT NULL,
                    menu_name TEXT, menu_description TEXT, cmdline TEXT, missing_since BIGINT, revision BIGINT NOT NULL)
                """),
                sql("CREATE INDEX entries_revision ON §entries (revision)"),
                sql("""
                CREATE TABLE §audit (id \(autoIncrementKey), revision BIGINT NOT NULL, at_ms BIGINT NOT NULL, actor TEXT NOT NULL,
                    entry TEXT, field TEXT NOT NULL, old_value TEXT, new_value TEXT)
                """),
                sql("CREATE INDEX audit_revision ON §audit (revision)"),
            ]
        case 2:
            return [
                sql("""
                CREATE TABLE §next_boots (mac TEXT PRIMARY KEY, entry TEXT NOT NULL, expires_at BIGINT NOT NULL,
                    actor TEXT NOT NULL, created_at BIGINT NOT NULL)
                """),
            ]
        case 3:
            return [
                sql("""
                CREATE TABLE §hosts (mac TEXT PRIMARY KEY, first_seen_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL,
                    last_entry TEXT, boots BIGINT NOT NULL, requests BIGINT NOT NULL, identity TEXT NOT NULL)
                """),
                sql("CREATE INDEX hosts_last_seen ON §hosts (last_seen_ms)"),
                sql("CREATE TABLE §host_rules (name TEXT PRIMARY KEY, body TEXT NOT NULL, revision BIGINT NOT NULL)"),
            ]
        default:
            return []
        }
    }

    package static let hostColumns = "mac, first_seen_ms, last_seen_ms, last_entry, boots, requests, identity"
    package static let columns = "enabled, boot_order, menu_name, menu_description, cmdline, missing_since, revision"
    package static let nextBootColumns = "mac, entry, expires_at, actor, created_at"

    /// An upsert of `rows` entries (8 values each, in `columns` order after the id).
    package func saveEntries(rows: Int) -> String {
        saveEntryBatches[rows] ?? sql(Self.saveEntriesTemplate(rows: rows))
    }

    /// An insert of `rows` audit records (7 values each).
    package func insertAudit(rows: Int) -> String {
        insertAuditBatches[rows] ?? sql(Self.insertAuditTemplate(rows: rows))
    }

    private static func saveEntriesTemplate(rows: Int) -> String {
        let values = (0..<rows).map { row in
            "(" + (1...8).map { "$\(row * 8 + $0)" }.joined(separator: ", ") + ")"
        }.joined(separator: ", ")
        return """
            INSERT INTO §entries (id, \(columns)) VALUES \(values)
            ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, boot_order = excluded.boot_order,
                menu_name = excluded.menu_name, menu_description = excluded.menu_description, cmdline = excluded.cmdline,
                missing_since = excluded.missing_since, revision = excluded.revision
            """
    }

    private static func insertAuditTemplate(rows: Int) -> String {
        let values = (0..<rows).map { row in "(" + (1...7).map { "$\(row * 7 + $0)" }.joined(separator: ", ") + ")" }.joined(separator: ", ")
        return "INSERT INTO §audit (revision, at_ms, actor, entry, field, old_value, new_value) VALUES \(values)"
    }

    /// The "newer schema" refusal, naming both versions.
    package static func newerSchemaError(found: Int64, database: String) -> SettingsStoreError {
        SettingsStoreError(.newerSchema, "The settings database \(database) has schema version \(found), newer than this pxe-catalog's \(currentVersion); upgrade pxe-catalog (or point state.* at another database). Nothing was changed.")
    }
}

/// The values of one `entries` row, in `SettingsSchema.columns` order after the id.
extension PXESetting {
    package var rowValues: (enabled: Int64, bootOrder: Int64, name: String?, description: String?, commandLine: String?, missingSince: Int64?) {
        (enabled ? 1 : 0, Int64(bootOrder), menuName, menuDescription, commandLine, missingSince)
    }
}

/// The schema version this pxe-catalog's settings databases are at after migration.
package let settingsSchemaVersion = SettingsSchema.currentVersion
