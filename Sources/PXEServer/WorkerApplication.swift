import FastCGI
import Foundation
import Logging
import PXEAPI
import PXECatalog

/// Wires configuration, catalog, API and the FastCGI transport together and runs until a
/// stop signal. Signals are blocked in every thread and taken by `sigwait` here, because
/// libfcgi's own SIGTERM handling does not reach threads blocked in accept().
public final class WorkerApplication: Sendable {
    public static let version = "1.0.0"

    let configuration: Configuration
    let logger: Logger
    let store: CatalogStore
    let api: CatalogAPI

    public struct StartupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads the saved settings and the admin tokens; refuses to build a worker when either is
    /// unusable (a corrupt settings file is never silently replaced by defaults).
    public init(configuration: Configuration, logger: Logger) throws(StartupError) {
        self.configuration = configuration
        self.logger = logger
        let settingsFile = SettingsFile(directory: configuration.state.directory)
        do {
            try FileManager.default.createDirectory(atPath: configuration.state.directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
        } catch {
            throw StartupError(description: "Cannot create the state directory \(configuration.state.directory) (state.directory): \(error.localizedDescription)")
        }
        let settings: PXESettings
        do {
            let (loaded, outcome) = try settingsFile.load()
            settings = loaded
            switch outcome {
            case .fresh: logger.info("no settings file in \(configuration.state.directory): starting with defaults")
            case .primary: logger.info("loaded settings for \(loaded.byID.count) entries from \(settingsFile.path)")
            case let .backup(reason):
                logger.critical("\(reason); USING THE BACKUP \(settingsFile.backupPath) (\(loaded.byID.count) entries). The unusable file will be replaced at the next change.")
            }
        } catch {
            throw StartupError(description: error.description)
        }
        let authorizer = AdminAuthorizer(policy: try Self.adminPolicy(configuration, logger: logger))
        let scanner = CatalogScanner(roots: configuration.catalog.roots, pattern: configuration.catalog.pattern)
        store = CatalogStore(scanner: scanner, settings: settings, persistence: settingsFile)
        let context = APIContext(
            version: Self.version, catalogRoots: configuration.catalog.roots, filesRoot: configuration.effectiveFilesRoot,
            internalPrefix: configuration.nginx.internalPrefix, scanner: scanner,
            publicConfig: [
                ("catalog_roots", .int(Int64(configuration.catalog.roots.count))),
                ("file_pattern", .string(configuration.catalog.pattern)),
                ("threads", .int(Int64(configuration.effectiveThreadCount))),
                ("max_body_bytes", .int(Int64(configuration.worker.maximumBodyBytes))),
                ("admin_authentication", .bool(configuration.admin.tokenFile != nil)),
                ("menu_timeout", .int(Int64(configuration.menu.timeoutSeconds))),
                ("menu_default", .string(configuration.menu.defaultChoice)),
            ],
            menu: configuration.menuOptions)
        api = CatalogAPI(store: store, context: context, authorizer: authorizer, audit: { logger.notice("admin change: \($0)") })
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

        logger.info("pxe-catalog \(Self.version) starting", metadata: [
            "roots": .array(configuration.catalog.roots.map { .string($0) }),
            "pattern": .string(configuration.catalog.pattern),
            "threads": .stringConvertible(configuration.effectiveThreadCount),
        ])
        logRefresh(store.refresh(), reason: "startup")

        let listenFD: Int32
        var ownedSocketPath: String?
        if let inherited = ListenSocket.inherited(environment: ProcessInfo.processInfo.environment) {
            listenFD = inherited
            logger.info("listening on inherited socket fd \(inherited)")
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
                                   log: { logger.error("\($0)") },
                                   handler: { request in Self.respond(to: request, api: api) })
        server.start()

        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else { continue }
            switch received {
            case SIGHUP:
                logger.notice("SIGHUP: re-reading the admin tokens and rescanning the catalog")
                do {
                    api.authorizer.replacePolicy(try Self.adminPolicy(configuration, logger: logger))
                } catch {
                    logger.error("\(error.description) Keeping the previous tokens.")
                }
                logRefresh(store.refresh(), reason: "SIGHUP")
            case SIGUSR1:
                logger.info("SIGUSR1 ignored: the worker keeps no log files of its own to reopen")
            default:
                logger.notice("signal \(received): finishing in-flight requests and stopping")
                let clean = server.stop(deadline: .seconds(configuration.worker.shutdownTimeoutSeconds))
                if let ownedSocketPath { unlink(ownedSocketPath) }
                if !clean {
                    logger.error("in-flight requests did not finish within \(configuration.worker.shutdownTimeoutSeconds) s; exiting anyway")
                    return 1
                }
                server.waitUntilStopped()
                logger.notice("stopped")
                return 0
            }
        }
    }

    func logRefresh(_ summary: RefreshSummary, reason: String) {
        logger.info("catalog scanned (\(reason)): \(summary.count) containers, \(summary.added) added, \(summary.removed) removed, \(summary.invalid) invalid, \(summary.parsed) parsed, \(summary.reused) unchanged in \(summary.duration)")
        for problem in summary.rootProblems { logger.error("\(problem)") }
        if let error = summary.settingsError {
            logger.error("settings of new entries could not be saved to \(error.path): \(error.description)")
        }
        for entry in store.current.snapshot.entries where !entry.isValid && summary.parsed > 0 {
            logger.warning("invalid container \(entry.relativePath): \(entry.problem ?? "")")
        }
    }

    /// The FastCGI <-> API adapter: CGI params to an `HTTPRequest`, an `HTTPResponse` back.
    static func respond(to request: FastCGIRequest, api: CatalogAPI) -> FastCGIResponse {
        var headers: [String: String] = [:]
        for (name, value) in request.params where name.hasPrefix("HTTP_") {
            let header = name.dropFirst(5).lowercased().replacingOccurrences(of: "_", with: "-")
            headers[header] = String(decoding: value, as: UTF8.self)
        }
        let bodyProblem: HTTPRequest.BodyProblem? = request.bodyExceedsLimit ? .tooLarge
            : request.bodyShorterThanDeclared ? .shorterThanDeclared : nil
        let httpRequest = HTTPRequest(
            method: request.param("REQUEST_METHOD") ?? "GET",
            path: request.param("DOCUMENT_URI") ?? request.param("SCRIPT_NAME"),
            query: request.param("QUERY_STRING") ?? "",
            headers: headers, body: request.body, bodyProblem: bodyProblem)
        let response = api.handle(httpRequest)
        return FastCGIResponse(status: response.status, headers: response.headers, body: response.body)
    }
}
