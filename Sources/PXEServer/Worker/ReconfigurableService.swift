import BackgroundServices
import Locking

/// A service made from the configuration (the catalog watcher, dnsmasq's log follower): started
/// with the worker, replaced by a new one when SIGHUP changes what it is made from, stopped at
/// shutdown. `make` answers nil when the configuration turns it off.
final class ReconfigurableService<Inner: BackgroundService>: BackgroundService, Sendable {
    let name: String
    private let current = Shared<Inner?>(nil)
    private let configuration: @Sendable () -> Configuration
    private let make: @Sendable (Configuration) -> Inner?

    /// `configuration`: the configuration in force (read at start).
    init(name: String, configuration: @escaping @Sendable () -> Configuration, make: @escaping @Sendable (Configuration) -> Inner?) {
        self.name = name
        self.configuration = configuration
        self.make = make
    }

    /// The one running now (nil: off).
    var running: Inner? { current.value }

    func start() throws { try restart(configuration()) }

    /// Makes one for `configuration` and starts it, stopping the one before.
    func restart(_ configuration: Configuration) throws {
        let next = make(configuration)
        _ = current.exchange(next)?.stop(deadline: .now + .seconds(10))
        try next?.start()
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
