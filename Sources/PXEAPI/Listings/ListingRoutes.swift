import PXECatalog
import PXESettings
import StrictJSON

/// `GET /`, `GET /containers` (whole or paged) and `GET /pxe`.
enum ListingRoute: Equatable, Sendable {
    case index, containers, pxe

    init?(path: String) {
        switch path {
        case "/": self = .index
        case "/containers": self = .containers
        case "/pxe": self = .pxe
        default: return nil
        }
    }

    var metricName: String {
        switch self {
        case .index: return "index"
        case .containers: return "containers"
        case .pxe: return "pxe"
        }
    }
}

/// `GET /`, `/containers` and `/pxe`: what the catalog holds, read from its current state.
/// Owns the listings' renderings (kept per catalog state) and their validators.
struct ListingRoutes: Sendable {
    let store: CatalogStore
    let currentContext: CurrentContext
    var context: APIContext { currentContext.value }
    /// `/containers` items serialised once (10,000+ entries are common) and the full answer.
    let listingCache = RevisionCache<CatalogRevision, (items: [[UInt8]], full: HTTPResponse)>()
    let pxeCache = RevisionCache<CatalogRevision, HTTPResponse>()
    /// This process in the listings' ETags (see `listingTag`).
    let instanceTag = String(UInt64.random(in: 0...UInt64.max), radix: 36)

    func invalidate() {
        listingCache.invalidate()
        pxeCache.invalidate()
    }

    func respond(_ route: ListingRoute, request: HTTPRequest) throws(APIError) -> HTTPResponse {
        switch route {
        case .index: return index()
        case .containers: return try listContainers(request)
        case .pxe: return listPXE(request)
        }
    }

    /// Every path with what it does: the previous server's `endpoints` shape (path -> description).
    static let endpoints: [(String, String)] = [
        ("/", "GET: this server, its endpoints and catalog counts"),
        ("/containers", "GET: every container in the catalog with its metadata and boot state (?limit=&offset= pages)"),
        ("/containers/{id}", "GET, HEAD: the container file"),
        ("/containers/{id}/kernel", "GET, HEAD: the prepared Linux kernel of a container"),
        ("/containers/{id}/initrd", "GET, HEAD: the prepared initrd of a container"),
        ("/containers/{id}/disk", "GET, HEAD: the prepared disk image of a container (Range for SAN boot)"),
        ("/containers/{id}/payload", "GET, HEAD: the verified payload of a container"),
        ("/containers/{id}/thumbnail.png", "GET, HEAD: a 128-pixel picture of the container's image"),
        ("/files/{filename}", "GET, HEAD: a container file by name from the files root"),
        ("/catalog/refresh", "POST (admin): rescan the catalog"),
        ("/pxe", "GET: the enabled entries in boot order"),
        ("/pxe/{id}/toggle", "POST (admin): enable or disable an entry for network boot"),
        ("/pxe/{id}/menu", "POST (admin): an entry's menu name, description, command line and position"),
        ("/pxe/boot.ipxe", "GET: the iPXE script that loads the menu"),
        ("/pxe/menu.ipxe", "GET: the iPXE boot menu"),
        ("/pxe/{id}/boot.ipxe", "GET: the iPXE script that boots one entry"),
        ("/pxe/grub.cfg", "GET: the GRUB menu UEFI machines read by TFTP under Secure Boot (shim + GRUB)"),
        ("/audit", "GET (admin): the settings' change history, newest first (?since=&limit=)"),
        ("/hosts", "GET (admin): the machines that booted from this node, with their policy"),
        ("/hosts/{mac}", "GET (admin): one machine: its policy, one-shot next boot and recent boots"),
        ("/hosts/{mac}/next-boot", "POST, DELETE (admin): boot an entry once on this machine's next boot, or cancel it"),
        ("/boots", "GET (admin): recent boot requests with the machine and entry (?since=&limit=)"),
        ("/host-rules", "GET (admin): every host rule in force and where it comes from (config, menu file, api)"),
        ("/host-rules/{name}", "PUT, DELETE (admin): make, replace or remove a host rule kept in the settings store"),
        ("/provision/{mac}/{token}/{file}", "GET: a machine's answer file, through the one-time URL its entry script or GRUB menu carries"),
        ("/provision/templates", "GET (admin): the answer-file templates and the entries and host rules that use each"),
        ("/provision/preview/{id}", "GET (admin): what a machine would get as its answer file for an entry (?mac=...)"),
        ("/openapi.json", "GET: this API as an OpenAPI 3.1 document"),
        ("/status", "GET: worker status"),
        ("/metrics", "GET: Prometheus metrics"),
        ("/healthz", "GET: liveness for load balancers"),
    ]

