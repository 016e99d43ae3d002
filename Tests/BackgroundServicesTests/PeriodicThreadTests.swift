import BackgroundServices
import Foundation
import Locking
import Testing

@Suite struct PeriodicThreadTests {
    /// It runs its body again and again until stopped.
    @Test func theBodyRunsEveryInterval() {
        let runs = Locked(0)
        let thirdRun = DispatchSemaphore(value: 0)
        let thread = PeriodicThread(name: "periodic-test", interval: .milliseconds(5), finalRun: false) {
            if runs.withLock({ $0 += 1; return $0 }) == 3 { thirdRun.signal() }
        }
        #expect(thirdRun.wait(timeout: .now() + 60) == .success)
        #expect(thread.stop(deadline: .now + .seconds(30)))
    }

    /// An interval no test waits for: the body runs only if stopping asks for a final run, and
    /// `stop` wakes the thread at once.
    @Test(arguments: [true, false])
    func stoppingWakesTheThreadAndRunsTheBodyOnceMoreOnlyWhenAsked(_ finalRun: Bool) {
        let runs = Locked(0)
        let thread = PeriodicThread(name: "periodic-test", interval: .seconds(3600), finalRun: finalRun) { runs.withLock { $0 += 1 } }
        #expect(thread.stop(deadline: .now + .seconds(30)), "ended without waiting for the interval")
        #expect(runs.withLock { $0 } == (finalRun ? 1 : 0))
    }
}
