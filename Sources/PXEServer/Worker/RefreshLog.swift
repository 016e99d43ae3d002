import Locking
import Logging
import PXECatalog

/// Logs each catalog scan's summary, and each invalid container once per file version (not at
/// every rescan).
final class RefreshLog: Sendable {
    private let logger: Logger
    private let reportedProblems = Locked<Set<String>>([])

    init(logger: Logger) { self.logger = logger }

    func record(_ summary: RefreshSummary, reason: String, store: CatalogStore, forgetAfterDays: Int) {
        logger.info("catalog scanned (\(reason)): \(summary.count) containers, \(summary.added) added, \(summary.removed) removed, \(summary.invalid) invalid, \(summary.parsed) read, \(summary.reused) unchanged, \(summary.deferred) still being written, in \(summary.duration)")
        if summary.forgotten > 0 {
            logger.notice("forgot the settings of \(summary.forgotten) entries missing for more than \(forgetAfterDays) days (state.forget_after_days)")
        }
        for problem in summary.rootProblems { logger.error("\(problem)") }
        if let error = summary.settingsError {
            logger.error("the default settings of new entries could not be saved (they are served from memory until the next refresh): \(error.description)")
        }
        let entries = store.current.snapshot.entries.filter { !$0.isValid }
        let fresh = reportedProblems.withLock { reported -> [CatalogEntry] in
            let keys = entries.map { "\($0.realPath)#\($0.fileIdentity.modifiedNanoseconds)" }
            let new = zip(entries, keys).filter { !reported.contains($0.1) }.map(\.0)
            reported = Set(keys)
            return new
        }
        for entry in fresh { logger.warning("invalid container \(entry.relativePath): \(entry.problem ?? "")") }
    }
}
