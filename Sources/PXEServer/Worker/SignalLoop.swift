import Glibc

/// The worker's signals, taken synchronously: blocked in every thread (call `block()` before
/// any thread starts, so they inherit the mask) and received by `sigwait` on the main thread,
/// because libfcgi's own SIGTERM handling does not reach threads blocked in accept().
struct SignalLoop {
    enum Event {
        /// SIGHUP: re-read the configuration.
        case reload
        /// SIGUSR1: reopen logs (the worker has none of its own).
        case reopenLogs
        /// SIGTERM, SIGINT: finish in-flight requests and stop.
        case stop(Int32)
    }

    private var signals = sigset_t()

    /// Blocks the worker's signals in the calling thread and every thread it starts later.
    static func block() -> SignalLoop {
        var loop = SignalLoop()
        sigemptyset(&loop.signals)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGUSR1] { sigaddset(&loop.signals, signal) }
        pthread_sigmask(SIG_BLOCK, &loop.signals, nil)
        return loop
    }

    /// Waits for the next signal.
    mutating func next() -> Event {
        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else { continue }
            switch received {
            case SIGHUP: return .reload
            case SIGUSR1: return .reopenLogs
            default: return .stop(received)
            }
        }
    }
}
