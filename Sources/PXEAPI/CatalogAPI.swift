import Locking
import PXECatalog
import StrictJSON

/// The HTTP API: a router and handlers from `HTTPRequest` to `HTTPResponse`.
/// Compatible with the previous server's endpoints and JSON key names.
public final class CatalogAPI: Sendable {
    public let store: CatalogStore
    private let contextBox: Locked<APIContext>
    public let authorizer: AdminAuthorizer
    public let metrics = APIMetrics()
    /// Extra `/status` sections from the process layer (watcher mode, settings file state).
    let statusSections: @Sendable () -> [(String, JSONValue)]
    /// Requests in flight, from the transport.
    let inFlight: @Sendable () -> Int
    let files: any ServedFileChecker
    /// Receives one line per admin change (who did what), for the log.
    let audit: @Sendable (String) -> Void
    /// The boot cache's counters for `/status` and `/metrics` (nil: no boot cache).
    let bootCounts: @Sendable () -> BootPreparer.Counts?
    /// The last rendered menu, reused while the catalog state is unchanged (boot storms).
    let menuCache = Locked<(key: CatalogRevision, base: String?, response: HTTPResponse)?>(nil)
    /// `/containers` items, serialised once per catalog state (10,000+ entries are common).
    let listingCache = Locked<(key: CatalogRevision, items: [[UInt8]], full: HTTPResponse)?>(nil)
    let pxeCache = Locked<(key: CatalogRevision, response: HTTPResponse)?>(nil)
    /// Download headers per container id for the current snapshot: a boot storm asks for the
    /// same few containers thousands of times.
    let downloadHeaderCache = Locked<(generation: Int, headers: [String: [(String, String)]])>((-1, [:]))

    public init(store: CatalogStore, context: APIContext, authorizer: AdminAuthorizer,
                files: any ServedFileChecker = LiveFileChecker(), audit: @escaping @Sendable (String) -> Void = { _ in },
                statusSections: @escaping @Sendable () -> [(String, JSONValue)] = { [] },
                inFlight: @escaping @Sendable () -> Int = { 0 },
                bootCounts: @escaping @Sendable () -> BootPreparer.Counts? = { nil }) {
        self.bootCounts = bootCounts
        self.store = store
        contextBox = Locked(context)
        self.statusSections = statusSections
        self.inFlight = inFlight
        self.authorizer = authorizer
        self.files = files
        self.audit = audit
    }

    public var context: APIContext { contextBox.withLock { $0 } }

    /// Applies a reloaded configuration to requests that start after this call.
    public func replaceContext(_ context: APIContext) {
        contextBox.withLock { $0 = context }
        menuCache.withLock { $0 = nil }
        listingCache.withLock { $0 = nil }
        pxeCache.withLock { $0 = nil }
    }

    enum Route {
        case index, containers, container(String), containerPart(String, BootPart), file(String), refresh, pxe, toggle(String)
        case bootScript, menuScript, entryScript(String), editMenu(String)
        case status, metrics, healthz

        /// Label for metrics: the route's shape, never the id.
        var metricName: String {
            switch self {
            case .index: return "index"
            case .containers: return "containers"
            case .container: return "container"
            case .containerPart: return "container_part"
            case .file: return "file"
            case .refresh: return "refresh"
            case .pxe: return "pxe"
            case .toggle: return "toggle"
            case .bootScript: return "boot_script"
            case .menuScript: return "menu_script"
            case .entryScript: return "entry_script"
            case .editMenu: return "edit_menu"
            case .status: return "status"
            case .metrics: return "metrics"
            case .healthz: return "healthz"
            }
        }

        static let readMethods = ["GET", "HEAD"]
        static let writeMethods = ["POST"]

        var allowedMethods: [String] {
            switch self {
            case .refresh, .toggle, .editMenu: return Self.writeMethods
            default: return Self.readMethods
            }
        }
    }

