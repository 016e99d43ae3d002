import Foundation

/// Runs one job at a time and lets concurrent callers share runs: a caller gets the result of
/// the first run of its kind that started after it arrived (a refresh must see the files as
/// they were when it was asked for, not earlier), and every caller that arrived while one run
/// was going shares the next one. So N refreshes at once cost at most two scans.
final class RefreshCoalescer<Kind: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    // All state below is guarded by `condition`'s lock.
    private let condition = NSCondition()
    private var isRunning = false
    private var started: [Kind: Int] = [:]
    private var finished: [Kind: (run: Int, value: Value)] = [:]
    private var waitingCount = 0

    /// Callers waiting for a run right now (tests use it to line callers up).
    var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return waitingCount
    }

    func run(_ kind: Kind, _ body: () -> Value) -> Value {
        condition.lock()
        defer { condition.unlock() }
        // A run of this kind that is going now started before we arrived: we need the next.
        let wanted = started[kind, default: 0] + 1
        waitingCount += 1
        while true {
            if let done = finished[kind], done.run >= wanted {
                waitingCount -= 1
                return done.value
            }
            if !isRunning && started[kind, default: 0] < wanted {
                waitingCount -= 1
                isRunning = true
                started[kind] = wanted
                condition.unlock()
                let value = body()
                condition.lock()
                finished[kind] = (wanted, value)
                isRunning = false
                condition.broadcast()
                return value
            }
            condition.wait()
        }
    }
}
