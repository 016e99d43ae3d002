import BootScripts
import Foundation
import PXECatalog
import PXEHosts
import PXESettings
import StrictJSON

/// The machines' routes, one feature: `GET /hosts`, `GET /hosts/{mac}`,
/// `POST|DELETE /hosts/{mac}/next-boot`, `GET /boots` (all with the admin token: they list the
/// site's machines), `GET /host-rules` (every rule in force with where it comes from) and
/// `PUT|DELETE /host-rules/{name}` (the API's own rules, kept in the settings store and shared
/// by a fleet; the configuration's and the menu file's are changed there, not here).
enum HostRoute: Equatable, Sendable {
    case hosts, host(String), nextBoot(String), boots, rules, rule(String)

    /// The route of `path`, nil when it is none of these.
    init?(path: String) {
        switch path {
        case "/hosts": self = .hosts
        case "/boots": self = .boots
        case "/host-rules": self = .rules
        default:
            if path.hasPrefix("/host-rules/") {
                let name = path.dropFirst(12)
                guard !name.isEmpty, !name.contains("/") else { return nil }
                self = .rule(String(name))
                return
            }
            guard path.hasPrefix("/hosts/") else { return nil }
            let rest = path.dropFirst(7)
            if let slash = rest.firstIndex(of: "/") {
                guard rest[rest.index(after: slash)...] == "next-boot" else { return nil }
                self = .nextBoot(String(rest[..<slash]))
            } else {
                self = .host(String(rest))
            }
        }
    }

    var metricName: String {
        switch self {
        case .hosts: return "hosts"
        case .host: return "host"
        case .nextBoot: return "next_boot"
        case .boots: return "boots"
        case .rules: return "host_rules"
        case .rule: return "host_rule"
        }
    }

    /// Methods other than GET and HEAD (nil: reads only).
    var changeMethods: [String]? {
        switch self {
        case .nextBoot: return ["POST", "DELETE"]
        case .rule: return ["PUT", "DELETE"]
        default: return nil
        }
    }
}

/// The handlers of `HostRoute`: they touch the boot log, the one-shot next boots and the host
/// rules, and ask the catalog one thing (whether an entry exists and is enabled).
struct HostRoutes: Sendable {
    let bootLog: BootLog
    let nextBoots: NextBootBook
    let rules: HostRuleBook
    /// Whether container `id` is enabled for network boot; nil when it is not in the catalog.
    let isEnabled: @Sendable (String) -> Bool?
    /// The answer-file templates loaded now (a rule may name only those).
    let answerTemplates: @Sendable () -> [String]
    /// Receives one line per admin change (who did what), for the log.
    let audit: @Sendable (String) -> Void

    func respond(_ route: HostRoute, request: HTTPRequest, actor: String) throws(APIError) -> HTTPResponse {
        switch route {
        case .hosts: return listHosts()
        case let .host(mac): return try showHost(mac)
        case let .nextBoot(mac): return try nextBoot(mac, request: request, actor: actor)
        case .boots: return try listBoots(query: request.query)
        case .rules: return listHostRules()
        case let .rule(name): return try changeHostRule(name, request: request, actor: actor)
        }
    }

