/// A write transaction's entry saves and audit records, held back and written in multi-row
/// statements of `SettingsSchema.batchRows` (a first scan of 100,000 entries is one transaction
/// of 100,000 rows). Both backends use it; each writes a batch its own way. The transaction
/// drains it before every read and before it commits, so reads see their own writes.
package struct PendingWrites<AuditRow> {
    package private(set) var saves: [(id: String, setting: PXESetting)] = []
    /// Where each id is in `saves`: one row per id and statement (an upsert may not touch a
    /// row twice).
    private var index: [String: Int] = [:]
    package private(set) var audit: [AuditRow] = []

    package init() {}

    /// Whether a batch is full (the caller drains then).
    package var isFull: Bool { saves.count >= SettingsSchema.batchRows || audit.count >= SettingsSchema.batchRows }

    package mutating func save(_ id: String, _ setting: PXESetting) {
        if let position = index[id] {
            saves[position].setting = setting
        } else {
            index[id] = saves.count
            saves.append((id, setting))
        }
    }

    package mutating func record(_ row: AuditRow) { audit.append(row) }

    /// Hands the held rows to `writeSaves` and `writeAudit` in batches of `SettingsSchema.batchSizes`
    /// (the largest that fits), saves first, and forgets them.
    package mutating func drain(writeSaves: (ArraySlice<(id: String, setting: PXESetting)>) throws -> Void,
                        writeAudit: (ArraySlice<AuditRow>) throws -> Void) rethrows {
        let (heldSaves, heldAudit) = (saves, audit)
        saves = []
        index = [:]
        audit = []
        for range in Self.batches(heldSaves.count) { try writeSaves(heldSaves[range]) }
        for range in Self.batches(heldAudit.count) { try writeAudit(heldAudit[range]) }
    }

    /// `0..<count` cut into batches of the sizes `SettingsSchema.batchSizes` has, largest first.
    package static func batches(_ count: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        while start < count {
            let size = SettingsSchema.batchSizes.first { $0 <= count - start } ?? 1
            ranges.append(start..<start + size)
            start += size
        }
        return ranges
    }
}
