import Foundation
import Locking
import PXECatalog
import PXEHosts
import PXESettings
import StrictJSON

/// The HTTP API: routes a request to the feature that owns it and answers a response value.
/// Each feature (listings, downloads, changes, scripts, status, machines) is a value holding
/// the owners it touches; none knows of sockets. Around every handler, here only: the admin
/// gate, metrics, the boot log, HEAD. Compatible with the previous server's endpoints and JSON
/// key names.
package final class CatalogAPI: Sendable {
    private let currentContext: CurrentContext
    package let authorizer: AdminAuthorizer
    package let metrics = APIMetrics()
    /// Recent boot requests and what is known of each machine.
    package let bootLog: BootLog

    let listings: ListingRoutes
    let downloads: DownloadRoutes
    let changes: ChangeRoutes
    let scripts: ScriptRoutes
    let status: StatusRoutes
    let machines: HostRoutes
    let provision: ProvisionRoutes
    /// Answer-file tokens: minted by the scripts, used by the installers' fetches.
    let answerTokens: AnswerTokenBook

    /// `nextBoots` and `rules` (the host rules in force): the worker's books (nil: new ones over
    /// the catalog's settings).
    package init(store: CatalogStore, context: APIContext, authorizer: AdminAuthorizer,
                nextBoots: NextBootBook? = nil, rules: HostRuleBook? = nil,
                files: any ServedFileChecker = LiveFileChecker(), audit: @escaping @Sendable (String) -> Void = { _ in },
                statusSections: @escaping @Sendable () -> [(String, JSONValue)] = { [] },
                inFlight: @escaping @Sendable () -> Int = { 0 },
                bootCounts: @escaping @Sendable () -> BootPreparer.Counts? = { nil },
                bootLog: BootLog = BootLog(clock: { Date().timeIntervalSince1970 })) {
        let nextBoots = nextBoots ?? NextBootBook(settings: store.settings)
        let rules = rules ?? HostRuleBook(settings: store.settings, isEntryID: CatalogEntry.isWellFormedID)
        let currentContext = CurrentContext(context)
        let answerTokens = AnswerTokenBook(policy: context.answers.tokenPolicy, clock: { Date().timeIntervalSince1970 })
        self.answerTokens = answerTokens
        self.currentContext = currentContext
        self.authorizer = authorizer
        self.bootLog = bootLog
        listings = ListingRoutes(store: store, currentContext: currentContext)
        downloads = DownloadRoutes(store: store, currentContext: currentContext, files: files)
        changes = ChangeRoutes(store: store, settings: store.settings, audit: audit,
                               history: ChangeHistory(settingsStore: store.settingsStore))
        let scripts = ScriptRoutes(store: store, currentContext: currentContext, nextBoots: nextBoots, rules: rules, tokens: answerTokens)
        self.scripts = scripts
        provision = ProvisionRoutes(store: store, currentContext: currentContext, rules: rules, tokens: answerTokens, scripts: scripts)
        status = StatusRoutes(store: store, currentContext: currentContext, metrics: metrics, statusSections: statusSections,
                              inFlight: inFlight, bootCounts: bootCounts, bootLog: bootLog, nextBoots: nextBoots)
        machines = HostRoutes(bootLog: bootLog, nextBoots: nextBoots, rules: rules, isEnabled: { id in
            let state = store.current
            guard state.snapshot.entry(id: id) != nil else { return nil }
            return state.settings[id]?.enabled == true
        }, answerTemplates: { currentContext.value.answers.templates.names }, audit: audit)
    }

    package var context: APIContext { currentContext.value }

    /// GRUB's files for the TFTP root as they should be now (see `GRUBTree`).
    package func grubTree() -> GRUBTree { scripts.grubTree() }

    /// What GRUB's tree is made from, cheap to compare: the tree changes only when this does.
    package func grubTreeVersion() -> GRUBTreeVersion { scripts.grubTreeVersion() }

    /// Applies a reloaded configuration to requests that start after this call.
    package func replaceContext(_ context: APIContext) {
        currentContext.replace(context)
        answerTokens.setPolicy(context.answers.tokenPolicy)
        listings.invalidate()
        downloads.invalidate()
        scripts.invalidate()
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
        if case let .download(.container(id))? = route, response.status == 200 { downloadID = id }
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
        case let .listing(route): return try listings.respond(route, request: request)
        case let .download(route): return try downloads.respond(route)
        case let .change(route): return try changes.respond(route, request: request, actor: actor)
        case let .script(route): return try scripts.respond(route, request: request)
        case let .status(route): return status.respond(route)
        case let .machines(route): return try machines.respond(route, request: request, actor: actor)
        case let .provision(route): return try provision.respond(route, request: request)
        }
    }
}

/// The configuration the handlers answer with, replaced as a whole on reload; shared by the
/// features that render from it.
final class CurrentContext: Sendable {
    /// The configuration, and how many times it was replaced (renderings made before are stale).
    private let box: Locked<(context: APIContext, generation: Int)>

    init(_ context: APIContext) { box = Locked((context, 0)) }

    var value: APIContext { box.withLock { $0.context } }
    var generation: Int { box.withLock { $0.generation } }

    func replace(_ context: APIContext) {
        box.withLock { $0 = (context, $0.generation + 1) }
    }
}

/// A request with its route, found once.
package struct RoutedRequest: Sendable {
    package let request: HTTPRequest
    let route: Route?

    /// Whether answering it can take long (a catalog refresh scans every file): the transport
    /// then answers it on a thread of its own.
    package var runsLong: Bool {
        guard request.method == "POST", case .change(.refresh)? = route else { return false }
        return true
    }
}
