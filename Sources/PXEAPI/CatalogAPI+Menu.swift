import BootScripts
import PXECatalog
import StrictJSON

/// The iPXE scripts and the menu settings endpoint.
extension CatalogAPI {
    static let menuNameLimit = 80
    static let menuDescriptionLimit = 200

    func bootScript() -> HTTPResponse {
        .text(IPXEScripts.bootScript(options: context.menu))
    }

    /// The absolute base `sanboot` needs: the configured public base URL, else one built from
    /// the request's Host header (validated), else nil.
    func sanBaseURL(_ request: HTTPRequest) -> String? {
        if let base = context.menu.publicBaseURL {
            var trimmed = base
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            return trimmed
        }
        return IPXEScripts.baseURL(fromHost: request.headers["host"])
    }

    func menuScript(_ request: HTTPRequest) -> HTTPResponse {
        let revision = store.revision
        let base = sanBaseURL(request)
        if let cached = menuCache.withLock({ $0?.key == revision && $0?.base == base ? $0?.response : nil }) { return cached }
        let state = store.current
        let context = self.context
        let entries = Self.pxeEntries(state).compactMap { Self.menuEntry($0.0, $0.1, state: state, context: context) }
        let response = HTTPResponse.text(IPXEScripts.menuScript(entries, options: context.menu, sanBaseURL: base))
        menuCache.withLock { $0 = (state.revisionKey, base, response) }
        return response
    }

    /// An enabled, valid entry's script: its boot commands, or (not bootable, not ready) a
    /// script that prints why and returns to the firmware.
    func entryScript(id: String, request: HTTPRequest) -> HTTPResponse {
        let state = store.current
        guard CatalogEntry.isWellFormedID(id),
              let (entry, setting) = Self.pxeEntries(state).first(where: { $0.0.id == id }) else {
            return .error(404, "No bootable container with that id: it is unknown, invalid or disabled.")
        }
        let status = state.bootStatus(id)
        let menuEntry = Self.menuEntry(entry, setting, state: state, context: context)
            ?? MenuEntry(id: id, name: setting.menuName ?? entry.displayName, size: entry.size, distro: entry.metadata.distro,
                         boot: .notReady(reason: status.problem ?? "it boots nothing"))
        return .text(IPXEScripts.entryScript(menuEntry, options: context.menu, sanBaseURL: sanBaseURL(request)))
    }

    /// What the menu offers for an entry: its boot when ready and bootable, a "being prepared"
    /// line while pending, nothing when it cannot boot (failed, not prepared, boots nothing).
    static func menuEntry(_ entry: CatalogEntry, _ setting: PXESetting, state: CatalogState, context: APIContext) -> MenuEntry? {
        let status = state.bootStatus(entry.id)
        let boot: MenuEntry.Boot
        switch (status.state, status.kind) {
        case (.pending, _), (.preparing, _):
            boot = .notReady(reason: "it is being prepared, try again shortly")
        case (.ready, .linux?):
            boot = .linux(commandLine: commandLine(entry, setting, context: context), hasInitrd: status.parts[.initrd] != nil)
        case (.ready, .disk?):
            boot = .disk
        default:
            return nil
        }
        return MenuEntry(id: entry.id, name: setting.menuName ?? entry.displayName, size: entry.size, distro: entry.metadata.distro, boot: boot)
    }

    /// The command line a Linux entry boots with: the entry's own (set through the API) or the
    /// container's, then `boot.cmdline_append`; sanitised for the `kernel` line.
    static func commandLine(_ entry: CatalogEntry, _ setting: PXESetting, context: APIContext) -> String {
        let own = setting.commandLine ?? entry.metadata.kernelCommandLine ?? ""
        return IPXEText.commandLine([own, context.commandLineAppend].filter { !$0.isEmpty }.joined(separator: " "))
    }

    /// `POST /pxe/{id}/menu` with any of `name`, `description`, `cmdline` (string or null to
    /// reset) and `boot_order` (non-negative integer). Unknown fields are refused so typos do not
    /// pass silently.
    func editMenu(id: String, request: HTTPRequest, actor: String) -> HTTPResponse {
        if let problem = bodyProblemResponse(request) { return problem }
        guard CatalogEntry.isWellFormedID(id), store.current.snapshot.entry(id: id) != nil else {
            return .error(404, "No container with that id is in the catalog.")
        }
        let body: JSONValue
        do {
            body = try JSONParser.parse(request.body)
        } catch {
            return .error(400, "The request body is not valid JSON: \(error.description)")
        }
        guard case let .object(fields) = body else {
            return .error(400, "The request body must be a JSON object with any of name, description, cmdline, boot_order.")
        }
        var name = FieldChange<String>.keep
        var description = FieldChange<String>.keep
        var commandLine = FieldChange<String>.keep
        var bootOrder: Int?
        for (key, value) in fields {
            switch key {
            case "name":
                switch Self.textChange(value, field: key, limit: Self.menuNameLimit) {
                case let .success(change): name = change
                case let .failure(failure): return failure.response
                }
            case "description":
                switch Self.textChange(value, field: key, limit: Self.menuDescriptionLimit) {
                case let .success(change): description = change
                case let .failure(failure): return failure.response
                }
            case "cmdline":
                switch value {
                case .null: commandLine = .reset
                case let .string(text):
                    if let problem = IPXEText.commandLineProblem(text) { return .error(400, "Field 'cmdline' \(problem).") }
                    commandLine = .set(text)
                default:
                    return .error(400, "Field 'cmdline' must be a string or null, not a \(value.typeName).")
                }
            case "boot_order":
                guard case let .int(order) = value, order >= 0, order <= 1_000_000 else {
                    return .error(400, "Field 'boot_order' must be a non-negative integer.")
                }
                bootOrder = Int(order)
            default:
                return .error(400, "Unknown field '\(Self.printable(key))'; use name, description, cmdline or boot_order.")
            }
        }
        do {
            let (entry, setting) = try store.updateMenu(id: id, name: name, description: description, commandLine: commandLine,
                                                        bootOrder: bootOrder).pair
            audit("\(actor) changed the menu entry of \(id): \(fields.map(\.0).joined(separator: ", "))")
            // The entry as the change saw it: a refresh may already have removed it.
            var item = Self.pxeJSON(entry, setting, boot: store.current.bootStatus(id))
            if case let .object(members) = item { item = .object(members + [("pxe_enabled", .bool(setting.enabled)), ("valid", .bool(entry.isValid))]) }
            return .json(item)
        } catch {
            return storeFailure(error)
        }
    }

    static func textChange(_ value: JSONValue, field: String, limit: Int) -> Result<FieldChange<String>, HTTPResponseError> {
        switch value {
        case .null:
            return .success(.reset)
        case let .string(text):
            guard text.count <= limit else {
                return .failure(HTTPResponseError(.error(400, "Field '\(field)' must be at most \(limit) characters.")))
            }
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                return .failure(HTTPResponseError(.error(400, "Field '\(field)' must not contain control characters.")))
            }
            return .success(.set(text))
        default:
            return .failure(HTTPResponseError(.error(400, "Field '\(field)' must be a string or null, not a \(value.typeName).")))
        }
    }
}

/// A response carried as an error, for validation helpers that return `Result`.
public struct HTTPResponseError: Error {
    public let response: HTTPResponse
    public init(_ response: HTTPResponse) { self.response = response }
}
