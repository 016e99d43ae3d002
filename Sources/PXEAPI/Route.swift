import PXECatalog
import PXEHosts

/// The API's endpoints and how paths map to them.
enum Route: Equatable {
    case index, containers, container(String), containerPart(String, BootPart), thumbnail(String), file(String), refresh, pxe, toggle(String)
    case bootScript, menuScript, entryScript(String), editMenu(String)
    case status, metrics, healthz, audit
    case hosts, host(String), nextBoot(String), boots, hostRules, hostRule(String)

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
        case .hosts: return "hosts"
        case .host: return "host"
        case .nextBoot: return "next_boot"
        case .boots: return "boots"
        case .hostRules: return "host_rules"
        case .hostRule: return "host_rule"
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
        if case .nextBoot = self { return ["POST", "DELETE"] }
        if case .hostRule = self { return ["PUT", "DELETE"] }
        return isChange ? Self.writeMethods : Self.readMethods
    }

    /// Whether the route changes state.
    var isChange: Bool {
        switch self {
        case .refresh, .toggle, .editMenu, .nextBoot, .hostRule: return true
        default: return false
        }
    }

    /// Whether the route needs an admin token: every change, the change history, and the
    /// machines and their boots.
    var needsAdmin: Bool {
        switch self {
        case .audit, .hosts, .host, .boots, .hostRules: return true
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
        case "/hosts": self = .hosts
        case "/boots": self = .boots
        case "/host-rules": self = .hostRules
        default:
            if path.hasPrefix("/host-rules/") {
                let name = path.dropFirst(12)
                guard !name.isEmpty, !name.contains("/") else { return nil }
                self = .hostRule(String(name))
                return
            }
            if path.hasPrefix("/hosts/") {
                let rest = path.dropFirst(7)
                if let slash = rest.firstIndex(of: "/") {
                    guard rest[rest.index(after: slash)...] == "next-boot" else { return nil }
                    self = .nextBoot(String(rest[..<slash]))
                } else {
                    self = .host(String(rest))
                }
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
