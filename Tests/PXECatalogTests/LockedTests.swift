import Foundation
import Locking
import Testing

@Suite struct LockedTests {
    /// Four threads change one value under the lock; nothing is lost. Under ThreadSanitizer
    /// (`make check-concurrency`) this also shows the lock is one it can see: the standard
    /// library's Mutex is not, and the same test with it reports a race.
    @Test func concurrentChangesUnderTheLockAreNeverLost() {
        let counter = Locked((count: 0, log: [Int]()))
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for step in 0..<5_000 {
                counter.withLock { value in
                    value.count += 1
                    if step % 1000 == 0 { value.log.append(thread) }
                }
            }
        }
        #expect(counter.withLock { $0.count } == 20_000)
        #expect(counter.withLock { $0.log.count } == 20)
    }
}
