import PXECatalog
import StrictJSON

extension CatalogAPI {
    /// Every path with what it does: the previous server's `endpoints` shape (path -> description).
    static let endpoints: [(String, String)] = [
        ("/", "GET: this server, its endpoints and catalog counts"),
        ("/containers", "GET: every container in the catalog with its metadata and boot state (?limit=&offset= pages)"),
        ("/containers/{id}", "GET, HEAD: the container file"),
        ("/containers/{id}/kernel", "GET, HEAD: the prepared Linux kernel of a container"),
        ("/containers/{id}/initrd", "GET, HEAD: the prepared initrd of a container"),
        ("/containers/{id}/disk", "GET, HEAD: the prepared disk image of a container (Range for SAN boot)"),
        ("/containers/{id}/payload", "GET, HEAD: the verified payload of a container"),
        ("/files/{filename}", "GET, HEAD: a container file by name from the files root"),
        ("/catalog/refresh", "POST (admin): rescan the catalog"),
        ("/pxe", "GET: the enabled entries in boot order"),
        ("/pxe/{id}/toggle", "POST (admin): enable or disable an entry for network boot"),
        ("/pxe/{id}/menu", "POST (admin): an entry's menu name, description, command line and position"),
        ("/pxe/boot.ipxe", "GET: the iPXE script that loads the menu"),
        ("/pxe/menu.ipxe", "GET: the iPXE boot menu"),
        ("/pxe/{id}/boot.ipxe", "GET: the iPXE script that boots one entry"),
        ("/openapi.json", "GET: this API as an OpenAPI 3.1 document"),
        ("/status", "GET: worker status"),
        ("/metrics", "GET: Prometheus metrics"),
        ("/healthz", "GET: liveness for load balancers"),
    ]

    func index() -> HTTPResponse {
        let state = store.current
        let enabled = Self.pxeEntries(state).count
        return .json(.object([
            ("server", .string(context.serverName)),
            ("name", .string(context.serverName)),
            ("version", .string(context.version)),
            ("endpoints", .object(Self.endpoints.map { ($0.0, .string($0.1)) })),
            ("catalog", .object([("enabled", .bool(!state.snapshot.entries.isEmpty)), ("count", .int(Int64(state.snapshot.entries.count))),
                                 ("pxe_enabled", .int(Int64(enabled)))])),
            ("config", .object(context.publicConfig)),
        ]))
    }

