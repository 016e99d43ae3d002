import Foundation
import Locking

/// Where the catalog's background work (scans, preparing payloads) runs, and what it asks of the
/// process around it. The domain decides *which* threads do background work; the process layer
/// decides what that means (PXEServer's `ProcessTuning` installs hooks that lower those threads'
/// CPU priority and give freed memory back to the system). Tools and tests that install nothing
/// run the same code untuned.
package enum BackgroundWork {
    package struct Hooks: Sendable {
        /// Lowers the calling thread's priority (a thread that only does background work).
        package var lowerCurrentThread: @Sendable () -> Void
        /// Whether the calling thread already runs lowered.
        package var isCurrentThreadLowered: @Sendable () -> Bool
        /// Called after large temporary allocations were freed (a scan, a payload decoded).
        package var returnFreedMemory: @Sendable () -> Void
        /// Puts the calling thread, and the processes it starts, where only otherwise idle CPU
        /// time reaches them (optional work: the analyzer's).
        package var idleCurrentThread: @Sendable () -> Void

        package init(lowerCurrentThread: @escaping @Sendable () -> Void, isCurrentThreadLowered: @escaping @Sendable () -> Bool,
                    returnFreedMemory: @escaping @Sendable () -> Void, idleCurrentThread: @escaping @Sendable () -> Void) {
            self.lowerCurrentThread = lowerCurrentThread
            self.isCurrentThreadLowered = isCurrentThreadLowered
            self.returnFreedMemory = returnFreedMemory
            self.idleCurrentThread = idleCurrentThread
        }

        package static let untuned = Hooks(lowerCurrentThread: {}, isCurrentThreadLowered: { false }, returnFreedMemory: {}, idleCurrentThread: {})
    }

    private static let installed = Locked(Hooks.untuned)

    /// Installs the process's hooks; called once at start, before any background work.
    package static func install(_ hooks: Hooks) {
        installed.withLock { $0 = hooks }
    }

    static var hooks: Hooks { installed.withLock { $0 } }

    /// For a thread that does nothing but background work (the boot preparer's, Dispatch's
    /// workers inside a scan).
    static func lowerCurrentThread() { hooks.lowerCurrentThread() }

    static func returnFreedMemory() { hooks.returnFreedMemory() }

    /// For a thread whose work may wait for idle CPU (the analyzer's, and what it starts).
    static func idleCurrentThread() { hooks.idleCurrentThread() }

    /// Runs `body` on a new thread that is lowered, and waits for its result, so the caller (a
    /// request thread, the watcher) keeps its own priority: without privileges a thread can
    /// never raise it again. On a thread already lowered (a scan inside a refresh) it runs
    /// `body` right there.
    package static func run<T>(_ body: @escaping () -> T) -> T {
        let hooks = self.hooks
        if hooks.isCurrentThreadLowered() { return body() }
        nonisolated(unsafe) let work = body
        nonisolated(unsafe) var result: T?
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            hooks.lowerCurrentThread()
            result = work()
            finished.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        finished.wait()
        return result!
    }
}
