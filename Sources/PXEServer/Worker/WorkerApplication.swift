import BackgroundServices
import FastCGI
import Foundation
import Locking
import Logging
import PXEAPI
import PXECatalog
import PXEHosts
import PXESettings

/// The worker process: builds the owners of its state (the catalog, the settings' replica, the
/// next-boot and host-rule books, the boot cache, the API) from the configuration, lists its
/// background services once (`makeServices`: started in order, stopped in reverse), then runs
/// until a stop signal. Each part's set-up lives with it (`SavedSettings`, `AdminPolicy`,
/// `Configuration+Worker`, `FastCGIAdapter`, `SignalLoop`, `ReconfigurableService`, `RefreshLog`);
/// this type only composes them and handles the signals.
package final class WorkerApplication: Sendable {
    package static let version = "1.0.0"

    let configurationBox: Locked<Configuration>
    let configPath: String?
    let logger: Logger
    let store: CatalogStore
    let api: CatalogAPI
    /// The host rules in force: the configuration's (replaced on SIGHUP), the menu file's, the API's.
    let rules: HostRuleBook
    let bootPreparer: BootPreparer
    let transport = Shared<FastCGIServer?>(nil)
    let watcher: ReconfigurableService<CatalogWatcher>
    let refreshLog: RefreshLog
    let localCopy: LocalSettingsCopy?
    /// Saves machine summaries to the settings store in the background.
    let hostSummaries: HostSummaryWriter
    /// Reads dnsmasq's log into the boot log while `dhcp.mode` is not off.
    let dnsmasqLog: ReconfigurableService<DnsmasqLogFollower>
    /// Keeps GRUB's menus and the boot parts' links in the TFTP root (`dhcp.uefi_boot` shim-grub).
    let grubTree: ReconfigurableService<GRUBTreeWriter>

    var configuration: Configuration { configurationBox.withLock { $0 } }

    /// Loads the saved settings and the admin tokens; refuses to build a worker when either is
    /// unusable.
    package init(configuration: Configuration, configPath: String?, logger: Logger) throws(StartupError) {
        configurationBox = Locked(configuration)
        self.configPath = configPath
        self.logger = logger
        logger.info("pxe-catalog \(Self.version) starting", metadata: configuration.summary)
        let saved = try SavedSettings.load(configuration, logger: logger)
        let authorizer = AdminAuthorizer(policy: try AdminPolicy.load(configuration, logger: logger))
        let scanner = configuration.scanner
        let store = CatalogStore(scanner: scanner, settingsStore: saved.store, settings: saved.settings, revision: saved.revision,
                                 forgetMissingAfter: configuration.forgetMissingAfterSeconds)
        self.store = store
        if let file = saved.localCopy {
            let copy = LocalSettingsCopy(file: file, logger: logger) {
                let state = store.current
                return (state.settings, state.storeRevision)
            }
            store.settings.observe { copy.settingsChanged() }
            if saved.loadNote != "local_copy" { copy.settingsChanged() }
            localCopy = copy
        } else {
            localCopy = nil
        }
        let refreshLog = RefreshLog(logger: logger)
        self.refreshLog = refreshLog
        let configurationBox = self.configurationBox
        let onRefresh: @Sendable (RefreshSummary, String) -> Void = { summary, reason in
            refreshLog.record(summary, reason: reason, store: store,
                              forgetAfterDays: configurationBox.withLock { $0.state.forgetAfterDays })
        }
        watcher = ReconfigurableService(name: "catalog-watcher", configuration: { configurationBox.withLock { $0 } }) { configuration in
            CatalogWatcher(store: store, watch: configuration.catalog.watch, settleMilliseconds: configuration.catalog.settleMilliseconds,
                           rescanIntervalSeconds: configuration.catalog.rescanIntervalSeconds, logger: logger, onRefresh: onRefresh)
        }
        let bootPreparer = BootPreparer(store: store, settings: configuration.bootPreparerSettings(logger: logger))
        self.bootPreparer = bootPreparer
        let transport = self.transport
        let watcher = self.watcher
        let loadNote = saved.loadNote
        let rules = HostRuleBook(settings: store.settings, fixed: configuration.hostRules, isEntryID: CatalogEntry.isWellFormedID)
        self.rules = rules
        let nextBoots = NextBootBook(settings: store.settings)
        api = CatalogAPI(
            store: store, context: configuration.apiContext(scanner: scanner, version: Self.version), authorizer: authorizer,
            nextBoots: nextBoots,
            rules: rules,
            audit: { logger.notice("admin change: \($0)") },
            statusSections: {
                let health = store.settingsStore.health
                return [("settings", .object([
                    ("backend", .string(store.settingsStore.backendName)),
                    ("load", .string(loadNote)),
                    ("available", .bool(health.available)),
                    ("problem", .string(orNull: health.problem)),
                    ("revision", .int(store.current.storeRevision)),
                    ("write_failures", .int(Int64(store.settingsWriteFailures))),
                    ("reconnects", .int(Int64(health.reconnects))),
                ])), ("watch", .string(watcher.running?.mode.rawValue ?? "off"))]
            },
            inFlight: { transport.value?.inFlight ?? 0 },
            bootCounts: { bootPreparer.counts },
            bootLog: BootLog(capacity: configuration.hosts.bootLogSize, maximumHosts: 10 * configuration.hosts.bootLogSize,
                             clock: { Date().timeIntervalSince1970 }))
        hostSummaries = HostSummaryWriter(bootLog: api.bootLog, store: saved.store, logger: logger)
        let bootLog = api.bootLog
        let builtAPI = api
        grubTree = ReconfigurableService(name: "grub-tree", configuration: { configurationBox.withLock { $0 } }) { configuration in
            GRUBTreeWriter.make(configuration, api: builtAPI, logger: logger)
        }
        dnsmasqLog = ReconfigurableService(name: "dnsmasq-log", configuration: { configurationBox.withLock { $0 } }) { configuration in
            DnsmasqLogFollower.make(configuration, bootLog: bootLog, nextBoots: nextBoots, logger: logger)
        }
    }

    /// Runs the worker until SIGTERM or SIGINT; returns the exit status (0 once every in-flight
    /// request was answered and every service stopped, 1 when the shutdown timeout cut some).
    package func run() throws(StartupError) -> Int32 {
        var signals = SignalLoop.block()
        FastCGIServer.initializeLibrary()
        // The first scan and the menu file before anything serves: the first request sees them.
        logRefresh(store.refresh(), reason: "startup")
        applyMenuFile(configuration, reason: "startup")
        let (listenFD, ownedSocketPath) = try openListenSocket()
        let services = makeServices(listenFD: listenFD)
        do {
            try services.start()
        } catch {
            if let ownedSocketPath { unlink(ownedSocketPath) }
            if error.service == bootPreparer.name {
                throw StartupError(.bootCache, "Cannot use the boot cache \(bootPreparer.settings.directory) (boot.cache_directory): \(error.underlying.localizedDescription)")
            }
            throw StartupError(.service, error.description)
        }
        logger.info("services, in start order: \(services.names.joined(separator: ", "))")
        if let blocked = Self.directoryOthersCannotSearch(above: bootPreparer.settings.directory) {
            logger.warning("nginx may not be able to read the boot cache: \(blocked) cannot be searched by other users (give it mode 0751 or wider, or set boot.cache_directory elsewhere)")
        }

        while true {
            switch signals.next() {
            case .reload:
                reload()
            case .reopenLogs:
                logger.info("SIGUSR1 ignored: the worker keeps no log files of its own to reopen")
            case let .stop(signal):
                let timeout = configuration.worker.shutdownTimeoutSeconds
                logger.notice("signal \(signal): no new requests; finishing in-flight ones (up to \(timeout) s) and stopping")
                // In-flight requests get the shutdown timeout; the services after them a little more.
                let late = services.stop(within: .seconds(timeout) + Self.stopMargin)
                if let ownedSocketPath { unlink(ownedSocketPath) }
                if late.contains("fastcgi") {
                    logger.error("in-flight requests did not finish within \(timeout) s; exiting anyway")
                    return 1
                }
                if !late.isEmpty {
                    logger.error("\(late.joined(separator: ", ")) did not stop in time; exiting anyway")
                    return 1
                }
                logger.notice("stopped")
                return 0
            }
        }
    }

    /// What services get beyond the shutdown timeout to stop, in all.
    static let stopMargin: Duration = .seconds(10)

    /// The worker's background services, in start order (stopped in reverse): each may use the
    /// ones before it until it has stopped. The settings store closes only after everything
    /// that writes to it; nginx's requests stop before the work they may have started.
    func makeServices(listenFD: Int32) -> ServiceGroup {
        let api = self.api
        let logger = self.logger
        let server = FastCGIServer(listenFD: listenFD, threadCount: configuration.effectiveThreadCount,
                                   maximumBodyBytes: configuration.worker.maximumBodyBytes,
                                   capturedParams: FastCGIAdapter.paramsRead,
                                   log: { logger.error("\($0)") },
                                   handler: { request in FastCGIAdapter.reply(to: request, api: api) })
        transport.value = server
        let settingsStore = store.settingsStore
        let settings = store.settings
        let settingsWatch = SettingsStoreWatch(store: settingsStore) { event in
            switch event {
            case let .lost(problem): logger.error("\(problem) Serving the settings from memory; admin changes are refused until it is back.")
            case .reconnected: logger.notice("the \(settingsStore.backendName) settings store is reachable again; reloading the settings")
            case .changed: break
            }
            settings.handle(event)
        }
        var services: [any BackgroundService] = []
        if let localCopy { services.append(localCopy) }
        services += [settingsWatch, hostSummaries, bootPreparer,
                     FastCGITransport(server: server, shutdownTimeout: .seconds(configuration.worker.shutdownTimeoutSeconds)),
                     watcher, dnsmasqLog, grubTree]
        return ServiceGroup(services) { event in
            switch event {
            case let .started(name): logger.debug("started \(name)")
            case let .stopped(name, took): logger.info("stopped \(name) (\(took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000) ms)")
            case let .stopTimedOut(name): logger.error("\(name) did not stop in time")
            }
        }
    }

    /// The socket systemd or spawn-fcgi passed, else one of our own at `worker.socket` (then
    /// also its path, to remove at exit).
    func openListenSocket() throws(StartupError) -> (fd: Int32, ownedPath: String?) {
        if let inherited = ListenSocket.inherited(environment: ProcessInfo.processInfo.environment) {
            logger.info("listening on the inherited socket (fd \(inherited))")
            return (inherited, nil)
        }
        let path = configuration.worker.socket
        do {
            let fd = try ListenSocket.open(path: path, mode: configuration.worker.socketMode)
            logger.info("listening on \(path)")
            return (fd, path)
        } catch {
            throw StartupError(.listenSocket, error.description)
        }
    }

    /// The first directory from `/` down to `path` that other users (nginx) cannot enter.
    static func directoryOthersCannotSearch(above path: String) -> String? {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            var info = stat()
            if stat(current, &info) == 0, info.st_mode & S_IXOTH == 0 { return current }
        }
        return nil
    }

    /// SIGHUP: re-reads the configuration file and the admin tokens, applies what can change
    /// while running, logs what cannot, and rescans. A configuration that does not load is
    /// refused as a whole and the running one kept.
    func reload() {
        logger.notice("SIGHUP: re-reading \(configPath ?? "the configuration")")
        let old = configuration
        let new: Configuration
        let policy: AdminAuthorizer.Policy
        do {
            new = try ConfigurationLoader.load(file: configPath)
        } catch {
            logger.error("\(error.description) Keeping the running configuration.")
            logRefresh(store.refresh(), reason: "SIGHUP")
            return
        }
        do {
            policy = try AdminPolicy.load(new, logger: logger)
        } catch {
            logger.error("\(error.description) Keeping the running configuration.")
            return
        }
        for key in old.keysNeedingRestart(new) {
            logger.warning("\(key) changed but cannot change while running; restart the worker to apply it")
        }
        if old.changesNginxSite(new) {
            logger.notice("catalog roots, files.root, nginx.internal_prefix, dhcp.mode or dhcp.tftp_root changed: regenerate the nginx site (pxe-catalog nginx-config) and reload nginx too")
        }
        if old.dhcp != new.dhcp {
            logger.notice("dhcp.* changed: systemctl reload pxe-catalog carries the change to pxe-catalog-dnsmasq (or reload that unit; it restarts dnsmasq when dnsmasq's configuration differs)")
        }
        let applied = old.applyingWhileRunning(new)
        configurationBox.withLock { $0 = applied }
        PXECatalogCommand.logLevel.level = Logger.Level(rawValue: applied.log.level) ?? .info
        api.authorizer.replacePolicy(policy)
        let scanner = applied.scanner
        store.replaceScanner(scanner)
        rules.replaceFixed(applied.hostRules)
        api.replaceContext(applied.apiContext(scanner: scanner, version: Self.version))
        do {
            if old.catalog != new.catalog { try watcher.restart(applied) }
            if old.dhcp != new.dhcp || old.effectiveTFTPRoot != new.effectiveTFTPRoot {
                try dnsmasqLog.restart(applied)
                try grubTree.restart(applied)
            }
        } catch {
            logger.error("SIGHUP: \(error)")
        }
        logRefresh(store.refresh(), reason: "SIGHUP")
        applyMenuFile(applied, reason: "SIGHUP")
    }

    /// Applies the menu file as a whole (or stops enforcing one that was removed from the
    /// configuration). A store failure is logged; the file stays in force and is applied to new
    /// entries at later scans.
    func applyMenuFile(_ configuration: Configuration, reason: String) {
        guard let menuFile = configuration.menuFile else {
            if store.desiredMenu != nil { logger.notice("\(reason): menu.file is no longer set; its settings stay as they are and the API may change them") }
            _ = try? store.applyDesiredMenu(nil)
            return
        }
        do {
            let plan = try store.applyDesiredMenu(menuFile.menu)
            let unmatched = plan.unmatched.isEmpty ? "" : "; matching no entry: \(plan.unmatched.joined(separator: ", "))"
            logger.notice("\(reason): applied the menu file \(configuration.menu.file ?? ""): \(plan.changes.count) change(s) to \(Set(plan.changes.map(\.id)).count) entries\(unmatched)")
        } catch {
            logger.error("\(reason): the menu file \(configuration.menu.file ?? "") could not be applied: \(error.description)")
        }
    }

    func logRefresh(_ summary: RefreshSummary, reason: String) {
        refreshLog.record(summary, reason: reason, store: store, forgetAfterDays: configuration.state.forgetAfterDays)
    }
}