    /// Answers a request; sets `Content-Length` and drops the body for HEAD.
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let started = ContinuousClock.now
        let route = request.path.flatMap(Self.match)
        var response = respond(request, route: route)
        let elapsed = ContinuousClock.now - started
        var downloadID: String?
        if case let .container(id)? = route, response.status == 200 { downloadID = id }
        metrics.record(route: route?.metricName ?? "unknown", status: response.status,
                       seconds: APIMetrics.seconds(elapsed), downloadID: downloadID)
        response.contentLength = response.body.count
        if request.method == "HEAD" { response.body = [] }
        return response
    }

    func respond(_ request: HTTPRequest, route: Route?) -> HTTPResponse {
        guard request.path != nil else { return .error(400, "The request path is not valid UTF-8.") }
        guard let route else { return .error(404, "No such endpoint.") }
        guard route.allowedMethods.contains(request.method) else {
            return .error(405, "Method \(Self.printable(request.method)) is not allowed here; use \(route.allowedMethods.joined(separator: " or ")).",
                          headers: [("Allow", route.allowedMethods.joined(separator: ", "))])
        }
        var actor = ""
        if request.method == "POST" {
            switch authorizer.authorize(authorizationHeader: request.headers["authorization"]) {
            case let .allowed(who): actor = who
            case let .refused(refusal):
                return .error(refusal.status, refusal.message, headers: refusal.challenge.map { [("WWW-Authenticate", $0)] } ?? [])
            }
        }
        switch route {
        case .index: return index()
        case .containers: return listContainers(query: request.query)
        case let .container(id): return downloadContainer(id: id)
        case let .containerPart(id, part): return downloadPart(id: id, part: part)
        case let .file(name): return downloadFile(name: name)
        case .refresh: return refresh(actor: actor)
        case .pxe: return listPXE()
        case let .toggle(id): return toggle(id: id, request: request, actor: actor)
        case .bootScript: return bootScript()
        case .menuScript: return menuScript(request)
        case let .entryScript(id): return entryScript(id: id, request: request)
        case let .editMenu(id): return editMenu(id: id, request: request, actor: actor)
        case .status: return status()
        case .metrics: return metricsText()
        case .healthz: return .json(.object([("status", .string("ok"))]))
        }
    }

    /// Whether answering `request` can take long (a catalog refresh scans every file): the
    /// transport then answers it on a thread of its own.
    public func runsLong(_ request: HTTPRequest) -> Bool {
        guard request.method == "POST", let path = request.path, case .refresh? = Self.match(path) else { return false }
        return true
    }

    /// Routes on the path's bytes: this runs for every request of a boot storm.
    static func match(_ path: String) -> Route? {
        // The commonest request first: a container download.
        if path.utf8.starts(with: "/containers/".utf8) {
            // On the UTF-8 view: dropping Characters would walk grapheme clusters.
            let rest = path.utf8.dropFirst(12)
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return .container(String(Substring(rest))) }
            guard let part = BootPart(rawValue: String(Substring(rest[rest.index(after: slash)...]))) else { return nil }
            return .containerPart(String(Substring(rest[..<slash])), part)
        }
        switch path {
        case "/": return .index
        case "/containers": return .containers
        case "/pxe": return .pxe
        case "/pxe/boot.ipxe": return .bootScript
        case "/pxe/menu.ipxe": return .menuScript
        case "/catalog/refresh": return .refresh
        case "/status": return .status
        case "/metrics": return .metrics
        case "/healthz": return .healthz
        default: break
        }
        if path.hasPrefix("/files/") { return .file(String(path.dropFirst(7))) }
        if path.hasPrefix("/pxe/") {
            let rest = path.dropFirst(5)
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            let id = String(rest[..<slash])
            switch rest[rest.index(after: slash)...] {
            case "toggle": return .toggle(id)
            case "boot.ipxe": return .entryScript(id)
            case "menu": return .editMenu(id)
            default: return nil
            }
        }
        return nil
    }

    /// A method name fit for an error message (bounded, printable ASCII).
    static func printable(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.filter { $0.isASCII && $0.value >= 0x21 && $0.value < 0x7F }.prefix(16).map(Character.init))
        return cleaned.isEmpty ? "(empty)" : cleaned
    }
}