    /// All containers (the previous server's response), or a page with `?limit=&offset=`.
    func listContainers(query: String) -> HTTPResponse {
        var limit: Int?
        var offset = 0
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            let value = parts.count > 1 ? parts[1] : ""
            switch parts.first {
            case "limit":
                guard let number = Int(value), (1...10_000).contains(number) else {
                    return .error(400, "Query parameter 'limit' must be an integer from 1 to 10000.")
                }
                limit = number
            case "offset":
                guard let number = Int(value), number >= 0 else {
                    return .error(400, "Query parameter 'offset' must be a non-negative integer.")
                }
                offset = number
            default:
                continue   // unknown parameters are ignored, as by the previous server
            }
        }
        let state = store.current
        let cached = listingCache.withLock { cache -> (items: [[UInt8]], full: HTTPResponse) in
            if let cache, cache.key == state.revisionKey { return (cache.items, cache.full) }
            let items = state.snapshot.entries.map { Self.containerJSON($0, setting: state.settings[$0.id], boot: state.bootStatus($0.id)).serialized() }
            let full = HTTPResponse.json(rawBody: Self.listingBody(items[...], extra: [("count", items.count)]))
            cache = (state.revisionKey, items, full)
            return (items, full)
        }
        guard limit != nil || offset > 0 else { return cached.full }
        let total = cached.items.count
        let start = min(offset, total)
        let end = min(start + (limit ?? 10_000), total)
        return .json(rawBody: Self.listingBody(cached.items[start..<end],
                                               extra: [("count", end - start), ("total", total), ("offset", start), ("limit", limit ?? 10_000)]))
    }

    /// `{"containers":[...],<extra>}` from pre-serialised items.
    static func listingBody(_ items: ArraySlice<[UInt8]>, extra: [(String, Int)]) -> [UInt8] {
        var body: [UInt8] = Array(#"{"containers":["#.utf8)
        body.reserveCapacity(items.reduce(64) { $0 + $1.count + 1 })
        for (index, item) in items.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += item
        }
        body.append(UInt8(ascii: "]"))
        for (key, value) in extra { body += Array(",\"\(key)\":\(value)".utf8) }
        body.append(UInt8(ascii: "}"))
        return body
    }

    public static func containerJSON(_ entry: CatalogEntry, setting: PXESetting?, boot: BootStatus) -> JSONValue {
        let m = entry.metadata
        return .object([
            ("id", .string(entry.id)),
            ("name", .string(entry.displayName)),
            ("filename", .string(entry.fileName)),
            ("size", .int(entry.size)),
            ("url", .string("/containers/\(entry.id)")),
            ("kernel_version", .string(orNull: m.kernelVersion)),
            ("distro", .string(orNull: m.distro)),
            ("architecture", .string(orNull: m.architecture)),
            ("grid_size", .int(orNull: m.gridSize)),
            ("format", .string(orNull: m.format)),
            ("format_version", m.formatVersion ?? .null),
            ("type", .string(orNull: m.type)),
            ("description", .string(orNull: m.description)),
            ("content_version", .string(orNull: m.contentVersion)),
            ("data_size", .int(orNull: m.dataSize)),
            ("data_hash", .string(orNull: m.dataHash)),
            ("valid", .bool(entry.isValid)),
            ("problem", .string(orNull: entry.problem)),
            ("warnings", .array(m.warnings.map(JSONValue.string))),
            ("pxe_enabled", .bool(setting?.enabled ?? false)),
            ("boot_order", .int(orNull: setting.map { Int64($0.bootOrder) })),
            ("boot", bootJSON(id: entry.id, entry: entry, status: boot)),
        ])
    }

    func downloadContainer(id: String) -> HTTPResponse {
        let snapshot = store.current.snapshot
        guard CatalogEntry.isWellFormedID(id), let entry = snapshot.entry(id: id) else {
            return .error(404, "No container with that id is in the catalog.")
        }
        // Fast path: the very file the scan resolved. Otherwise (replaced, e.g. by rsync) check
        // the whole path again: it must still resolve, without symlinks, inside the root.
        if !files.isUnchanged(rootRealPath: entry.rootRealPath, relativePath: entry.relativePath, identity: entry.fileIdentity) {
            let realPath = entry.realPath
            guard let resolved = files.resolveServable(path: realPath, insideRoot: entry.rootRealPath), resolved == realPath else {
                return .error(404, "Container \(id) is no longer available; refresh the catalog.")
            }
        }
        let headers = downloadHeaderCache.withLock { cache -> [(String, String)] in
            if cache.generation != snapshot.generation { cache = (snapshot.generation, [:]) }
            if let known = cache.headers[id] { return known }
            let made = redirect(index: entry.rootIndex, relativePath: entry.relativePath, fileName: entry.fileName).headers
            if cache.headers.count >= 4096 { cache.headers.removeAll(keepingCapacity: true) }
            cache.headers[id] = made
            return made
        }
        return HTTPResponse(status: 200, headers: headers)
    }

    func downloadFile(name: String) -> HTTPResponse {
        guard Self.isSafeFileName(name) else { return .error(400, "Invalid file name.") }
        guard context.scanner.matches(fileName: name) else { return .error(404, "No container file with that name.") }
        let root = context.filesRoot
        guard let resolved = files.resolveServable(path: root + "/" + name, insideRoot: root),
              let realRoot = CatalogScanner.realPath(root) else {
            return .error(404, "No container file with that name.")
        }
        let relative = String(resolved.dropFirst(realRoot == "/" ? 1 : realRoot.count + 1))
        return redirect(index: context.locations.filesRootIndex, relativePath: relative, fileName: name)
    }

    /// A plain file name: no separators, no dot-names, no control characters, bounded length.
    static func isSafeFileName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255, !name.hasPrefix(".") else { return false }
        return !name.unicodeScalars.contains { scalar in
            scalar == "/" || scalar == "\\" || scalar.value < 0x20 || scalar.value == 0x7F
                || (0x80...0x9F).contains(scalar.value)
        }
    }

    func redirect(index: Int, relativePath: String, fileName: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [
            ("Content-Type", "image/png"),
            ("Content-Disposition", Self.contentDisposition(fileName: fileName)),
            ("X-Accel-Redirect", context.locations.redirectURI(index: index, relativePath: relativePath)),
        ])
    }

    /// `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987).
    static func contentDisposition(fileName: String) -> String {
        let fallback = String(fileName.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && scalar.value >= 0x20 && scalar != "\"" && scalar != "\\" && scalar.value != 0x7F
                ? Character(scalar) : "_"
        })
        return "attachment; filename=\"\(fallback)\"; filename*=UTF-8''\(InternalLocations.percentEncode(fileName))"
    }

    func refresh(actor: String) -> HTTPResponse {
        let summary = store.refresh()
        audit("\(actor) refreshed the catalog: \(summary.count) containers, \(summary.added) added, \(summary.removed) removed")
        if let error = summary.settingsError {
            return Self.settingsFailure(error, prefix: "The catalog was rescanned, but the settings of the \(summary.added) new containers could not be saved")
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

    /// Enabled, valid entries of the current snapshot in boot order.
    static func pxeEntries(_ state: CatalogState) -> [(CatalogEntry, PXESetting)] {
        state.snapshot.entries.compactMap { entry -> (CatalogEntry, PXESetting)? in
            guard entry.isValid, let setting = state.settings[entry.id], setting.enabled else { return nil }
            return (entry, setting)
        }.sorted { $0.1.bootOrder < $1.1.bootOrder }
    }

    /// An entry of `/pxe`: its name is the menu name when one is set (as the previous boot-menu
    /// server answered `pxe_name or name`); the scanned name stays in `/containers`.
    static func pxeJSON(_ entry: CatalogEntry, _ setting: PXESetting, boot: BootStatus) -> JSONValue {
        .object([
            ("id", .string(entry.id)),
            ("name", .string(setting.menuName ?? entry.displayName)),
            ("url", .string("/containers/\(entry.id)")),
            ("boot_order", .int(Int64(setting.bootOrder))),
            ("size", .int(entry.size)),
            ("pxe_name", .string(orNull: setting.menuName)),
            ("pxe_description", .string(orNull: setting.menuDescription)),
            ("pxe_cmdline", .string(orNull: setting.commandLine)),
            ("boot", .object([("kind", .string(orNull: boot.kind?.rawValue)), ("ready", .bool(boot.bootable)),
                              ("state", .string(boot.state.rawValue)), ("problem", .string(orNull: boot.problem))])),
        ])
    }

    func listPXE() -> HTTPResponse {
        let state = store.current
        return pxeCache.withLock { cache in
            if let cache, cache.key == state.revisionKey { return cache.response }
            let items = Self.pxeEntries(state).map { Self.pxeJSON($0.0, $0.1, boot: state.bootStatus($0.0.id)) }
            let response = HTTPResponse.json(.object([("pxe_containers", .array(items)), ("count", .int(Int64(items.count)))]))
            cache = (state.revisionKey, response)
            return response
        }
    }

    /// 507 when the disk is full (the operator must free space), 500 for other write failures.
    static func settingsFailure(_ error: SettingsWriteError, prefix: String = "The settings could not be saved") -> HTTPResponse {
        .error(error.isOutOfSpace ? 507 : 500, "\(prefix): \(error.description). Nothing was changed.")
    }

    func toggle(id: String, request: HTTPRequest, actor: String) -> HTTPResponse {
        if let problem = bodyProblemResponse(request) { return problem }
        guard CatalogEntry.isWellFormedID(id), store.current.snapshot.entry(id: id) != nil else {
            return .error(404, "No container with that id is in the catalog.")
        }
        var enabled = true
        if !request.body.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
            let body: JSONValue
            do {
                body = try JSONParser.parse(request.body)
            } catch {
                return .error(400, "The request body is not valid JSON: \(error.description)")
            }
            guard case .object = body else {
                return .error(400, "The request body must be a JSON object such as {\"enabled\": true}.")
            }
            if let value = body["enabled"] {
                guard case let .bool(flag) = value else {
                    return .error(400, "Field 'enabled' must be true or false, not a \(value.typeName).")
                }
                enabled = flag
            }
        }
        do {
            let setting = try store.setEnabled(enabled, id: id).setting
            audit("\(actor) set pxe_enabled=\(setting.enabled) on \(id)")
            return .json(.object([("success", .bool(true)), ("entry_id", .string(id)), ("pxe_enabled", .bool(setting.enabled))]))
        } catch {
            return storeFailure(error)
        }
    }

    func storeFailure(_ error: CatalogStoreError) -> HTTPResponse {
        switch error {
        case .unknownEntry: return .error(404, "No container with that id is in the catalog.")
        case let .settingsNotSaved(writeError): return Self.settingsFailure(writeError)
        }
    }

    func bodyProblemResponse(_ request: HTTPRequest) -> HTTPResponse? {
        switch request.bodyProblem {
        case .tooLarge: return .error(413, "The request body is larger than this endpoint accepts.")
        case .shorterThanDeclared: return .error(400, "The request body is shorter than its Content-Length.")
        case nil: return nil
        }
    }
}
