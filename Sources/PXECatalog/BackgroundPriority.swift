import Foundation

/// Runs catalog scans at a lower CPU priority (nice +10), so that a refresh of a large catalog
/// yields the cores to the request threads and nginx while a boot storm is on; idle cores still
/// run it at full speed. Only threads that do nothing but scan work are lowered: a thread
/// cannot raise its priority again without CAP_SYS_NICE.
enum BackgroundPriority {
    static let niceness: Int32 = 10

    /// Lowers the calling thread to `niceness` unless it is already as low. For scan threads
    /// (the one `run` starts and Dispatch's workers, which only this module's scans use).
    static func lowerCurrentThread() {
        if !isCurrentThreadLowered {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        }
    }

    /// Whether the calling thread already runs at `niceness` or lower priority. `who` 0 is the
    /// calling thread: on Linux the nice value is per thread.
    static var isCurrentThreadLowered: Bool {
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        return errno == 0 && current >= niceness
    }

    /// Runs `body` on a new, lowered thread and waits for its result, so the caller (a request
    /// thread, the watcher) keeps its own priority. On a thread that is already lowered (a scan
    /// inside a refresh) it runs `body` right there.
    static func run<T>(_ body: @escaping () -> T) -> T {
        if isCurrentThreadLowered { return body() }
        nonisolated(unsafe) let work = body
        nonisolated(unsafe) var result: T?
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            lowerCurrentThread()
            result = work()
            finished.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        finished.wait()
        return result!
    }
}
