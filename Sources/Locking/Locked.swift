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

/// A pthread mutex that guards code rather than a value (e.g. "one writer at a time").
///
/// Not `Locked<Void>`: ThreadSanitizer instruments the `inout` access to the zero-sized value
/// at an address it shares with the object itself, and reported a race between a holder of
/// the lock and a thread that was only about to take it (seen in `make check-concurrency`).
public final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` holding the lock.
    public func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
