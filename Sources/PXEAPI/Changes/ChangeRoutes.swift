import BootScripts
import PXECatalog
import PXESettings
import StrictJSON

/// The admin's changes: `POST /catalog/refresh`, `POST /pxe/{id}/toggle`, `POST /pxe/{id}/menu`,
/// and their history, `GET /audit`.
enum ChangeRoute: Equatable, Sendable {
    case refresh, toggle(String), editMenu(String), history

    init?(path: String) {
        switch path {
        case "/catalog/refresh": self = .refresh
        case "/audit": self = .history
        default:
            guard let (id, tail) = Route.entryPath(path) else { return nil }
            switch tail {
            case "toggle": self = .toggle(id)
            case "menu": self = .editMenu(id)
            default: return nil
            }
        }
    }

    var metricName: String {
        switch self {
        case .refresh: return "refresh"
        case .toggle: return "toggle"
        case .editMenu: return "edit_menu"
        case .history: return "audit"
        }
    }

    /// Whether the route changes state (the history only reads it).
    var isChange: Bool { self != .history }
}

/// The admin endpoints that change state: refresh, toggle, menu settings. Each is authorised by
/// `CatalogAPI.respond` before it runs and writes one audit line.
struct ChangeRoutes: Sendable {
    /// Rescanned by `POST /catalog/refresh`; read to check that an entry exists.
    let store: CatalogStore
    /// The entries' settings: admin changes go here and come back (not through the catalog).
    let settings: SettingsReplica
    /// Receives one line per admin change (who did what), for the log.
    let audit: @Sendable (String) -> Void
    let history: ChangeHistory

    func respond(_ route: ChangeRoute, request: HTTPRequest, actor: String) throws(APIError) -> HTTPResponse {
        switch route {
        case .refresh: return try refresh(actor: actor)
        case let .toggle(id): return try toggle(id: id, request: request, actor: actor)
        case let .editMenu(id): return try editMenu(id: id, request: request, actor: actor)
        case .history: return try history.auditLog(query: request.query)
        }
    }

    static let menuNameLimit = 80
    static let menuDescriptionLimit = 200

    func refresh(actor: String) throws(APIError) -> HTTPResponse {
        let summary = store.refresh()
        audit("\(actor) refreshed the catalog: \(summary.count) containers, \(summary.added) added, \(summary.removed) removed")
        if let error = summary.settingsError {
            throw APIError.settingsFailure(error, prefix: "The catalog was rescanned, but the settings of its new containers could not be saved",
                                       outcome: "Their defaults are served from memory and saved at the next refresh.")
        }
        var message = "Catalog refreshed: \(summary.count) containers (\(summary.added) added, \(summary.removed) removed, \(summary.invalid) invalid)."
        if !summary.rootProblems.isEmpty {
            message += " \(summary.rootProblems.count) catalog root(s) could not be read; see the server log."
        }
        return .json(.object([
            ("success", .bool(true)),
            ("count", .int(Int64(summary.count))),
            ("message", .string(message)),
            ("added", .int(Int64(summary.added))),
            ("removed", .int(Int64(summary.removed))),
            ("invalid", .int(Int64(summary.invalid))),
        ]))
    }

    /// `POST /pxe/{id}/toggle`, optionally with `{"enabled": bool}` (no body: enable).
    func toggle(id: String, request: HTTPRequest, actor: String) throws(APIError) -> HTTPResponse {
        try RequestBody.checkTransport(request)
        try requireEntry(id)
        var enabled = true
        if !RequestBody.isEmpty(request) {
            let fields = try RequestBody.object(request, shape: "such as {\"enabled\": true}")
            if let value = fields.first(where: { $0.0 == "enabled" })?.1 {
                guard case let .bool(flag) = value else {
                    throw APIError(.badRequest, "Field 'enabled' must be true or false, not a \(value.typeName).")
                }
                enabled = flag
            }
        }
        let expected = try Self.expectedRevision(request)
        let setting = try APIError.saving { () throws(SettingsChangeError) in
            try settings.setEnabled(enabled, id: id, actor: actor, expectedRevision: expected)
        }
        audit("\(actor) set pxe_enabled=\(setting.enabled) on \(id)")
        var response = HTTPResponse.json(.object([("success", .bool(true)), ("entry_id", .string(id)), ("pxe_enabled", .bool(setting.enabled)),
                                                  ("revision", .int(setting.revision))]))
        response.headers.append(("ETag", Self.etag(setting.revision)))
        return response
    }

