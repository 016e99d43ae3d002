import PXECatalog
import PixelRTS
import StrictJSON

/// Prepared boot parts: `/containers/{id}/kernel`, `/initrd`, `/disk`, `/payload`, and the `boot`
/// object of listings.
extension CatalogAPI {
    /// Seconds a client is told to wait for an entry that is being prepared.
    static let preparingRetrySeconds = 5

    func downloadPart(id: String, part: BootPart) -> HTTPResponse {
        let state = store.current
        guard CatalogEntry.isWellFormedID(id), let entry = state.snapshot.entry(id: id) else {
            return .error(404, "No container with that id is in the catalog.")
        }
        let status = state.bootStatus(id)
        switch status.state {
        case .pending, .preparing:
            return .error(503, "Container \(id) is being prepared (its payload is decoded and verified in the background); try again shortly.",
                          headers: [("Retry-After", String(Self.preparingRetrySeconds))])
        case .notPrepared:
            return .error(503, "Container \(id) is not prepared: \(status.problem ?? "no reason given").",
                          headers: [("Retry-After", "60")])
        case .failed:
            return .error(409, "Container \(id) cannot be opened: \(status.problem ?? "no reason given").")
        case .ready:
            guard let key = status.cacheKey, status.parts[part] != nil else {
                return .error(404, "Container \(id) has no \(part.rawValue) (it boots as \(status.kind?.rawValue ?? "nothing")).")
            }
            let stem = CatalogEntry.stem(of: entry.fileName)
            return HTTPResponse(status: 200, headers: [
                ("Content-Type", "application/octet-stream"),
                ("Content-Disposition", Self.contentDisposition(fileName: "\(stem)-\(part.fileName)")),
                ("X-Accel-Redirect", context.locations.cacheRedirectURI(key: key, fileName: part.fileName)),
            ])
        }
    }

    /// The `boot` object of an entry in `/containers`: what it boots, whether it is ready, why not.
    static func bootJSON(id: String, entry: CatalogEntry, status: BootStatus) -> JSONValue {
        let parts = BootPart.allCases.compactMap { part -> (String, JSONValue)? in
            guard let size = status.parts[part] else { return nil }
            return (part.rawValue, .object([("size", .int(size)), ("url", .string("/containers/\(id)/\(part.rawValue)"))]))
        }
        return .object([
            ("kind", .string(orNull: status.kind?.rawValue)),
            ("ready", .bool(status.bootable)),
            ("state", .string(status.state.rawValue)),
            ("verified", status.verified.map(JSONValue.bool) ?? .null),
            ("problem", .string(orNull: status.problem)),
            ("parts", .object(parts)),
            ("cmdline", .string(orNull: status.kind == .linux ? entry.metadata.kernelCommandLine : nil)),
        ])
    }

    /// `/status` section of the boot cache.
    func bootStatusSection(_ state: CatalogState) -> (String, JSONValue) {
        var byState: [BootStatus.State: Int] = [:]
        for entry in state.snapshot.entries { byState[state.bootStatus(entry.id).state, default: 0] += 1 }
        let counts = bootCounts()
        return ("boot", .object([
            ("ready", .int(Int64(byState[.ready] ?? 0))),
            ("pending", .int(Int64((byState[.pending] ?? 0) + (byState[.preparing] ?? 0)))),
            ("failed", .int(Int64(byState[.failed] ?? 0))),
            ("not_prepared", .int(Int64(byState[.notPrepared] ?? 0))),
            ("cache_bytes", counts.map { .int($0.cacheBytes) } ?? .null),
            ("cache_budget_bytes", counts.map { .int($0.budgetBytes) } ?? .null),
        ]))
    }
}
