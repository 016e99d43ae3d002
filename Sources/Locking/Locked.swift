import Glibc

/// A value behind a pthread mutex: the lock every shared mutable value of the worker uses.
///
/// Not the standard library's `Synchronization.Mutex`: on Linux it locks with futexes inside the
/// precompiled (uninstrumented) standard library, so ThreadSanitizer never sees the lock and
/// reports every access it guards as a data race (seen in `make check-concurrency` once requests
/// ran concurrently). ThreadSanitizer intercepts `pthread_mutex_lock`, so this lock is visible.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
