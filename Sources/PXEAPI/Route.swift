import PXECatalog
import PXEHosts

/// The API's endpoints and how paths map to them.
enum Route: Equatable {
    case index, containers, container(String), containerPart(String, BootPart), thumbnail(String), file(String), refresh, pxe, toggle(String)
    case bootScript, menuScript, entryScript(String), editMenu(String)
    case status, metrics, healthz, audit
    /// The machines' routes (see `HostRoute`).
    case machines(HostRoute)

    /// Label for metrics: the route's shape, never the id.
    var metricName: String {
        switch self {
        case .index: return "index"
        case .containers: return "containers"
        case .container: return "container"
        case .containerPart: return "container_part"
        case .thumbnail: return "thumbnail"
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
        case .audit: return "audit"
        case let .machines(route): return route.metricName
        }
    }

    /// The boot-log event a request of this route is, whatever its answer (a kernel that
    /// failed to download is part of a boot too). Handlers that know more (the menu: which
    /// policy answered) note it on their response instead.
    var bootEvent: BootEventNote? {
        switch self {
        case let .containerPart(id, part):
            switch part {
            case .kernel: return BootEventNote(kind: .kernel, entry: id)
            case .initrd: return BootEventNote(kind: .initrd, entry: id)
            case .disk: return BootEventNote(kind: .disk, entry: id)
            case .payload: return nil
            }
        case let .entryScript(id): return BootEventNote(kind: .entryScript, entry: id)
        default: return nil
        }
    }

    static let readMethods = ["GET", "HEAD"]
    static let writeMethods = ["POST"]

    var allowedMethods: [String] {
        if case let .machines(route) = self, let methods = route.changeMethods { return methods }
        return isChange ? Self.writeMethods : Self.readMethods
    }

    /// Whether the route changes state.
    var isChange: Bool {
        switch self {
        case .refresh, .toggle, .editMenu: return true
        case let .machines(route): return route.changeMethods != nil
        default: return false
        }
    }

    /// Whether the route needs an admin token: every change, the change history, and the
    /// machines and their boots.
    var needsAdmin: Bool {
        switch self {
        case .audit, .machines: return true
        default: return isChange
        }
    }

    /// Routes on the path's bytes: this runs for every request of a boot storm.
    init?(path: String) {
        // The commonest request first: a container download.
        if path.utf8.starts(with: "/containers/".utf8) {
            // On the UTF-8 view: dropping Characters would walk grapheme clusters.
            let rest = path.utf8.dropFirst(12)
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else {
                self = .container(String(Substring(rest)))
                return
            }
            let id = String(Substring(rest[..<slash])), tail = String(Substring(rest[rest.index(after: slash)...]))
            if tail == "thumbnail.png" {
                self = .thumbnail(id)
                return
            }
            guard let part = BootPart(rawValue: tail) else { return nil }
            self = .containerPart(id, part)
            return
        }
        switch path {
        case "/": self = .index
        case "/containers": self = .containers
        case "/pxe": self = .pxe
        case "/pxe/boot.ipxe": self = .bootScript
        case "/pxe/menu.ipxe": self = .menuScript
        case "/catalog/refresh": self = .refresh
        case "/status": self = .status
        case "/metrics": self = .metrics
        case "/healthz": self = .healthz
        case "/audit": self = .audit
        default:
            if let route = HostRoute(path: path) {
                self = .machines(route)
                return
            }
            if path.hasPrefix("/files/") {
                self = .file(String(path.dropFirst(7)))
                return
            }
            guard path.hasPrefix("/pxe/") else { return nil }
            let rest = path.dropFirst(5)
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            let id = String(rest[..<slash])
            switch rest[rest.index(after: slash)...] {
            case "toggle": self = .toggle(id)
            case "boot.ipxe": self = .entryScript(id)
            case "menu": self = .editMenu(id)
            default: return nil
            }
        }
    }

    /// A method name fit for an error message (bounded, printable ASCII).
    static func printable(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.filter { $0.isASCII && $0.value >= 0x21 && $0.value < 0x7F }.prefix(16).map(Character.init))
        return cleaned.isEmpty ? "(empty)" : cleaned
    }
}
