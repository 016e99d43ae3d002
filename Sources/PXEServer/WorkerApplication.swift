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

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let scanner = CatalogScanner(roots: configuration.catalog.roots, pattern: configuration.catalog.pattern)
        store = CatalogStore(scanner: scanner)
        let context = APIContext(
            version: Self.version, catalogRoots: configuration.catalog.roots, filesRoot: configuration.effectiveFilesRoot,
            internalPrefix: configuration.nginx.internalPrefix, scanner: scanner,
            publicConfig: [
                ("catalog_roots", .int(Int64(configuration.catalog.roots.count))),
                ("file_pattern", .string(configuration.catalog.pattern)),
                ("threads", .int(Int64(configuration.effectiveThreadCount))),
                ("max_body_bytes", .int(Int64(configuration.worker.maximumBodyBytes))),
            ])
        api = CatalogAPI(store: store, context: context)
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
                logger.notice("SIGHUP: rescanning the catalog")
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
