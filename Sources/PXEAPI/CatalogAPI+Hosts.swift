import Foundation
import PXECatalog
import PXEHosts
import PXESettings
import StrictJSON

/// What a boot-path handler tells `CatalogAPI.handle` to put in the boot log.
struct BootEventNote: Sendable {
    var kind: BootRequestKind
    var entry: String?
    var outcome: String?
}

/// Machines: `GET /hosts`, `GET /hosts/{mac}`, `POST|DELETE /hosts/{mac}/next-boot` and
/// `GET /boots` (all with the admin token: they list the site's machines).
extension CatalogAPI {
    static let bootsLimit = 1000
    /// The longest a one-shot may wait: thirty days.
    static let nextBootMaximumSeconds: Int64 = 30 * 86_400
    static let nextBootDefaultSeconds: Int64 = 86_400

    /// Records a boot-path request (no I/O: a lock and a ring buffer).
    func recordBoot(_ note: BootEventNote, request: HTTPRequest, status: Int) {
        let machine = request.query.isEmpty ? MachineIdentity() : MachineIdentity(query: request.query)
        bootLog.record(machine, kind: note.kind, entry: note.entry, status: status, outcome: note.outcome)
    }

    /// A MAC address from the path, normalised; 400 when it is not one.
    static func pathMAC(_ text: String) throws(APIError) -> String {
        guard let mac = MachineIdentity.normalisedMAC(text.removingPercentEncoding ?? text) else {
            throw APIError(.badRequest, "'\(Route.printable(text))' is not a MAC address; write it as 52:54:00:12:34:56 or 52-54-00-12-34-56.")
        }
        return mac
    }

    func listHosts() -> HTTPResponse {
        let pending = nextBoots.pending
        let items = bootLog.hosts().map { hostJSON($0, nextBoot: pending[$0.mac]) }
        return .json(.object([("hosts", .array(items)), ("count", .int(Int64(items.count)))]))
    }

