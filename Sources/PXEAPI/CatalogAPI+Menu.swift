import PXECatalog
import StrictJSON

/// The iPXE scripts and the menu settings endpoint.
extension CatalogAPI {
    static let menuNameLimit = 80
    static let menuDescriptionLimit = 200

    func bootScript() -> HTTPResponse {
        .text(IPXEScripts.bootScript(options: context.menu))
    }

    func menuScript() -> HTTPResponse {
        let revision = store.revision
        if let cached = menuCache.withLock({ $0?.key == revision ? $0?.response : nil }) { return cached }
        let state = store.current
        let entries = Self.pxeEntries(state).map(Self.menuEntry)
        let response = HTTPResponse.text(IPXEScripts.menuScript(entries, options: context.menu))
        menuCache.withLock { $0 = (state.revisionKey, response) }
        return response
    }

    /// An entry is bootable when it is in the catalog, valid and enabled.
    func entryScript(id: String) -> HTTPResponse {
        guard CatalogEntry.isWellFormedID(id),
              let (entry, setting) = Self.pxeEntries(store.current).first(where: { $0.0.id == id }) else {
            return .error(404, "No bootable container with that id: it is unknown, invalid or disabled.")
        }
        return .text(IPXEScripts.entryScript(Self.menuEntry(entry, setting), options: context.menu))
    }

    static func menuEntry(_ entry: CatalogEntry, _ setting: PXESetting) -> MenuEntry {
        MenuEntry(id: entry.id, name: setting.menuName ?? entry.displayName, size: entry.size, distro: entry.metadata.distro)
    }

    /// `POST /pxe/{id}/menu` with any of `name`, `description` (string or null to reset) and
    /// `boot_order` (non-negative integer). Unknown fields are refused so typos do not pass silently.
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
            return .error(400, "The request body must be a JSON object with any of name, description, boot_order.")
        }
        var name = FieldChange<String>.keep
        var description = FieldChange<String>.keep
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
            case "boot_order":
                guard case let .int(order) = value, order >= 0, order <= 1_000_000 else {
                    return .error(400, "Field 'boot_order' must be a non-negative integer.")
                }
                bootOrder = Int(order)
            default:
                return .error(400, "Unknown field '\(Self.printable(key))'; use name, description or boot_order.")
            }
        }
        do {
            let (entry, setting) = try store.updateMenu(id: id, name: name, description: description, bootOrder: bootOrder).pair
            audit("\(actor) changed the menu entry of \(id): \(fields.map(\.0).joined(separator: ", "))")
            // The entry as the change saw it: a refresh may already have removed it.
            var item = Self.pxeJSON(entry, setting)
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
