import FastCGI
import Foundation
import Locking
import Logging
import PXEAPI
import PXECatalog

/// Wires configuration, catalog, API and the FastCGI transport together and runs until a
/// stop signal. Signals are blocked in every thread and taken by `sigwait` here, because
/// libfcgi's own SIGTERM handling does not reach threads blocked in accept().
public final class WorkerApplication: Sendable {
    public static let version = "1.0.0"

    let configurationBox: Locked<Configuration>
    let configPath: String?
    let logger: Logger
    let store: CatalogStore
    let api: CatalogAPI
    let bootPreparer: BootPreparer
    let settingsFile: SettingsFile
    let settingsLoadNote: String
    let transport = Shared<FastCGIServer?>(nil)
    let watcher = Shared<CatalogWatcher?>(nil)
    let reportedProblems = Locked<Set<String>>([])

    public struct StartupError: Error, CustomStringConvertible {
        public let description: String
    }

    var configuration: Configuration { configurationBox.withLock { $0 } }

    /// Loads the saved settings and the admin tokens; refuses to build a worker when either is
    /// unusable (a corrupt settings file is never silently replaced by defaults).
    public init(configuration: Configuration, configPath: String?, logger: Logger) throws(StartupError) {
        configurationBox = Locked(configuration)
        self.configPath = configPath
        self.logger = logger
        logger.info("pxe-catalog \(Self.version) starting", metadata: Self.summary(configuration))
        settingsFile = SettingsFile(directory: configuration.state.directory)
        do {
            try FileManager.default.createDirectory(atPath: configuration.state.directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o751])
        } catch {
            throw StartupError(description: "Cannot create the state directory \(configuration.state.directory) (state.directory): \(error.localizedDescription)")
        }
        let settings: PXESettings
        do {
            let (loaded, outcome) = try settingsFile.load()
            settings = loaded
            switch outcome {
            case .fresh:
                settingsLoadNote = "fresh"
                logger.info("no settings file in \(configuration.state.directory): starting with defaults")
            case .primary:
                settingsLoadNote = "loaded"
                logger.info("loaded settings for \(loaded.byID.count) entries from \(settingsFile.path)")
            case let .backup(reason):
                settingsLoadNote = "loaded_from_backup"
                logger.critical("\(reason); USING THE BACKUP \(settingsFile.backupPath) (\(loaded.byID.count) entries). The unusable file will be replaced at the next change.")
            }
        } catch {
            throw StartupError(description: error.description)
        }
        let authorizer = AdminAuthorizer(policy: try Self.adminPolicy(configuration, logger: logger))
        let scanner = Self.scanner(for: configuration)
        store = CatalogStore(scanner: scanner, settings: settings, persistence: settingsFile,
                             forgetMissingAfter: configuration.forgetMissingAfterSeconds)
        let transport = self.transport
        let watcher = self.watcher
        let loadNote = settingsLoadNote
        let store = self.store
        var bootSettings = BootPreparer.Settings(directory: configuration.effectiveCacheDirectory, budgetBytes: configuration.boot.cacheMaximumBytes)
        bootSettings.decoderLimits.maximumPayloadBytes = configuration.boot.maximumPayloadBytes
        bootSettings.storageRetry = .seconds(configuration.boot.retryAfterSeconds)
        bootSettings.log = { logger.log(level: $0 ? .warning : .info, "\($1)") }
        let bootPreparer = BootPreparer(store: store, settings: bootSettings)
        self.bootPreparer = bootPreparer
        api = CatalogAPI(
            store: store, context: Self.context(for: configuration, scanner: scanner), authorizer: authorizer,
            audit: { logger.notice("admin change: \($0)") },
            statusSections: {
                [("settings", .object([("load", .string(loadNote)), ("write_failures", .int(Int64(store.settingsWriteFailures)))])),
                 ("watch", .string(watcher.value?.mode.rawValue ?? "off"))]
            },
            inFlight: { transport.value?.inFlight ?? 0 },
            bootCounts: { bootPreparer.counts })
    }

    static func summary(_ configuration: Configuration) -> Logger.Metadata {
        [
            "roots": .array(configuration.catalog.roots.map { .string($0) }),
            "pattern": .string(configuration.catalog.pattern),
            "threads": .stringConvertible(configuration.effectiveThreadCount),
            "socket": .string(configuration.worker.socket),
            "state": .string(configuration.state.directory),
            "admin": .string(configuration.admin.tokenFile != nil ? "token file" : configuration.admin.allowUnauthenticated ? "open" : "disabled"),
            "watch": .stringConvertible(configuration.catalog.watch),
            "menu_default": .string(configuration.menu.defaultChoice),
            "log_level": .string(configuration.log.level),
        ]
    }

    static func scanner(for configuration: Configuration) -> CatalogScanner {
        CatalogScanner(roots: configuration.catalog.roots, pattern: configuration.catalog.pattern)
    }

    static func context(for configuration: Configuration, scanner: CatalogScanner) -> APIContext {
        APIContext(
            version: version, catalogRoots: configuration.catalog.roots, filesRoot: configuration.effectiveFilesRoot,
            internalPrefix: configuration.nginx.internalPrefix, scanner: scanner,
            publicConfig: [
                ("catalog_roots", .int(Int64(configuration.catalog.roots.count))),
                ("file_pattern", .string(configuration.catalog.pattern)),
                ("threads", .int(Int64(configuration.effectiveThreadCount))),
                ("max_body_bytes", .int(Int64(configuration.worker.maximumBodyBytes))),
                ("admin_authentication", .bool(configuration.admin.tokenFile != nil)),
                ("menu_timeout", .int(Int64(configuration.menu.timeoutSeconds))),
                ("menu_default", .string(configuration.menu.defaultChoice)),
                ("watch", .bool(configuration.catalog.watch)),
            ],
            menu: configuration.menuOptions, commandLineAppend: configuration.boot.commandLineAppend)
    }

    static func adminPolicy(_ configuration: Configuration, logger: Logger) throws(StartupError) -> AdminAuthorizer.Policy {
        if let path = configuration.admin.tokenFile {
            do {
                let tokens = try AdminTokenFile.load(path: path)
                logger.info("admin endpoints need one of \(tokens.count) token(s) from \(path)")
                return .tokens(tokens)
            } catch {
                throw StartupError(description: error.description)
            }
        }
        if configuration.admin.allowUnauthenticated {
            logger.warning("admin.allow_unauthenticated is true and no admin.token_file is set: ANYONE who can reach nginx can change the boot menu")
            return .unauthenticatedAllowed
        }
        logger.warning("no admin.token_file is configured: POST endpoints (refresh, toggle, menu) are disabled")
        return .disabled
    }

    /// Runs the worker; returns the process exit status.
    public func run() -> Int32 {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGUSR1] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        FastCGIServer.initializeLibrary()

        do {
            try bootPreparer.start()
        } catch {
            logger.critical("Cannot use the boot cache \(bootPreparer.settings.directory) (boot.cache_directory): \(error.localizedDescription)")
            return 1
        }
        if let blocked = Self.directoryOthersCannotSearch(above: bootPreparer.settings.directory) {
            logger.warning("nginx may not be able to read the boot cache: \(blocked) cannot be searched by other users (give it mode 0751 or wider, or set boot.cache_directory elsewhere)")
        }
        logRefresh(store.refresh(), reason: "startup")

        let listenFD: Int32
        var ownedSocketPath: String?
        if let inherited = ListenSocket.inherited(environment: ProcessInfo.processInfo.environment) {
            listenFD = inherited
            logger.info("listening on the inherited socket (fd \(inherited))")
        } else {
            do {
                listenFD = try ListenSocket.open(path: configuration.worker.socket, mode: configuration.worker.socketMode)
            } catch {
                logger.critical("\(error.description)")
                return 1
            }
            ownedSocketPath = configuration.worker.socket
            logger.info("listening on \(configuration.worker.socket)")
        }

        let api = self.api
        let logger = self.logger
        let server = FastCGIServer(listenFD: listenFD, threadCount: configuration.effectiveThreadCount,
                                   maximumBodyBytes: configuration.worker.maximumBodyBytes,
                                   capturedParams: Self.paramsRead,
                                   log: { logger.error("\($0)") },
                                   handler: { request in Self.reply(to: request, api: api) })
        transport.value = server
        server.start()
        startWatcher(configuration)

        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else { continue }
            switch received {
            case SIGHUP:
                reload()
            case SIGUSR1:
                logger.info("SIGUSR1 ignored: the worker keeps no log files of its own to reopen")
            default:
                let timeout = configuration.worker.shutdownTimeoutSeconds
                logger.notice("signal \(received): no new requests; finishing in-flight ones (up to \(timeout) s) and stopping")
                watcher.value?.stop()
                bootPreparer.stop()
                let clean = server.stop(deadline: .seconds(timeout))
                if let ownedSocketPath { unlink(ownedSocketPath) }
                if !clean {
                    logger.error("in-flight requests did not finish within \(timeout) s; exiting anyway")
                    return 1
                }
                server.waitUntilStopped()
                logger.notice("stopped")
                return 0
            }
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

    func startWatcher(_ configuration: Configuration) {
        let newWatcher = CatalogWatcher(
            store: store, watch: configuration.catalog.watch, settleMilliseconds: configuration.catalog.settleMilliseconds,
            rescanIntervalSeconds: configuration.catalog.rescanIntervalSeconds, logger: logger,
            onRefresh: { [weak self] summary, reason in self?.logRefresh(summary, reason: reason) })
        let old = watcher.exchange(newWatcher)
        old?.stop()
        newWatcher.start()
    }

    /// SIGHUP: re-reads the configuration file and the admin tokens, applies what can change
    /// while running, logs what cannot, and rescans. A configuration that does not load is
    /// refused as a whole and the running one kept.
    func reload() {
        logger.notice("SIGHUP: re-reading \(configPath ?? "the configuration")")
        let old = configuration
        let new: Configuration
        do {
            new = try ConfigurationLoader.load(file: configPath)
        } catch {
            logger.error("\(error.description) Keeping the running configuration.")
            logRefresh(store.refresh(), reason: "SIGHUP")
            return
        }
        let policy: AdminAuthorizer.Policy
        do {
            policy = try Self.adminPolicy(new, logger: logger)
        } catch {
            logger.error("\(error.description) Keeping the running configuration.")
            return
        }
        for (key, changed) in [
            ("worker.socket", old.worker.socket != new.worker.socket),
            ("worker.socket_mode", old.worker.socketMode != new.worker.socketMode),
            ("worker.threads", old.worker.threads != new.worker.threads),
            ("worker.max_body_bytes", old.worker.maximumBodyBytes != new.worker.maximumBodyBytes),
            ("state.directory", old.state.directory != new.state.directory),
        ] where changed {
            logger.warning("\(key) changed but cannot change while running; restart the worker to apply it")
        }
        if old.catalog.roots != new.catalog.roots || old.nginx.internalPrefix != new.nginx.internalPrefix || old.files != new.files {
            logger.notice("catalog roots, files.root or nginx.internal_prefix changed: regenerate the nginx site (pxe-catalog nginx-config) and reload nginx too")
        }
        var applied = new
        applied.worker = old.worker
        applied.state = old.state
        configurationBox.withLock { $0 = applied }
        PXECatalogCommand.logLevel.level = Logger.Level(rawValue: applied.log.level) ?? .info
        api.authorizer.replacePolicy(policy)
        let scanner = Self.scanner(for: applied)
        store.replaceScanner(scanner)
        api.replaceContext(Self.context(for: applied, scanner: scanner))
        if old.catalog != new.catalog { startWatcher(applied) }
        logRefresh(store.refresh(), reason: "SIGHUP")
    }

    func logRefresh(_ summary: RefreshSummary, reason: String) {
        logger.info("catalog scanned (\(reason)): \(summary.count) containers, \(summary.added) added, \(summary.removed) removed, \(summary.invalid) invalid, \(summary.parsed) read, \(summary.reused) unchanged, \(summary.deferred) still being written, in \(summary.duration)")
        if summary.forgotten > 0 {
            logger.notice("forgot the settings of \(summary.forgotten) entries missing for more than \(configuration.state.forgetAfterDays) days (state.forget_after_days)")
        }
        for problem in summary.rootProblems { logger.error("\(problem)") }
        if let error = summary.settingsError {
            logger.error("settings of new entries could not be saved to \(error.path): \(error.description)")
        }
        // Each problem once per file version, not at every rescan.
        let entries = store.current.snapshot.entries.filter { !$0.isValid }
        let fresh = reportedProblems.withLock { reported -> [CatalogEntry] in
            let keys = entries.map { "\($0.realPath)#\($0.fileIdentity.modifiedNanoseconds)" }
            let new = zip(entries, keys).filter { !reported.contains($0.1) }.map(\.0)
            reported = Set(keys)
            return new
        }
        for entry in fresh { logger.warning("invalid container \(entry.relativePath): \(entry.problem ?? "")") }
    }

    /// Every CGI param `httpRequest(from:)` reads; the transport copies only these.
    static let paramsRead = ["HTTP_AUTHORIZATION", "HTTP_HOST", "SERVER_PORT", "REQUEST_METHOD", "DOCUMENT_URI", "SCRIPT_NAME", "QUERY_STRING"]

    /// The FastCGI <-> API adapter: CGI params to an `HTTPRequest`, an `HTTPResponse` back.
    /// Slow requests are answered on a thread of their own (see `CatalogAPI.runsLong`).
    static func reply(to request: FastCGIRequest, api: CatalogAPI) -> FastCGIServer.Reply {
        let httpRequest = httpRequest(from: request)
        if api.runsLong(httpRequest) { return .later { fastCGIResponse(api.handle(httpRequest)) } }
        return .now(fastCGIResponse(api.handle(httpRequest)))
    }

    static func httpRequest(from request: FastCGIRequest) -> HTTPRequest {
        // Only the request headers the API reads: building all of them cost more than the
        // rest of a download request.
        var headers: [String: String] = [:]
        if let authorization = request.param("HTTP_AUTHORIZATION") { headers["authorization"] = authorization }
        // Debian's fastcgi_params sends nginx's $host (no port) as HTTP_HOST; the port the
        // request came in on makes it the address clients used (sanboot needs it absolute).
        if var host = request.param("HTTP_HOST") {
            if !host.contains(":") || host.hasSuffix("]"), let port = request.param("SERVER_PORT"), port != "80" { host += ":" + port }
            headers["host"] = host
        }
        let bodyProblem: HTTPRequest.BodyProblem? = request.bodyExceedsLimit ? .tooLarge
            : request.bodyShorterThanDeclared ? .shorterThanDeclared : nil
        return HTTPRequest(
            method: request.param("REQUEST_METHOD") ?? "GET",
            path: request.param("DOCUMENT_URI") ?? request.param("SCRIPT_NAME"),
            query: request.param("QUERY_STRING") ?? "",
            headers: headers, body: request.body, bodyProblem: bodyProblem)
    }

    static func fastCGIResponse(_ response: HTTPResponse) -> FastCGIResponse {
        FastCGIResponse(status: response.status, headers: response.headers, body: response.body,
                        contentLength: response.contentLength)
    }
}

/// A value shared between threads behind a lock; a class so closures can hold it.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Locked<Value>
    init(_ value: Value) { mutex = Locked(value) }
    var value: Value {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }
    func exchange(_ newValue: Value) -> Value {
        mutex.withLock { current in
            let old = current
            current = newValue
            return old
        }
    }
}
