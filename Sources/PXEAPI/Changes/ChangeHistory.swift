import Foundation
import PXECatalog
import PXESettings
import StrictJSON

/// `GET /audit?since=&limit=`: the settings' change history, newest first (admin token);
/// `since` is a record id, so a poller asks for what is newer than the last record it has.
struct ChangeHistory: Sendable {
    let settingsStore: any SettingsStore

    static let auditLimit = 1000

    func auditLog(query: String) throws(APIError) -> HTTPResponse {
        var auditQuery = AuditQuery(limit: 100)
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            let value = (parts.count > 1 ? parts[1] : "").removingPercentEncoding ?? ""
            switch parts.first {
            case "limit":
                guard let number = Int(value), (1...Self.auditLimit).contains(number) else {
                    throw APIError(.badRequest, "Query parameter 'limit' must be an integer from 1 to \(Self.auditLimit).")
                }
                auditQuery.limit = number
            case "since":
                // A record id: the answer holds only newer records (a console polls with the
                // newest id it has). Empty means no bound, like an absent parameter.
                guard value.utf8.count <= 18, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                    throw APIError(.badRequest, "Query parameter 'since' must be a record id (up to 18 digits): only newer records are answered.")
                }
                if !value.isEmpty { auditQuery.afterID = Int64(value) }
            default:
                continue
            }
        }
        let records: [AuditRecord]
        do {
            records = try settingsStore.audit(auditQuery)
        } catch {
            throw APIError.settingsFailure(error, prefix: "The change history could not be read", outcome: "")
        }
        let items = records.map { record in
            JSONValue.object([
                ("id", .int(record.id)),
                ("revision", .int(record.revision)),
                ("time", .string(CatalogJSON.iso8601Milliseconds(record.time))),
                ("actor", .string(record.actor)),
                ("entry_id", .string(orNull: record.entry)),
                ("field", .string(record.field)),
                ("old", .string(orNull: record.old)),
                ("new", .string(orNull: record.new)),
            ])
        }
        return .json(.object([("records", .array(items)), ("count", .int(Int64(items.count)))]))
    }
}
