import Glibc
import BootScripts
import PXECatalog

/// The worker's configuration: a plain value with defaults. How it is read (file, environment)
/// lives in `ConfigurationLoader`; every key is described once, in `ConfigurationKey.all`.
public struct Configuration: Sendable, Equatable {
    public struct Worker: Sendable, Equatable {
        public var socket = "/run/pxe-catalog/fcgi.sock"
        public var socketMode: mode_t = 0o660
        public var threads = 0
        public var maximumBodyBytes = 65_536
        public var shutdownTimeoutSeconds = 10
    }

    public struct Catalog: Sendable, Equatable {
        public var roots = ["/srv/pxe-catalog"]
        public var pattern = "*.rts.png"
        public var watch = true
        /// Quiet time after the last change before rescanning; files younger than this wait.
        public var settleMilliseconds = 2000
        /// Periodic rescan (also the fallback when inotify is unavailable); 0 disables.
        public var rescanIntervalSeconds = 300
    }

    public struct Status: Sendable, Equatable {
        /// Which of status, metrics, healthz anyone may fetch; the rest only from `allow`.
        public var publicEndpoints = ["healthz"]
        public var allow = ["127.0.0.1", "::1"]
    }

    public struct Files: Sendable, Equatable {
        /// nil: the first catalog root.
        public var root: String?
    }

    public struct Nginx: Sendable, Equatable {
        public var listen = "80"
        public var serverName = "_"
        public var internalPrefix = "/_pxe_internal/"
        /// Addresses/networks allowed to send POSTs, enforced by nginx; empty: no IP restriction.
        public var adminAllow: [String] = []
    }

    public struct Log: Sendable, Equatable {
        public var level = "info"
    }

    public struct State: Sendable, Equatable {
        /// Suits systemd's `StateDirectory=pxe-catalog`.
        public var directory = "/var/lib/pxe-catalog"
        /// Days the settings (and metric series) of an entry that left the catalog are kept; 0: forever.
        public var forgetAfterDays = 30
    }

    public struct Menu: Sendable, Equatable {
        public var title = "pxe-catalog boot menu"
        public var timeoutSeconds = 10
        /// "local", "first" or an entry id.
        public var defaultChoice = "local"
        public var publicBaseURL: String?
    }

    public struct Boot: Sendable, Equatable {
        /// nil: `boot-cache` in the state directory.
        public var cacheDirectory: String?
        /// 0: no limit.
        public var cacheMaximumBytes: Int64 = 20 << 30
        public var maximumPayloadBytes: Int64 = 64 << 30
        public var retryAfterSeconds = 60
        /// Appended to every Linux entry's kernel command line.
        public var commandLineAppend = ""
    }

    public struct Admin: Sendable, Equatable {
        public var tokenFile: String?
        public var allowUnauthenticated = false
    }

    public var worker = Worker()
    public var catalog = Catalog()
    public var files = Files()
    public var nginx = Nginx()
    public var log = Log()
    public var state = State()
    public var admin = Admin()
    public var menu = Menu()
    public var boot = Boot()
    public var status = Status()

    public init() {}

    /// Threads to run: the configured count, or two per core. libfcgi holds a thread while it
    /// drains each closed connection, so one per core left the cores idle (measured: +16% req/s
    /// for X-Accel downloads on 2 cores with 4 threads; more than that was slower again).
    public var effectiveThreadCount: Int {
        worker.threads > 0 ? worker.threads : 2 * max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    public var menuOptions: MenuOptions {
        let choice: MenuOptions.DefaultChoice = switch menu.defaultChoice {
        case "local": .local
        case "first": .first
        default: .entry(menu.defaultChoice)
        }
        return MenuOptions(title: menu.title, timeoutSeconds: menu.timeoutSeconds, defaultChoice: choice, publicBaseURL: menu.publicBaseURL)
    }

    /// `state.forget_after_days` in seconds; nil keeps settings of vanished entries forever.
    public var forgetMissingAfterSeconds: Int64? {
        state.forgetAfterDays > 0 ? Int64(state.forgetAfterDays) * 86_400 : nil
    }

    public var effectiveCacheDirectory: String { boot.cacheDirectory ?? state.directory + "/boot-cache" }

    public var effectiveFilesRoot: String { files.root ?? catalog.roots.first ?? "/" }
}
