import Foundation
import Locking
import PXECatalog
import PXEHosts
import PXESettings
import StrictJSON

/// The HTTP API: routes a request to its handler and answers a response value. Handlers live in
/// extensions by job (listings, downloads, changes, scripts, status); none knows of sockets.
/// Compatible with the previous server's endpoints and JSON key names.
package final class CatalogAPI: Sendable {
    package let store: CatalogStore
    /// The entries' settings: admin changes go here and come back (not through the catalog).
    let settings: SettingsReplica
    private let contextBox: Locked<APIContext>
    package let authorizer: AdminAuthorizer
    package let metrics = APIMetrics()
    /// Extra `/status` sections from the process layer (watcher mode, settings file state).
    let statusSections: @Sendable () -> [(String, JSONValue)]
    /// Requests in flight, from the transport.
    let inFlight: @Sendable () -> Int
    let files: any ServedFileChecker
    /// Receives one line per admin change (who did what), for the log.
    let audit: @Sendable (String) -> Void
    /// The boot cache's counters for `/status` and `/metrics` (nil: no boot cache).
    let bootCounts: @Sendable () -> BootPreparer.Counts?
    /// Recent boot requests and what is known of each machine.
    package let bootLog: BootLog
    /// One-shot next boots of machines.
    let nextBoots: NextBootBook
    /// The host rules in force.
    package let hostRuleBook: HostRuleBook
    /// The machines' routes and their owners.
    let machines: HostRoutes

    /// Renderings kept per catalog state: a boot storm asks for the same answers thousands of
    /// times between two changes.
    struct MenuKey: Equatable, Sendable {
        var revision: CatalogRevision
        /// The absolute base `sanboot` URLs were rendered with (from the request's Host).
        var sanBase: String?
    }
    /// Menus of one catalog state, one per host rule that shapes them (nil: no rule) and per
    /// attribution (whether URIs carry the machine's identity).
    struct MenuVariant: Hashable, Sendable {
        var rule: String?
        var attributed: Bool
    }
    let menuCache = RevisionCache<MenuKey, [MenuVariant: HTTPResponse]>()
    /// `/containers` items serialised once (10,000+ entries are common) and the full answer.
    let listingCache = RevisionCache<CatalogRevision, (items: [[UInt8]], full: HTTPResponse)>()
    let pxeCache = RevisionCache<CatalogRevision, HTTPResponse>()
    /// Download headers per container id, for the current snapshot generation.
    let downloadHeaderCache = RevisionCache<Int, [String: [(String, String)]]>()
    /// Download headers of ready boot parts, for the current catalog and boot state: a boot
    /// storm fetches the same few kernels and initrds thousands of times between two changes.
    let partHeaderCache = RevisionCache<CatalogRevision, [PartDownload: [(String, String)]]>()
    struct PartDownload: Hashable, Sendable {
        var id: String
        var part: BootPart
    }
    /// This process in the listings' ETags (see `listingTag`).
    let instanceTag = String(UInt64.random(in: 0...UInt64.max), radix: 36)

    /// `nextBoots` and `hostRules`: the worker's books (nil: new ones over the catalog's settings).
    package init(store: CatalogStore, context: APIContext, authorizer: AdminAuthorizer,
                nextBoots: NextBootBook? = nil, hostRules: HostRuleBook? = nil,
                files: any ServedFileChecker = LiveFileChecker(), audit: @escaping @Sendable (String) -> Void = { _ in },
                statusSections: @escaping @Sendable () -> [(String, JSONValue)] = { [] },
                inFlight: @escaping @Sendable () -> Int = { 0 },
                bootCounts: @escaping @Sendable () -> BootPreparer.Counts? = { nil },
                bootLog: BootLog = BootLog(clock: { Date().timeIntervalSince1970 })) {
        self.bootLog = bootLog
        self.bootCounts = bootCounts
        self.store = store
        settings = store.settings
        self.nextBoots = nextBoots ?? NextBootBook(settings: store.settings)
        hostRuleBook = hostRules ?? HostRuleBook(settings: store.settings, isEntryID: CatalogEntry.isWellFormedID)
        contextBox = Locked(context)
        self.statusSections = statusSections
        self.inFlight = inFlight
        self.authorizer = authorizer
        self.files = files
        self.audit = audit
        machines = HostRoutes(bootLog: bootLog, nextBoots: self.nextBoots, rules: hostRuleBook, isEnabled: { id in
            let state = store.current
            guard state.snapshot.entry(id: id) != nil else { return nil }
            return state.settings[id]?.enabled == true
        }, audit: audit)
    }

    package var context: APIContext { contextBox.withLock { $0 } }

    /// Applies a reloaded configuration to requests that start after this call.
    package func replaceContext(_ context: APIContext) {
        contextBox.withLock { $0 = context }
        menuCache.invalidate()
        listingCache.invalidate()
        pxeCache.invalidate()
        downloadHeaderCache.invalidate()
        partHeaderCache.invalidate()
    }

    /// Finds the route of `request`, once: the transport asks whether it runs long, then has
    /// it handled.
    package func route(_ request: HTTPRequest) -> RoutedRequest {
        RoutedRequest(request: request, route: request.path.flatMap(Route.init(path:)))
    }

    /// Routes and answers a request.
    package func handle(_ request: HTTPRequest) -> HTTPResponse { handle(route(request)) }

    /// Answers a routed request. Around every handler, in this one place: metrics, the boot
    /// log (what the handler noted, else what the route is), `Content-Length`, HEAD.
    package func handle(_ routed: RoutedRequest) -> HTTPResponse {
        let started = ContinuousClock.now
        let (request, route) = (routed.request, routed.route)
        var response: HTTPResponse
        do {
            response = try respond(request, route: route)
        } catch {
            response = error.response
        }
        let elapsed = ContinuousClock.now - started
        var downloadID: String?
        if case let .container(id)? = route, response.status == 200 { downloadID = id }
        metrics.record(route: route?.metricName ?? "unknown", status: response.status,
                       seconds: APIMetrics.seconds(elapsed), downloadID: downloadID)
        if let note = response.bootEvent ?? route?.bootEvent {
            recordBoot(note, request: request, status: response.status)
        }
        response.contentLength = response.body.count
        if request.method == "HEAD" { response.body = [] }
        return response
    }

    func respond(_ request: HTTPRequest, route: Route?) throws(APIError) -> HTTPResponse {
        guard request.path != nil else { throw APIError(.badRequest, "The request path is not valid UTF-8.") }
        guard let route else { throw APIError(.notFound, "No such endpoint.") }
        guard route.allowedMethods.contains(request.method) else {
            throw APIError(.methodNotAllowed,
                           "Method \(Route.printable(request.method)) is not allowed here; use \(route.allowedMethods.joined(separator: " or ")).",
                           headers: [("Allow", route.allowedMethods.joined(separator: ", "))])
        }
        var actor = ""
        if route.needsAdmin { actor = try authorizer.admit(request) }
        switch route {
        case .index: return index()
        case .containers: return try listContainers(request)
        case let .container(id): return try downloadContainer(id: id)
        case let .containerPart(id, part): return try downloadPart(id: id, part: part)
        case let .thumbnail(id): return try downloadThumbnail(id: id)
        case let .file(name): return try downloadFile(name: name)
        case .refresh: return try refresh(actor: actor)
        case .pxe: return listPXE(request)
        case let .toggle(id): return try toggle(id: id, request: request, actor: actor)
        case .bootScript: return bootScript()
        case .menuScript: return menuScript(request)
        case let .entryScript(id): return try entryScript(id: id, request: request)
        case let .editMenu(id): return try editMenu(id: id, request: request, actor: actor)
        case .status: return status()
        case .metrics: return metricsText()
        case .healthz: return .json(.object([("status", .string("ok"))]))
        case .audit: return try auditLog(query: request.query)
        case let .machines(route): return try machines.respond(route, request: request, actor: actor)
        }
    }

}

/// A request with its route, found once.
package struct RoutedRequest: Sendable {
    package let request: HTTPRequest
    let route: Route?

    /// Whether answering it can take long (a catalog refresh scans every file): the transport
    /// then answers it on a thread of its own.
    package var runsLong: Bool {
        guard request.method == "POST", case .refresh? = route else { return false }
        return true
    }
}
