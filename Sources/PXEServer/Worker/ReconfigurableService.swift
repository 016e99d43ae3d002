import BackgroundServices
import Locking
import Logging
import PXECatalog

/// The one running `CatalogWatcher`: started with the worker, replaced when SIGHUP changes the
/// catalog keys, stopped at shutdown.
final class WatcherLifecycle: BackgroundService, Sendable {
    let name = "catalog-watcher"
    private let current = Shared<CatalogWatcher?>(nil)
    private let store: CatalogStore
    private let logger: Logger
    private let configuration: @Sendable () -> Configuration
    private let onRefresh: @Sendable (RefreshSummary, String) -> Void

    /// `configuration`: the configuration in force (read at start).
    init(store: CatalogStore, logger: Logger, configuration: @escaping @Sendable () -> Configuration,
         onRefresh: @escaping @Sendable (RefreshSummary, String) -> Void) {
        self.store = store
        self.logger = logger
        self.configuration = configuration
        self.onRefresh = onRefresh
    }

    /// How the running watcher notices changes, for `/status`.
    var mode: String { current.value?.mode.rawValue ?? "off" }

    func start() { restart(configuration()) }

    /// Starts a watcher for `configuration`, stopping the one before.
    func restart(_ configuration: Configuration) {
        let watcher = CatalogWatcher(
            store: store, watch: configuration.catalog.watch, settleMilliseconds: configuration.catalog.settleMilliseconds,
            rescanIntervalSeconds: configuration.catalog.rescanIntervalSeconds, logger: logger, onRefresh: onRefresh)
        _ = current.exchange(watcher)?.stop(deadline: .now + .seconds(10))
        watcher.start()
    }

    func stop(deadline: ContinuousClock.Instant) -> Bool {
        current.exchange(nil)?.stop(deadline: deadline) ?? true
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
