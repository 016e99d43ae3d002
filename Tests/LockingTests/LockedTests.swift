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

@Suite struct LockTests {
    /// The value-free lock serialises a section: a plain counter changed only inside it by four
    /// threads loses nothing (and ThreadSanitizer sees the lock).
    @Test func sectionsUnderTheLockNeverOverlap() {
        final class Unguarded: @unchecked Sendable { var count = 0, inside = 0, overlaps = 0 }
        let lock = Lock(), shared = Unguarded()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<5_000 {
                lock.withLock {
                    shared.inside += 1
                    if shared.inside > 1 { shared.overlaps += 1 }
                    shared.count += 1
                    shared.inside -= 1
                }
            }
        }
        #expect(shared.count == 20_000)
        #expect(shared.overlaps == 0)
    }
}
