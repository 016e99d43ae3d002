import Foundation
import Locking

/// A part of the worker that runs on threads of its own (the boot preparer, the catalog
/// watcher, the settings store's watch, the FastCGI transport, ...): all share this one shape,
/// after swift-service-lifecycle's `Service` but with threads, which fit libfcgi's blocking
/// accept loop. A `ServiceGroup` starts them in order and stops them in reverse.
public protocol BackgroundService: AnyObject, Sendable {
    /// Names the service in the log and in errors ("boot-preparer").
    var name: String { get }

    /// Starts the service's threads. Throws a sentence when it cannot start; then nothing of it
    /// is left running.
    func start() throws

    /// Asks the service to stop (work in progress is abandoned or finished, as the service
    /// says) and waits until its threads have ended, at most until `deadline`. Answers whether
    /// they ended. Stopping a service that is not running answers true at once.
    func stop(deadline: ContinuousClock.Instant) -> Bool
}

/// A thread a service runs, and the means to wait for its end: every service waits the same way.
public final class ServiceThread: Sendable {
    private let finished = DispatchSemaphore(value: 0)

    /// Starts `body` on a new thread named `name`.
    public init(name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
        let finished = self.finished
        let thread = Thread {
            body()
            finished.signal()
        }
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
    }

    /// Waits until the thread's body returned, at most until `deadline`; answers whether it did.
    /// Once it answered true, later calls answer true at once.
    public func waitUntilFinished(deadline: ContinuousClock.Instant) -> Bool {
        let remaining = max(ContinuousClock.now.duration(to: deadline), .zero)
        let nanoseconds = Int(min(remaining.components.seconds, 86_400)) * 1_000_000_000 + Int(remaining.components.attoseconds / 1_000_000_000)
        guard finished.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success else { return false }
        finished.signal()   // for the next caller
        return true
    }
}

/// A thread that runs `body` every `interval` until it is stopped: the shape of the services
/// that look for work on a timer (the host summaries, GRUB's tree). `stop` wakes it at once;
/// with `finalRun`, `body` runs once more before the thread ends (to save what is pending).
public final class PeriodicThread: Sendable {
    private let stopped = Locked(false)
    private let wake = DispatchSemaphore(value: 0)
    private let thread: ServiceThread

    public init(name: String, interval: DispatchTimeInterval, finalRun: Bool, _ body: @escaping @Sendable () -> Void) {
        let (stopped, wake) = (self.stopped, self.wake)
        thread = ServiceThread(name: name) {
            while true {
                _ = wake.wait(timeout: .now() + interval)
                if stopped.withLock({ $0 }) {
                    if finalRun { body() }
                    return
                }
                body()
            }
        }
    }

    /// Asks the thread to end and waits for it, at most until `deadline`; answers whether it ended.
    public func stop(deadline: ContinuousClock.Instant) -> Bool {
        stopped.withLock { $0 = true }
        wake.signal()
        return thread.waitUntilFinished(deadline: deadline)
    }
}
