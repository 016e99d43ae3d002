import Foundation
import Locking
import PXECatalog
import PXEHosts
import PXESettings

/// Request counters, latency histograms and per-container download counts, rendered in the
/// Prometheus text format. Hand-written rather than swift-metrics + swift-prometheus: a dozen
/// series do not justify two more packages in every CI build, and the text format is small.
package final class APIMetrics: Sendable {
    /// Upper bounds of the latency histogram, in seconds (worker time, not nginx's).
    package static let latencyBuckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1]

    struct Histogram {
        var counts = [Int](repeating: 0, count: APIMetrics.latencyBuckets.count)
        var sum = 0.0
        var total = 0
    }

    /// Counters of one route; a class so a request updates them in place with one lookup.
    final class RouteStats: @unchecked Sendable {   // only touched under `state`'s lock
        var statuses: [(status: Int, count: Int)] = []
        var histogram = Histogram()
    }

    struct State {
        var routes: [String: RouteStats] = [:]
        var downloads: [String: Int] = [:]            // container id -> X-Accel redirects
        var served = 0
    }

    private let state = Locked(State())
    package let startedAt = Date()

    package init() {}

    func record(route: String, status: Int, seconds: Double, downloadID: String?) {
        let bucket = Self.latencyBuckets.firstIndex(where: { seconds <= $0 })
        state.withLock { state in
            state.served += 1
            let stats: RouteStats
            if let known = state.routes[route] {
                stats = known
            } else {
                stats = RouteStats()
                state.routes[route] = stats
            }
            if let index = stats.statuses.firstIndex(where: { $0.status == status }) {
                stats.statuses[index].count += 1
            } else {
                stats.statuses.append((status, 1))
            }
            if let bucket { stats.histogram.counts[bucket] += 1 }
            stats.histogram.sum += seconds
            stats.histogram.total += 1
            if let downloadID { state.downloads[downloadID, default: 0] += 1 }
        }
    }

    package var requestsServed: Int { state.withLock { $0.served } }

    /// Prometheus text exposition (version 0.0.4).
    package func render(catalog: CatalogState, inFlight: Int, scans: Int, settingsWriteFailures: Int, boot: BootPreparer.Counts? = nil,
                        settingsStore: SettingsStoreHealth = SettingsStoreHealth(),
                        boots: [(kind: BootRequestKind, entry: String, count: Int)] = [], hostsSeen: Int = 0, nextBootsPending: Int = 0) -> String {
        // Copy out under the lock: the route counters are mutable objects. Download series of
        // ids whose settings were forgotten (gone from the catalog for good) go with them.
        let (requests, latency, downloads) = state.withLock { state in
            state.downloads = state.downloads.filter { catalog.settings[$0.key] != nil }
            return (state.routes.mapValues { Dictionary($0.statuses.map { ($0.status, $0.count) }, uniquingKeysWith: +) },
                    state.routes.mapValues { $0.histogram }, state.downloads)
        }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("pxe_catalog_requests_total", "counter", "Requests answered by the worker, by route and status.")
        for route in requests.keys.sorted() {
            for status in requests[route]!.keys.sorted() {
                out += "pxe_catalog_requests_total{route=\"\(route)\",status=\"\(status)\"} \(requests[route]![status]!)\n"
            }
        }
        family("pxe_catalog_request_duration_seconds", "histogram", "Time the worker spent on a request, by route.")
        for route in latency.keys.sorted() {
            let histogram = latency[route]!
            var cumulative = 0
            for (index, bound) in Self.latencyBuckets.enumerated() {
                cumulative += histogram.counts[index]
                out += "pxe_catalog_request_duration_seconds_bucket{route=\"\(route)\",le=\"\(bound)\"} \(cumulative)\n"
            }
            out += "pxe_catalog_request_duration_seconds_bucket{route=\"\(route)\",le=\"+Inf\"} \(histogram.total)\n"
            out += "pxe_catalog_request_duration_seconds_sum{route=\"\(route)\"} \(histogram.sum)\n"
            out += "pxe_catalog_request_duration_seconds_count{route=\"\(route)\"} \(histogram.total)\n"
        }
        family("pxe_catalog_requests_in_flight", "gauge", "Requests being handled right now.")
        out += "pxe_catalog_requests_in_flight \(inFlight)\n"
        family("pxe_catalog_downloads_total", "counter", "Downloads handed to nginx (X-Accel-Redirect), by container id.")
        for id in downloads.keys.sorted() {
            out += "pxe_catalog_downloads_total{id=\"\(id)\"} \(downloads[id]!)\n"
        }
        let entries = catalog.snapshot.entries
        let invalid = catalog.snapshot.invalidCount
        family("pxe_catalog_containers", "gauge", "Containers in the catalog, by validity.")
        out += "pxe_catalog_containers{valid=\"true\"} \(entries.count - invalid)\n"
        out += "pxe_catalog_containers{valid=\"false\"} \(invalid)\n"
        family("pxe_catalog_pxe_enabled_containers", "gauge", "Valid containers offered for network boot.")
        out += "pxe_catalog_pxe_enabled_containers \(catalog.pxeEntries().count)\n"
        family("pxe_catalog_scans_total", "counter", "Catalog scans since start.")
        out += "pxe_catalog_scans_total \(scans)\n"
        family("pxe_catalog_last_scan_duration_seconds", "gauge", "Duration of the latest catalog scan.")
        out += "pxe_catalog_last_scan_duration_seconds \(Self.seconds(catalog.snapshot.scanDuration))\n"
        family("pxe_catalog_last_scan_timestamp_seconds", "gauge", "When the latest catalog scan finished (Unix time).")
        out += "pxe_catalog_last_scan_timestamp_seconds \(Int(catalog.snapshot.scannedAt.timeIntervalSince1970))\n"
        family("pxe_catalog_settings_write_failures_total", "counter", "Settings that could not be saved.")
        out += "pxe_catalog_settings_write_failures_total \(settingsWriteFailures)\n"
        family("pxe_catalog_settings_store_available", "gauge", "1 while admin changes can be saved (the settings database is reachable).")
        out += "pxe_catalog_settings_store_available \(settingsStore.available ? 1 : 0)\n"
        family("pxe_catalog_settings_store_reconnects_total", "counter", "Times the settings database came back after being unreachable.")
        out += "pxe_catalog_settings_store_reconnects_total \(settingsStore.reconnects)\n"
        family("pxe_catalog_settings_revision", "gauge", "The settings store revision this node has applied (equal on every node of a fleet once in step).")
        out += "pxe_catalog_settings_revision \(catalog.storeRevision)\n"
        family("pxe_catalog_boot_entries", "gauge", "Catalog entries by the state of their boot parts.")
        var byState: [BootStatus.State: Int] = [:]
        for entry in entries { byState[catalog.bootStatus(entry.id).state, default: 0] += 1 }
        for state in [BootStatus.State.pending, .preparing, .ready, .failed, .notPrepared] {
            out += "pxe_catalog_boot_entries{state=\"\(state.rawValue)\"} \(byState[state] ?? 0)\n"
        }
        if let boot {
            family("pxe_catalog_boot_cache_bytes", "gauge", "Bytes the prepared boot parts take in the boot cache.")
            out += "pxe_catalog_boot_cache_bytes \(boot.cacheBytes)\n"
            family("pxe_catalog_boot_cache_budget_bytes", "gauge", "The boot cache's budget (boot.cache_max_bytes); 0 is no limit.")
            out += "pxe_catalog_boot_cache_budget_bytes \(boot.budgetBytes)\n"
        }
        family("pxe_catalog_boots_total", "counter", "Machines that fetched an entry's kernel (kind linux) or started reading its disk image (kind disk), by entry.")
        for boot in boots where catalog.settings[boot.entry] != nil {
            out += "pxe_catalog_boots_total{entry=\"\(boot.entry)\",kind=\"\(boot.kind == .kernel ? "linux" : "disk")\"} \(boot.count)\n"
        }
        family("pxe_catalog_hosts_seen", "gauge", "Machines (by MAC) that booted from this node since it started.")
        out += "pxe_catalog_hosts_seen \(hostsSeen)\n"
        family("pxe_catalog_next_boots_pending", "gauge", "One-shot next boots waiting for their machine.")
        out += "pxe_catalog_next_boots_pending \(nextBootsPending)\n"
        family("pxe_catalog_start_time_seconds", "gauge", "When the worker started (Unix time).")
        out += "pxe_catalog_start_time_seconds \(Int(startedAt.timeIntervalSince1970))\n"
        return out
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
