import Glibc
import BootScripts
import PXECatalog
import PXEHosts

/// The worker's configuration: a plain value with defaults. How it is read (file, environment)
/// lives in `ConfigurationLoader`; every key is described once, in `ConfigurationKey.all`.
package struct Configuration: Sendable, Equatable {
    package struct Worker: Sendable, Equatable {
        package var socket = "/run/pxe-catalog/fcgi.sock"
        package var socketMode: mode_t = 0o660
        package var threads = 0
        package var maximumBodyBytes = 65_536
        package var shutdownTimeoutSeconds = 10
    }

    package struct Catalog: Sendable, Equatable {
        package var roots = ["/srv/pxe-catalog"]
        package var pattern = "*.rts.png"
        package var watch = true
        /// Quiet time after the last change before rescanning; files younger than this wait.
        package var settleMilliseconds = 2000
        /// Periodic rescan (also the fallback when inotify is unavailable); 0 disables.
        package var rescanIntervalSeconds = 300
        /// The command that describes each container's picture; nil: the built-in OCR analyzer
        /// when tesseract is installed; empty: none.
        package var analyzer: [String]?
        package var analyzerTimeoutSeconds = 60
    }

    package struct Status: Sendable, Equatable {
        /// Which of status, metrics, healthz anyone may fetch; the rest only from `allow`.
        package var publicEndpoints = ["healthz"]
        package var allow = ["127.0.0.1", "::1"]
    }

    package struct Files: Sendable, Equatable {
        /// nil: the first catalog root.
        package var root: String?
    }

    package struct Nginx: Sendable, Equatable {
        package var listen = "80"
        package var serverName = "_"
        package var internalPrefix = "/_pxe_internal/"
        /// Addresses/networks allowed to send POSTs, enforced by nginx; empty: no IP restriction.
        package var adminAllow: [String] = []
        /// Static files nginx serves itself: `openapi.json` (and the console); nil: where
        /// `make install` put them next to this binary.
        package var staticRoot: String?
        /// TLS for the console and the admin API: both or neither (a PEM certificate chain and its key).
        package var tlsCertificate: String?
        package var tlsCertificateKey: String?
        package var tlsListen = "443"
        /// The address the plain-HTTP server sends admins to; nil: https:// this host (and the TLS port).
        package var httpsURL: String?
        /// With TLS, whether the plain-HTTP server still accepts admin requests (labs that accept the risk).
        package var adminOverPlainHTTP = false

        package var hasTLS: Bool { tlsCertificate != nil && tlsCertificateKey != nil }
    }

    package struct Log: Sendable, Equatable {
        package var level = "info"
    }

    package struct State: Sendable, Equatable {
        /// Suits systemd's `StateDirectory=pxe-catalog`.
        package var directory = "/var/lib/pxe-catalog"
        /// Days the settings (and metric series) of an entry that left the catalog are kept; 0: forever.
        package var forgetAfterDays = 30
        /// Where the settings are kept: SQLite in `directory`, or a fleet's PostgreSQL.
        package var backend = Backend.sqlite
        /// libpq connection string or URI of the fleet's database (backend postgresql).
        package var postgresqlURL: String?

        package enum Backend: String, Sendable, Equatable, CaseIterable {
            case sqlite, postgresql
        }
    }

    package struct Menu: Sendable, Equatable {
        package var title = "pxe-catalog boot menu"
        package var timeoutSeconds = 10
        /// "local", "first" or an entry id.
        package var defaultChoice = "local"
        package var publicBaseURL: String?
        /// The menu file's path (see `MenuFile`).
        package var file: String?
    }

    package struct Boot: Sendable, Equatable {
        /// nil: `boot-cache` in the state directory.
        package var cacheDirectory: String?
        /// 0: no limit.
        package var cacheMaximumBytes: Int64 = 20 << 30
        package var maximumPayloadBytes: Int64 = 64 << 30
        package var retryAfterSeconds = 60
        /// Appended to every Linux entry's kernel command line.
        package var commandLineAppend = ""
    }

    package struct Hosts: Sendable, Equatable {
        package var rules: [HostRule] = []
        /// Labels per MAC address (normalised).
        package var labels: [String: [String: String]] = [:]
        package var bootLogSize = 10_000
    }

    /// Unattended installs: answer-file templates and the tokens that open them.
    package struct Provision: Sendable, Equatable {
        /// The templates directory (nil: no answer files).
        package var templatesDirectory: String?
        package var tokenMinutes = 60
        package var tokenFetches = 1
        /// The templates in it, read when the configuration is loaded.
        package var templates = AnswerTemplateSet()
    }

    /// Network boot for real machines: the dnsmasq that answers their firmware's DHCP (as the
    /// network's server, or as a proxy beside the site's) and serves the boot loaders by TFTP.
    /// pxe-catalog generates its configuration (`dnsmasq-config`) and follows its log.
    package struct DHCP: Sendable, Equatable {
        package enum Mode: String, Sendable, Equatable, CaseIterable {
            /// No DHCP at all (the site points its own DHCP server at pxe-catalog).
            case off
            /// Answers only network-boot requests; the site's DHCP server keeps handing out addresses.
            case proxy
            /// Hands out addresses from `range` too: an isolated lab network.
            case server
        }

        package var mode = Mode.off
        package var interface: String?
        /// `start-end`, two IPv4 addresses (server mode).
        package var range: String?
        package var leaseSeconds = 3600
        /// The IPv4 address machines reach nginx and TFTP on; nil: the interface's (server mode).
        package var serverAddress: String?
        /// nil: `tftp` in the state directory.
        package var tftpRoot: String?
        /// Where the loaders are linked from (Debian's `ipxe` package).
        package var loaderDirectory = "/usr/lib/ipxe"
        package var biosLoader = "undionly.kpxe"
        package var uefiLoader = "snponly.efi"
        package var httpBootLoader = "ipxe.efi"
        /// What x86-64 UEFI PXE clients boot.
        package enum UEFIBoot: String, Sendable, Equatable, CaseIterable {
            /// iPXE (`uefi_loader`), which firmware with Secure Boot on refuses (it is not signed);
            /// faster where Secure Boot is off (it fetches by HTTP).
            case ipxe
            /// Debian's signed shim and network GRUB, which read GRUB menus, kernels and initrds
            /// by TFTP: boots with Secure Boot on and off (the default: many machines ship with
            /// it on and may not turn it off).
            case shimGRUB = "shim-grub"
        }
        package var uefiBoot = UEFIBoot.shimGRUB
        /// Debian's `shim-signed` (signed by Microsoft's UEFI CA), linked as `shimx64.efi`.
        package var shimLoader = "/usr/lib/shim/shimx64.efi.signed"
        /// Debian's signed network GRUB (trusted by shim), linked as `grubx64.efi` beside it.
        package var grubLoader = "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"

        /// The loaders linked into the TFTP root: their names there and the files they point at.
        package var tftpLinks: [(name: String, target: String)] {
            var links = [(biosLoader, loaderDirectory + "/" + biosLoader), (httpBootLoader, loaderDirectory + "/" + httpBootLoader)]
            switch uefiBoot {
            case .ipxe: links.append((uefiLoader, loaderDirectory + "/" + uefiLoader))
            case .shimGRUB: links += [(Self.shimName, shimLoader), (Self.grubName, grubLoader)]
            }
            return links
        }

        /// The file UEFI PXE clients are told to load.
        package var uefiFirstLoader: String { uefiBoot == .shimGRUB ? Self.shimName : uefiLoader }
        /// shim loads `grubx64.efi` from the directory it came from.
        package static let shimName = "shimx64.efi"
        package static let grubName = "grubx64.efi"
        /// Whether a BIOS machine whose iPXE is not Debian's `undionly.kpxe` (a NIC's option ROM)
        /// loads that one by TFTP first.
        package var biosChainload = false
        /// Router advertisements without a default route (server mode), so that iPXE's IPv6
        /// autoconfiguration finishes at once instead of waiting for its timeout.
        package var routerAdvertisements = false
        /// Server mode: the name servers DHCP hands out (`dhcp.dns_servers`); none by default.
        package var dnsServers: [String] = []
        /// dnsmasq's log (its DHCP and TFTP details), which the worker follows for the boot log.
        package var logFile = "/var/log/pxe-catalog/dnsmasq.log"
        /// The user dnsmasq runs as once it has bound its ports (it writes the log and the leases).
        package var user = "pxe-catalog"
    }

    package struct Admin: Sendable, Equatable {
        package var tokenFile: String?
        package var allowUnauthenticated = false
    }

    package var worker = Worker()
    package var catalog = Catalog()
    package var files = Files()
    package var nginx = Nginx()
    package var log = Log()
    package var state = State()
    package var admin = Admin()
    package var menu = Menu()
    package var boot = Boot()
    package var status = Status()
    package var hosts = Hosts()
    package var dhcp = DHCP()
    package var provision = Provision()
    /// The menu file `menu.file` names, read when the configuration is loaded.
    package var menuFile: MenuFile?

    package init() {}

    /// The rules of `hosts.rules` and of the menu file, with the labels of both (the file's win).
    package var hostRules: HostRules {
        HostRules(rules: hosts.rules + (menuFile?.rules ?? []), labels: hosts.labels.merging(menuFile?.labels ?? [:]) { $1 })
    }

    /// Threads to run: the configured count, or two per core (measured when every close still
    /// waited for nginx: +16% req/s for X-Accel downloads on 2 cores with 4 threads, more was
    /// slower again; a thread can still wait on a slow peer or a TCP drain).
    package var effectiveThreadCount: Int {
        worker.threads > 0 ? worker.threads : 2 * max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    package var menuOptions: MenuOptions {
        let choice: MenuOptions.DefaultChoice = switch menu.defaultChoice {
        case "local": .local
        case "first": .first
        default: .entry(menu.defaultChoice)
        }
        var options = MenuOptions(title: menu.title, timeoutSeconds: menu.timeoutSeconds, defaultChoice: choice, publicBaseURL: menu.publicBaseURL)
        if dhcp.mode != .off && dhcp.biosChainload { options.biosChainload = dhcp.biosLoader }
        return options
    }

    /// `state.forget_after_days` in seconds; nil keeps settings of vanished entries forever.
    package var forgetMissingAfterSeconds: Int64? {
        state.forgetAfterDays > 0 ? Int64(state.forgetAfterDays) * 86_400 : nil
    }

    package var effectiveCacheDirectory: String { boot.cacheDirectory ?? state.directory + "/boot-cache" }

    package var effectiveStaticRoot: String { nginx.staticRoot ?? Self.installedStaticRoot }

    /// `make install` puts the binary in `$(PREFIX)/bin` and the static files in
    /// `$(PREFIX)/share/pxe-catalog/static`: found from the running binary, so any prefix works.
    package static var installedStaticRoot: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let binary = length > 0 ? String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "/usr/local/bin/pxe-catalog"
        let prefix = binary.split(separator: "/").dropLast(2).joined(separator: "/")
        return "/" + (prefix.isEmpty ? "" : prefix + "/") + "share/pxe-catalog/static"
    }

    package var effectiveFilesRoot: String { files.root ?? catalog.roots.first ?? "/" }

    package var effectiveTFTPRoot: String { dhcp.tftpRoot ?? state.directory + "/tftp" }
}