    /// `POST /pxe/{id}/menu` with any of `name`, `description`, `cmdline` (string or null to
    /// reset) and `boot_order` (non-negative integer). Unknown fields are refused so typos do not
    /// pass silently.
    func editMenu(id: String, request: HTTPRequest, actor: String) throws(APIError) -> HTTPResponse {
        try RequestBody.checkTransport(request)
        // The entry as the change saw it: a refresh may remove it meanwhile.
        let entry = try requireEntry(id)
        let fields = try RequestBody.object(request, shape: "with any of name, description, cmdline, boot_order")
        var name = FieldChange<String>.keep
        var description = FieldChange<String>.keep
        var commandLine = FieldChange<String>.keep
        var bootOrder: Int?
        for (key, value) in fields {
            switch key {
            case "name":
                name = try RequestBody.textChange(value, field: key, limit: Self.menuNameLimit)
            case "description":
                description = try RequestBody.textChange(value, field: key, limit: Self.menuDescriptionLimit)
            case "cmdline":
                switch value {
                case .null: commandLine = .reset
                case let .string(text):
                    if let problem = IPXEText.commandLineProblem(text) { throw APIError(.badRequest, "Field 'cmdline' \(problem).") }
                    commandLine = .set(text)
                default:
                    throw APIError(.badRequest, "Field 'cmdline' must be a string or null, not a \(value.typeName).")
                }
            case "boot_order":
                // An integer as JSON Schema has it: 3 and 3.0 are the same number.
                guard let order = value.intValue, order >= 0, order <= 1_000_000 else {
                    throw APIError(.badRequest, "Field 'boot_order' must be a non-negative integer.")
                }
                bootOrder = Int(order)
            default:
                throw APIError(.badRequest, "Unknown field '\(Route.printable(key))'; use name, description, cmdline or boot_order.")
            }
        }
        let expected = try Self.expectedRevision(request)
        let setting = try APIError.saving { () throws(SettingsChangeError) in
            try settings.updateMenu(id: id, name: name, description: description, commandLine: commandLine, bootOrder: bootOrder,
                                    actor: actor, expectedRevision: expected)
        }
        audit("\(actor) changed the menu entry of \(id): \(fields.map(\.0).joined(separator: ", "))")
        var item = CatalogJSON.pxe(entry, setting, boot: store.current.bootStatus(id))
        if case let .object(members) = item { item = .object(members + [("pxe_enabled", .bool(setting.enabled)), ("valid", .bool(entry.isValid))]) }
        var response = HTTPResponse.json(item)
        response.headers.append(("ETag", Self.etag(setting.revision)))
        return response
    }

    @discardableResult
    func requireEntry(_ id: String) throws(APIError) -> CatalogEntry {
        guard CatalogEntry.isWellFormedID(id), let entry = store.current.snapshot.entry(id: id) else { throw .noSuchContainer }
        return entry
    }

    static func expectedRevision(_ request: HTTPRequest) throws(APIError) -> Int64? {
        guard var value = request.headers["if-match"]?.trimmingSpaces(), value != "*" else { return nil }
        if value.hasPrefix("W/") { value.removeFirst(2) }
        if value.count >= 2, value.first == "\"", value.last == "\"" { value = String(value.dropFirst().dropLast()) }
        guard (1...18).contains(value.utf8.count), value.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let revision = Int64(value) else {
            throw APIError(.badRequest, "If-Match must name an entry revision such as \"12\" (the revision field, or the ETag of a previous answer).")
        }
        return revision
    }

    /// An entry revision as an entity tag.
    static func etag(_ revision: Int64) -> String { "\"\(revision)\"" }
}