    func showHost(_ text: String) throws(APIError) -> HTTPResponse {
        let mac = try Self.pathMAC(text)
        let summary = bootLog.host(mac)
        let nextBoot = nextBoots.pending[mac]
        let rule = effectiveHostRules.rule(for: summary?.machine ?? MachineIdentity(mac: mac))
        guard summary != nil || nextBoot != nil || hostRuleBook.fixed.labels[mac] != nil else {
            throw APIError(.notFound, "No machine with MAC \(mac) has booted from this server since it started, and none has a next boot or labels.")
        }
        var members: [(String, JSONValue)] = []
        if let summary, case let .object(fields) = hostJSON(summary, nextBoot: nextBoot) {
            members = fields
        } else {
            members = [("mac", .string(mac)), ("next_boot", nextBoot.map(Self.nextBootJSON) ?? .null)]
        }
        members.append(("labels", .object((hostRuleBook.fixed.labels[mac] ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        members.append(("rule", rule.map { .object([("name", .string($0.name)), ("source", .string($0.source.rawValue))]) } ?? .null))
        members.append(("recent_boots", .array(bootLog.events(limit: 20, mac: mac).map(Self.eventJSON))))
        return .json(.object(members))
    }

    func hostJSON(_ summary: HostSummary, nextBoot: NextBoot?) -> JSONValue {
        .object([
            ("mac", .string(summary.mac)),
            ("hostname", .string(orNull: summary.machine.hostname)),
            ("uuid", .string(orNull: summary.machine.uuid)),
            ("serial", .string(orNull: summary.machine.serial)),
            ("platform", .string(orNull: summary.machine.platform)),
            ("buildarch", .string(orNull: summary.machine.buildarch)),
            ("first_seen", .string(Self.iso8601Milliseconds(Date(timeIntervalSince1970: summary.firstSeen)))),
            ("last_seen", .string(Self.iso8601Milliseconds(Date(timeIntervalSince1970: summary.lastSeen)))),
            ("last_entry", .string(orNull: summary.lastEntry)),
            ("boots", .int(Int64(summary.boots))),
            ("requests", .int(Int64(summary.requests))),
            ("next_boot", nextBoot.map(Self.nextBootJSON) ?? .null),
        ])
    }

    static func nextBootJSON(_ boot: NextBoot) -> JSONValue {
        .object([
            ("entry_id", .string(boot.entry)),
            ("expires", .string(iso8601Milliseconds(Date(timeIntervalSince1970: TimeInterval(boot.expiresAt))))),
            ("set_by", .string(boot.actor)),
            ("set_at", .string(iso8601Milliseconds(Date(timeIntervalSince1970: TimeInterval(boot.createdAt))))),
        ])
    }

    static func eventJSON(_ event: BootEvent) -> JSONValue {
        .object([
            ("id", .int(event.id)),
            ("time", .string(iso8601Milliseconds(Date(timeIntervalSince1970: event.time)))),
            ("mac", .string(orNull: event.machine.mac)),
            ("hostname", .string(orNull: event.machine.hostname)),
            ("uuid", .string(orNull: event.machine.uuid)),
            ("platform", .string(orNull: event.machine.platform)),
            ("kind", .string(event.kind.rawValue)),
            ("entry_id", .string(orNull: event.entry)),
            ("status", .int(Int64(event.status))),
            ("outcome", .string(orNull: event.outcome)),
            ("requests", .int(Int64(event.requests))),
            ("address", .string(orNull: event.address)),
        ])
    }

    /// `GET /boots?since=<event id>&limit=`: recent boot requests, newest first.
    func listBoots(query: String) throws(APIError) -> HTTPResponse {
        var since: Int64 = 0
        var limit = 100
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            let value = (parts.count > 1 ? parts[1] : "").removingPercentEncoding ?? ""
            switch parts.first {
            case "limit":
                guard let number = Int(value), (1...Self.bootsLimit).contains(number) else {
                    throw APIError(.badRequest, "Query parameter 'limit' must be an integer from 1 to \(Self.bootsLimit).")
                }
                limit = number
            case "since":
                guard value.utf8.count <= 18, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                    throw APIError(.badRequest, "Query parameter 'since' must be an event id (up to 18 digits): only newer events are answered.")
                }
                since = Int64(value) ?? 0
            default:
                continue
            }
        }
        let events = bootLog.events(since: since, limit: limit)
        return .json(.object([("boots", .array(events.map(Self.eventJSON))), ("count", .int(Int64(events.count)))]))
    }

    /// `POST /hosts/{mac}/next-boot` `{"entry": id, "expires_in": seconds}` (default a day,
    /// at most thirty); `DELETE` cancels.
    func nextBoot(_ text: String, request: HTTPRequest, actor: String) throws(APIError) -> HTTPResponse {
        let mac = try Self.pathMAC(text)
        if request.method == "DELETE" {
            let removed = try saving { () throws(SettingsChangeError) in try nextBoots.cancel(mac: mac, actor: actor) }
            guard let removed else { throw APIError(.notFound, "Machine \(mac) has no next boot to cancel.") }
            audit("\(actor) cancelled the next boot of \(mac) (entry \(removed.entry))")
            return .json(.object([("success", .bool(true)), ("mac", .string(mac)), ("cancelled", Self.nextBootJSON(removed))]))
        }
        try RequestBody.checkTransport(request)
        let fields = try RequestBody.object(request, shape: "such as {\"entry\": \"0123456789ab\", \"expires_in\": 3600}")
        var entry: String?
        var seconds = Self.nextBootDefaultSeconds
        for (key, value) in fields {
            switch key {
            case "entry":
                guard let id = value.stringValue, CatalogEntry.isWellFormedID(id) else {
                    throw APIError(.badRequest, "Field 'entry' must be a container id (12 hex digits).")
                }
                entry = id
            case "expires_in":
                guard let number = value.intValue, (1...Self.nextBootMaximumSeconds).contains(number) else {
                    throw APIError(.badRequest, "Field 'expires_in' must be a whole number of seconds from 1 to \(Self.nextBootMaximumSeconds).")
                }
                seconds = number
            default:
                throw APIError(.badRequest, "Unknown field '\(Route.printable(key))'; use entry and expires_in.")
            }
        }
        guard let entry else { throw APIError(.badRequest, "Field 'entry' is required: the id of the container to boot next.") }
        try requireEntry(entry)
        guard store.current.settings[entry]?.enabled == true else {
            throw APIError(.conflict, "Container \(entry) is disabled for network boot; enable it first.")
        }
        let expiresAt = Int64(Date().timeIntervalSince1970) + seconds
        let boot = try saving { () throws(SettingsChangeError) in try nextBoots.set(mac: mac, entry: entry, expiresAt: expiresAt, actor: actor) }
        audit("\(actor) set the next boot of \(mac) to \(entry) for \(seconds) s")
        return .json(.object([("success", .bool(true)), ("mac", .string(mac)), ("next_boot", Self.nextBootJSON(boot))]))
    }
}
