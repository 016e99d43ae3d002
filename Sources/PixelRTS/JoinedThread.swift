import Foundation

/// A POSIX thread that runs one closure and is joined: the join orders everything the closure
/// wrote before what the joiner reads next (ThreadSanitizer sees it too), and the thread
/// inherits the creating thread's priority (the boot preparer's low one). For the decoder's
/// passes that run beside it on another core.
final class JoinedThread {
    private final class Work: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private var thread = pthread_t()
    private var joined = false

    /// Starts `body`; nil when no thread could be made (the caller then runs it in line).
    init?(_ body: @escaping () -> Void) {
        let work = Unmanaged.passRetained(Work(body)).toOpaque()
        let started = pthread_create(&thread, nil, { raw in
            Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, work)
        guard started == 0 else {
            Unmanaged<Work>.fromOpaque(work).release()
            return nil
        }
    }

    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    deinit { join() }
}
