import PXECatalog
import PXEHosts

/// The API's endpoints, one enum per feature, and how paths map to them. Each feature's route
/// says its metric label, its methods and whether it needs the admin token; `CatalogAPI` hands
/// it to the feature that answers it.
enum Route: Equatable {
    case listing(ListingRoute)
    case download(DownloadRoute)
    case change(ChangeRoute)
    case script(ScriptRoute)
    case status(StatusRoute)
    /// The machines' routes (see `HostRoute`).
    case machines(HostRoute)
    /// Answer files and their templates.
    case provision(ProvisionRoute)

    /// Routes on the path's bytes: this runs for every request of a boot storm, so the
    /// commonest (downloads, then the scripts) are tried first.
    init?(path: String) {
        if let route = DownloadRoute(path: path) {
            self = .download(route)
        } else if let route = ScriptRoute(path: path) {
            self = .script(route)
        } else if let route = ListingRoute(path: path) {
            self = .listing(route)
        } else if let route = ChangeRoute(path: path) {
            self = .change(route)
        } else if let route = StatusRoute(path: path) {
            self = .status(route)
        } else if let route = HostRoute(path: path) {
            self = .machines(route)
        } else if let route = ProvisionRoute(path: path) {
            self = .provision(route)
        } else {
            return nil
        }
    }

    /// Label for metrics: the route's shape, never the id.
    var metricName: String {
        switch self {
        case let .listing(route): return route.metricName
        case let .download(route): return route.metricName
        case let .change(route): return route.metricName
        case let .script(route): return route.metricName
        case let .status(route): return route.metricName
        case let .machines(route): return route.metricName
        case let .provision(route): return route.metricName
        }
    }

    /// The boot-log event a request of this route is, whatever its answer (a kernel that
    /// failed to download is part of a boot too). Handlers that know more (the menu: which
    /// policy answered) note it on their response instead.
    var bootEvent: BootEventNote? {
        switch self {
        case let .download(route): return route.bootEvent
        case let .script(route): return route.bootEvent
        default: return nil
        }
    }

    static let readMethods = ["GET", "HEAD"]
    static let writeMethods = ["POST"]

    var allowedMethods: [String] {
        switch self {
        case let .change(route): return route.isChange ? Self.writeMethods : Self.readMethods
        case let .machines(route): return route.changeMethods ?? Self.readMethods
        default: return Self.readMethods
        }
    }

    /// Whether the route needs an admin token: every change, the change history, and the
    /// machines and their boots.
    var needsAdmin: Bool {
        switch self {
        case .change, .machines: return true
        case let .provision(route): return route.needsAdmin
        default: return false
        }
    }

    /// A method name or path segment fit for an error message (bounded, printable ASCII).
    static func printable(_ text: String, limit: Int = 16) -> String {
        let cleaned = String(text.unicodeScalars.filter { $0.isASCII && $0.value >= 0x21 && $0.value < 0x7F }.prefix(limit).map(Character.init))
        return cleaned.isEmpty ? "(empty)" : cleaned
    }

    /// `/pxe/{id}/{tail}` split into id and tail; nil for any other path.
    static func entryPath(_ path: String) -> (id: String, tail: Substring)? {
        guard path.hasPrefix("/pxe/") else { return nil }
        let rest = path.dropFirst(5)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        return (String(rest[..<slash]), rest[rest.index(after: slash)...])
    }
}
