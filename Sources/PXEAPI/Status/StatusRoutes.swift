import Foundation
import PXECatalog
import PXEHosts
import PXESettings
import StrictJSON

/// `/status`, `/metrics` and `/healthz`.
enum StatusRoute: Equatable, Sendable {
    case status, metrics, health

    init?(path: String) {
        switch path {
        case "/status": self = .status
        case "/metrics": self = .metrics
        case "/healthz": self = .health
        default: return nil
        }
    }

    var metricName: String {
        switch self {
        case .status: return "status"
        case .metrics: return "metrics"
        case .health: return "healthz"
        }
    }
}

/// `/status` (php-fpm's status page is the model) and `/metrics`.
struct StatusRoutes: Sendable {
    let store: CatalogStore
    let currentContext: CurrentContext
    var context: APIContext { currentContext.value }
    let metrics: APIMetrics
    /// Extra `/status` sections from the process layer (watcher mode, settings file state).
    let statusSections: @Sendable () -> [(String, JSONValue)]
    /// Requests in flight, from the transport.
    let inFlight: @Sendable () -> Int
    /// The boot cache's counters for `/status` and `/metrics` (nil: no boot cache).
    let bootCounts: @Sendable () -> BootPreparer.Counts?
    let bootLog: BootLog
    let nextBoots: NextBootBook

    func respond(_ route: StatusRoute) -> HTTPResponse {
        switch route {
        case .status: return status()
        case .metrics: return metricsText()
        case .health: return .json(.object([("status", .string("ok"))]))
        }
    }

    func status() -> HTTPResponse {
        let state = store.current
        let snapshot = state.snapshot
        let uptime = Date().timeIntervalSince(metrics.startedAt)
        var members: [(String, JSONValue)] = [
            ("name", .string(context.serverName)),
            ("version", .string(context.version)),
            ("pid", .int(Int64(getpid()))),
            ("started_at", .string(CatalogJSON.iso8601(metrics.startedAt))),
            ("uptime_seconds", .int(Int64(uptime))),
            ("catalog", .object([
                ("count", .int(Int64(snapshot.entries.count))),
                ("valid", .int(Int64(snapshot.entries.count - snapshot.invalidCount))),
                ("invalid", .int(Int64(snapshot.invalidCount))),
                ("pxe_enabled", .int(Int64(state.pxeEntries().count))),
                ("scans", .int(Int64(snapshot.generation))),
                ("last_scan_at", .string(CatalogJSON.iso8601(snapshot.scannedAt))),
                ("last_scan_duration_ms", .double((APIMetrics.seconds(snapshot.scanDuration) * 1000 * 1000).rounded() / 1000)),
            ])),
            ("requests", .object([
                ("served", .int(Int64(metrics.requestsServed))),
                ("in_flight", .int(Int64(inFlight()))),
            ])),
        ]
        members.append(bootStatusSection(state))
        members += statusSections()
        return .json(.object(members))
    }

    func metricsText() -> HTTPResponse {
        let text = metrics.render(catalog: store.current, inFlight: inFlight(), scans: store.current.snapshot.generation,
                                  settingsWriteFailures: store.settingsWriteFailures, boot: bootCounts(),
                                  settingsStore: store.settingsStore.health, boots: bootLog.bootCounts(),
                                  hostsSeen: bootLog.hosts().count, nextBootsPending: nextBoots.pending.count)
        return .text(text, contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    /// The boot cache's section: entries by state, cache use.
    func bootStatusSection(_ state: CatalogState) -> (String, JSONValue) {
        var byState: [BootStatus.State: Int] = [:]
        for entry in state.snapshot.entries { byState[state.bootStatus(entry.id).state, default: 0] += 1 }
        let counts = bootCounts()
        return ("boot", .object([
            ("ready", .int(Int64(byState[.ready] ?? 0))),
            ("pending", .int(Int64((byState[.pending] ?? 0) + (byState[.preparing] ?? 0)))),
            ("failed", .int(Int64(byState[.failed] ?? 0))),
            ("not_prepared", .int(Int64(byState[.notPrepared] ?? 0))),
            ("cache_bytes", counts.map { .int($0.cacheBytes) } ?? .null),
            ("cache_budget_bytes", counts.map { .int($0.budgetBytes) } ?? .null),
        ]))
    }
}
