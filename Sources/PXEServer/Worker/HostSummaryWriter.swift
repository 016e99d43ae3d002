import BackgroundServices
import Foundation
import Locking
import Logging
import PXECatalog
import PXEHosts
import PXESettings

/// Hands what machines did to the settings store every few seconds, on a thread of its own, so
/// that `GET /hosts` keeps machines across restarts and a fleet's nodes add up their counts.
/// The boot path only updates the boot log in memory; it never waits for this.
final class HostSummaryWriter: BackgroundService, Sendable {
    let name = "host-summaries"
    static let interval: DispatchTimeInterval = .seconds(5)

    private let bootLog: BootLog
    private let store: any SettingsStore
    private let logger: Logger
    private let thread = Locked<PeriodicThread?>(nil)
    private let failing = Locked(false)

    /// Loads the summaries the store kept into `bootLog` (an unreachable store is not an error:
    /// they come with the next start); `start` starts saving.
    init(bootLog: BootLog, store: any SettingsStore, logger: Logger) {
        self.bootLog = bootLog
        self.store = store
        self.logger = logger
        do {
            bootLog.seed(try store.hosts(limit: bootLog.maximumHosts).map(Self.summary))
        } catch {
            logger.warning("the machines seen before this start could not be loaded: \(error.description)")
        }
    }

    func start() {
        thread.withLock { $0 = PeriodicThread(name: name, interval: Self.interval, finalRun: true) { [self] in saveNow() } }
    }

    static func summary(_ record: HostRecord) -> HostSummary {
        HostSummary(mac: record.mac, firstSeen: record.firstSeen, lastSeen: record.lastSeen, machine: MachineIdentity(query: record.identity),
                    lastEntry: record.lastEntry, boots: Int(record.boots), requests: Int(record.requests))
    }

    static func record(_ summary: HostSummary) -> HostRecord {
        HostRecord(mac: summary.mac, firstSeen: summary.firstSeen, lastSeen: summary.lastSeen, lastEntry: summary.lastEntry,
                   boots: Int64(summary.boots), requests: Int64(summary.requests), identity: summary.machine.query)
    }

    /// Saves what is pending now (tests and the status of a stopping worker use it).
    func saveNow() {
        let deltas = bootLog.takeUnsaved()
        guard !deltas.isEmpty else { return }
        do {
            try store.saveHosts(deltas.map(Self.record))
            if failing.withLock({ state in defer { state = false }; return state }) { logger.notice("machine summaries are saved to the settings store again") }
        } catch {
            bootLog.returnUnsaved(deltas)
            if !failing.withLock({ state in defer { state = true }; return state }) {
                logger.warning("machine summaries could not be saved (\(error.description)); kept in memory and retried")
            }
        }
    }

    /// Saves what is pending and stops the thread.
    func stop(deadline: ContinuousClock.Instant) -> Bool {
        thread.withLock { $0 }?.stop(deadline: deadline) ?? true
    }
}