    static let bootsLimit = 1000
    /// The longest a one-shot may wait: thirty days.
    static let nextBootMaximumSeconds: Int64 = 30 * 86_400
    static let nextBootDefaultSeconds: Int64 = 86_400

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
        let rule = rules.effective.rule(for: summary?.machine ?? MachineIdentity(mac: mac))
        guard summary != nil || nextBoot != nil || rules.fixed.labels[mac] != nil else {
            throw APIError(.notFound, "No machine with MAC \(mac) has booted from this server since it started, and none has a next boot or labels.")
        }
        var members: [(String, JSONValue)] = []
        if let summary, case let .object(fields) = hostJSON(summary, nextBoot: nextBoot) {
            members = fields
        } else {
            members = [("mac", .string(mac)), ("next_boot", nextBoot.map(Self.nextBootJSON) ?? .null)]
        }
        members.append(("labels", .object((rules.fixed.labels[mac] ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
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
            ("first_seen", .string(CatalogJSON.iso8601Milliseconds(Date(timeIntervalSince1970: summary.firstSeen)))),
            ("last_seen", .string(CatalogJSON.iso8601Milliseconds(Date(timeIntervalSince1970: summary.lastSeen)))),
            ("last_entry", .string(orNull: summary.lastEntry)),
            ("boots", .int(Int64(summary.boots))),
            ("requests", .int(Int64(summary.requests))),
            ("next_boot", nextBoot.map(Self.nextBootJSON) ?? .null),
        ])
    }

    static func nextBootJSON(_ boot: NextBoot) -> JSONValue {
        .object([
            ("entry_id", .string(boot.entry)),
            ("expires", .string(CatalogJSON.iso8601Milliseconds(Date(timeIntervalSince1970: TimeInterval(boot.expiresAt))))),
            ("set_by", .string(boot.actor)),
            ("set_at", .string(CatalogJSON.iso8601Milliseconds(Date(timeIntervalSince1970: TimeInterval(boot.createdAt))))),
        ])
    }

    static func eventJSON(_ event: BootEvent) -> JSONValue {
        .object([
            ("id", .int(event.id)),
            ("time", .string(CatalogJSON.iso8601Milliseconds(Date(timeIntervalSince1970: event.time)))),
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
            let removed = try APIError.saving { () throws(SettingsChangeError) in try nextBoots.cancel(mac: mac, actor: actor) }
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
        guard let enabled = isEnabled(entry) else { throw .noSuchContainer }
        guard enabled else { throw APIError(.conflict, "Container \(entry) is disabled for network boot; enable it first.") }
        let expiresAt = Int64(Date().timeIntervalSince1970) + seconds
        let boot = try APIError.saving { () throws(SettingsChangeError) in try nextBoots.set(mac: mac, entry: entry, expiresAt: expiresAt, actor: actor) }
        audit("\(actor) set the next boot of \(mac) to \(entry) for \(seconds) s")
        return .json(.object([("success", .bool(true)), ("mac", .string(mac)), ("next_boot", Self.nextBootJSON(boot))]))
    }

    func listHostRules() -> HTTPResponse {
        let rules = rules.effective.rules
        return .json(.object([("rules", .array(rules.map(\.json))), ("count", .int(Int64(rules.count)))]))
    }

    /// `PUT /host-rules/{name}` with the rule (`match`, `default`, `timeout`, `entries`, `boot`,
    /// `cmdline_append`, as in `hosts.rules`); `DELETE` removes it.
    func changeHostRule(_ text: String, request: HTTPRequest, actor: String) throws(APIError) -> HTTPResponse {
        let name = text.removingPercentEncoding ?? text
        guard (1...64).contains(name.utf8.count), !name.hasPrefix("."),
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "-_.".unicodeScalars.contains($0)) }) else {
            throw APIError(.badRequest, "'\(Route.printable(text))' is not a rule name; use 1 to 64 letters, digits, '-', '_' or '.' (not first).")
        }
        if let fixed = rules.fixed.rules.first(where: { $0.name == name }) {
            let place = fixed.source == .menuFile ? "the menu file (menu.file)" : "the configuration (hosts.rules)"
            throw APIError(.conflict, "Host rule \(name) comes from \(place); change it there. Nothing was changed.")
        }
        if request.method == "DELETE" {
            guard rules.stored[name] != nil else { throw APIError(.notFound, "No host rule named \(name) was made through the API.") }
            _ = try APIError.saving { () throws(SettingsChangeError) in try rules.set(name: name, body: nil, actor: actor) }
            audit("\(actor) removed host rule \(name)")
            return .json(.object([("success", .bool(true)), ("name", .string(name)), ("removed", .bool(true))]))
        }
        try RequestBody.checkTransport(request)
        let members = try RequestBody.object(request, shape: "with match and any of default, timeout, entries, boot, cmdline_append")
        if let key = members.first(where: { $0.0 == "name" || $0.0 == "source" })?.0 {
            throw APIError(.badRequest, "Field '\(key)' is not part of the body: the rule's name is in the path and its source is the API.")
        }
        let rule: HostRule
        do {
            guard let parsed = try HostRules.parseRules(.array([.object([("name", .string(name))] + members)]), key: "rule",
                                                        isEntryID: CatalogEntry.isWellFormedID).first else { throw APIError(.badRequest, "The rule is empty.") }
            rule = parsed
        } catch let error as HostRulesError {
            let key = error.key.hasPrefix("rule[0].") ? String(error.key.dropFirst(8)) : error.key
            throw APIError(.badRequest, "Field '\(Route.printable(key))' \(error.reason).")
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.badRequest, "The rule is not valid.")
        }
        if let text = rule.policy.commandLineAppend {
            if let problem = IPXEText.commandLineProblem(text) { throw APIError(.badRequest, "Field 'cmdline_append' \(problem).") }
            // Stricter than the configuration: no character iPXE could read as syntax at all.
            if text.contains(where: { "#&;|{}".contains($0) }) {
                throw APIError(.badRequest, "Field 'cmdline_append' must not contain #, &, ;, |, { or }.")
            }
        }
        if let template = rule.policy.answers {
            let loaded = answerTemplates()
            guard loaded.contains(template) else {
                throw APIError(.badRequest, "Field 'answers' names template \(template), which provision.templates does not hold"
                               + (loaded.isEmpty ? " (no templates are loaded)." : " (it holds \(loaded.joined(separator: ", "))).") + " Nothing was changed.")
            }
        }
        var made = rule
        made.source = .api
        let others = rules.effective.rules.filter { $0.name != name }
        if let conflict = HostRules(rules: others + [made]).conflicts().first {
            throw APIError(.conflict, "The rule cannot be saved: \(conflict). Nothing was changed.")
        }
        let body = JSONValue.object(members).serializedString()
        let existed = try APIError.saving { () throws(SettingsChangeError) in try rules.set(name: name, body: body, actor: actor) }
        audit("\(actor) \(existed ? "replaced" : "made") host rule \(name)")
        return .json(made.json, status: existed ? 200 : 201)
    }
}
