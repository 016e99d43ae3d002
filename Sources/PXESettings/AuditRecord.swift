import Foundation

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
