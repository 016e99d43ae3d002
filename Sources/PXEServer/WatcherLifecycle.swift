import Locking
import Logging
import PXECatalog

/// The one running `CatalogWatcher`: started at start, replaced when SIGHUP changes the catalog
/// keys, stopped at shutdown.
final class WatcherLifecycle: Sendable {
    private let current = Shared<CatalogWatcher?>(nil)
    private let store: CatalogStore
    private let logger: Logger
    private let onRefresh: @Sendable (RefreshSummary, String) -> Void

    init(store: CatalogStore, logger: Logger, onRefresh: @escaping @Sendable (RefreshSummary, String) -> Void) {
        self.store = store
        self.logger = logger
        self.onRefresh = onRefresh
    }

    /// How the running watcher notices changes, for `/status`.
    var mode: String { current.value?.mode.rawValue ?? "off" }

    /// Starts a watcher for `configuration`, stopping the one before.
    func start(_ configuration: Configuration) {
        let watcher = CatalogWatcher(
            store: store, watch: configuration.catalog.watch, settleMilliseconds: configuration.catalog.settleMilliseconds,
            rescanIntervalSeconds: configuration.catalog.rescanIntervalSeconds, logger: logger, onRefresh: onRefresh)
        current.exchange(watcher)?.stop()
        watcher.start()
    }

    func stop() {
        current.exchange(nil)?.stop()
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