    func index() -> HTTPResponse {
        let state = store.current
        let enabled = state.pxeEntries().count
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

    static let pageLimit = 10_000

    /// All containers (the previous server's response), or a page with `?limit=&offset=`.
    func listContainers(_ request: HTTPRequest) throws(APIError) -> HTTPResponse {
        var limit: Int?
        var offset = 0
        for pair in request.query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            let value = parts.count > 1 ? parts[1] : ""
            switch parts.first {
            case "limit":
                guard let number = Int(value), (1...Self.pageLimit).contains(number) else {
                    throw APIError(.badRequest, "Query parameter 'limit' must be an integer from 1 to \(Self.pageLimit).")
                }
                limit = number
            case "offset":
                guard !value.isEmpty, value.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                    throw APIError(.badRequest, "Query parameter 'offset' must be a non-negative integer.")
                }
                offset = Int(value) ?? Int.max   // beyond any catalog: an empty page
            default:
                continue   // unknown parameters are ignored, as by the previous server
            }
        }
        let state = store.current
        let tag = listingTag(state.revisionKey)
        if let unchanged = notModified(request, tag: tag) { return unchanged }
        let cached = listingCache.value(for: state.revisionKey) {
            let items = state.snapshot.entries.map { CatalogJSON.container($0, setting: state.settings[$0.id], boot: state.bootStatus($0.id)).serialized() }
            var full = HTTPResponse.json(rawBody: CatalogJSON.listingBody(items[...], extra: [("count", items.count)]))
            full.headers.append(("ETag", tag))
            return (items, full)
        }
        guard limit != nil || offset > 0 else { return cached.full }
        let total = cached.items.count
        let start = min(offset, total)
        let end = min(start + (limit ?? Self.pageLimit), total)
        var page = HTTPResponse.json(rawBody: CatalogJSON.listingBody(cached.items[start..<end],
                                                                      extra: [("count", end - start), ("total", total), ("offset", start), ("limit", limit ?? Self.pageLimit)]))
        page.headers.append(("ETag", tag))
        return page
    }

    /// The validator of the listings (`/containers`, any page of it, and `/pxe`): the catalog
    /// state they were made from, and this process (a restarted worker counts its revisions
    /// from the start again). A console polls with it and gets a 304 while nothing changed.
    func listingTag(_ revision: CatalogRevision) -> String {
        "\"\(instanceTag)-\(revision.generation)-\(revision.settingsRevision)-\(revision.bootRevision)\""
    }

    /// 304 with the tag when `If-None-Match` names it (or is `*`); nil otherwise.
    func notModified(_ request: HTTPRequest, tag: String) -> HTTPResponse? {
        guard let header = request.headers["if-none-match"] else { return nil }
        let matches = header.split(separator: ",").contains { candidate in
            var value = candidate.trimmingSpaces()
            if value.hasPrefix("W/") { value.removeFirst(2) }
            return value == "*" || value == tag
        }
        guard matches else { return nil }
        return HTTPResponse(status: 304, headers: [("ETag", tag), ("Cache-Control", "no-cache")])
    }

    func listPXE(_ request: HTTPRequest) -> HTTPResponse {
        let state = store.current
        let tag = listingTag(state.revisionKey)
        if let unchanged = notModified(request, tag: tag) { return unchanged }
        return pxeCache.value(for: state.revisionKey) {
            let items = state.pxeEntries().map { CatalogJSON.pxe($0.0, $0.1, boot: state.bootStatus($0.0.id)) }
            var response = HTTPResponse.json(.object([("pxe_containers", .array(items)), ("count", .int(Int64(items.count)))]))
            response.headers.append(("ETag", tag))
            return response
        }
    }
}
