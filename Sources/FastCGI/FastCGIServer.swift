import CFastCGI
import Glibc
import Locking
import Synchronization

/// A pool of threads that each accept FastCGI connections on one shared listening socket and
/// answer them with a plain handler function. Wraps libfcgi's `FCGX_*` API; nothing above this
/// module sees a C pointer.
///
/// Accepting is done here, not by libfcgi: a thread unblocks `wakeSignal` only around its own
/// `accept4` (or the `ppoll` it waits in), so `stop()` can interrupt a thread that waits for a
/// connection and never one that holds one. libfcgi gives up on EINTR inside its reads, writes
/// and the poll that follows its own accept; signals that could land there cut requests that
/// were already accepted (a 502 at nginx). A connection, once accepted, is always answered.
/// libfcgi then only parses records: each request is handed an accepted descriptor and its
/// listening socket is -1, so it can never block in an accept of its own.
public final class FastCGIServer: Sendable {
    /// What the handler makes of a request.
    public enum Reply: Sendable {
        /// The response, written by the accepting thread.
        case now(FastCGIResponse)
        /// A slow request (e.g. a catalog refresh): computed and written on a thread of its own
        /// while the accepting thread goes back to accepting, so slow requests never hold the
        /// threads that boots need.
        case later(@Sendable () -> FastCGIResponse)
    }

    public typealias Handler = @Sendable (FastCGIRequest) -> Reply

    /// Signal used only to interrupt threads waiting for a connection at shutdown.
    public static let wakeSignal = SIGUSR2
    /// Longest a connection may stay silent (reading) or refuse our bytes (writing) before it is
    /// dropped: nginx sends a whole request at once and reads the reply as it comes, so only a
    /// stuck or hostile peer ever waits this long, and it holds one thread for at most this.
    public static let connectionTimeoutSeconds = 30
    /// Slow requests running at once on their own threads; beyond this the accepting thread
    /// computes them itself (back-pressure instead of unbounded threads).
    public static let maximumDeferred = 64

    private let listenFD: Int32
    /// A unix socket (nginx's usual way in): no Nagle option to set, and no drain at close.
    private let listensOnUnixSocket: Bool
    private let threadCount: Int
    private let maximumBodyBytes: Int
    private let handler: Handler
    /// NUL-terminated names of the params to copy into `FastCGIRequest`; nil copies all.
    private let capturedParamNames: [[CChar]]?
    private let log: @Sendable (String) -> Void
    private let stopping = Atomic<Bool>(false)
    private let threads = Locked<[pthread_t]>([])
    private let running = Atomic<Int>(0)
    private let deferred = Atomic<Int>(0)
    private let inFlightCount = Atomic<Int>(0)

    /// `capturedParams`: the CGI params the handler reads (nil: all). nginx sends thirty-odd
    /// params per request; copying them all was the largest single item in the worker's own
    /// CPU time on a download (perf). `CONTENT_LENGTH` is always kept: the server reads the body.
    public init(listenFD: Int32, threadCount: Int, maximumBodyBytes: Int, capturedParams: [String]? = nil,
                log: @escaping @Sendable (String) -> Void, handler: @escaping Handler) {
        capturedParamNames = capturedParams.map { names in
            (Set(names).union(["CONTENT_LENGTH"])).sorted().map { Array($0.utf8CString) }
        }
        self.listenFD = listenFD
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        listensOnUnixSocket = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listenFD, $0, &length) }
        } == 0 && address.ss_family == sa_family_t(AF_UNIX)
        self.threadCount = max(1, threadCount)
        self.maximumBodyBytes = maximumBodyBytes
        self.handler = handler
        self.log = log
    }

    /// Requests being handled right now (slow ones on their own threads included).
    public var inFlight: Int { inFlightCount.load(ordering: .relaxed) }

    /// Initialises libfcgi once per process (`FCGX_Init`) and installs the wake-up handler.
    public static func initializeLibrary() {
        _ = FCGX_Init()
        signal(SIGPIPE, SIG_IGN)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0   // no SA_RESTART: accept() and ppoll() must fail with EINTR
        sigaction(wakeSignal, &action, nil)
    }

    /// Starts the threads and returns; `waitUntilStopped()` joins them.
    public func start() {
        let context = Unmanaged.passRetained(self)
        var started: [pthread_t] = []
        for _ in 0..<threadCount {
            var thread = pthread_t()
            running.add(1, ordering: .relaxed)
            let result = pthread_create(&thread, nil, fastCGIThreadEntry, context.retain().toOpaque())
            precondition(result == 0, "pthread_create failed: \(result)")
            started.append(thread)
        }
        context.release()
        threads.withLock { $0 = started }
    }

    /// Stops accepting and waits for every accepted request, slow ones included, to be answered.
    /// Returns whether all were answered within `deadline`.
    @discardableResult
    public func stop(deadline: Duration) -> Bool {
        stopping.store(true, ordering: .sequentiallyConsistent)
        let until = ContinuousClock.now + deadline
        let all = threads.withLock { $0 }
        while running.load(ordering: .sequentiallyConsistent) > 0 || deferred.load(ordering: .sequentiallyConsistent) > 0 {
            if ContinuousClock.now >= until { return false }
            // Repeated: a thread may have checked the flag just before this signal and entered
            // accept just after it. A busy thread has the signal blocked; it stays pending and is
            // taken (harmlessly) when the thread next unblocks it, just before it checks the flag.
            if running.load(ordering: .sequentiallyConsistent) > 0 {
                for thread in all { pthread_kill(thread, Self.wakeSignal) }
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
        }
        return true
    }

    /// Joins all accepting threads (call after `stop` returned true).
    public func waitUntilStopped() {
        for thread in threads.withLock({ $0 }) { pthread_join(thread, nil) }
    }

    fileprivate func serve() {
        defer { running.subtract(1, ordering: .sequentiallyConsistent) }
        // Outside accept the wake-up signal stays blocked (see the type's comment), whatever
        // mask this thread inherited.
        var wake = sigset_t()
        sigemptyset(&wake)
        sigaddset(&wake, Self.wakeSignal)
        pthread_sigmask(SIG_BLOCK, &wake, nil)
        var whileWaiting = sigset_t()
        pthread_sigmask(SIG_BLOCK, nil, &whileWaiting)
        sigdelset(&whileWaiting, Self.wakeSignal)

        var request = Self.makeRequest()
        // Reused across this thread's requests: once the handler has let go of a request, its
        // buffers are uniquely ours again and refilling them allocates nothing.
        var incoming = FastCGIRequest(params: [])
        var headerBuffer: [UInt8] = []
        headerBuffer.reserveCapacity(512)
        while let connection = acceptConnection(wake: &wake, whileWaiting: &whileWaiting) {
            request.pointee.ipcFd = connection
            // FCGX_Accept_r first finishes "the previous request"; with keepConnection set it
            // leaves the descriptor just handed over open instead of closing it.
            request.pointee.keepConnection = 1
            // With a descriptor present libfcgi only reads the records of the request. A
            // connection that closes or sends garbage is closed by libfcgi, which then tries to
            // accept on listen_sock -1 and returns an error: that connection was no request.
            guard FCGX_Accept_r(request) == 0 else { continue }
            inFlightCount.add(1, ordering: .relaxed)
            readRequest(request, into: &incoming)
            // On TCP, closing with unread bytes resets the connection and can destroy the reply in
            // flight: libfcgi half-closes and reads until the peer closes. On a unix socket what
            // we wrote stays queued for nginx whatever happens to ours, so that wait only held
            // the thread (nginx closes when it is done with the reply, a sendfile later under
            // load). A body left unread (too large) is still drained: nginx may be writing it.
            let drainOnClose = !listensOnUnixSocket || incoming.bodyExceedsLimit
            switch handler(incoming) {
            case let .now(response):
                answer(request, with: response, drainOnClose: drainOnClose, headerBuffer: &headerBuffer)
            case let .later(work):
                if deferred.add(1, ordering: .sequentiallyConsistent).newValue <= Self.maximumDeferred {
                    let handedOver = RequestHandle(pointer: request, drainOnClose: drainOnClose)
                    request = Self.makeRequest()
                    startDeferred(handedOver, work)
                } else {
                    deferred.subtract(1, ordering: .sequentiallyConsistent)
                    answer(request, with: work(), drainOnClose: drainOnClose, headerBuffer: &headerBuffer)
                }
            }
        }
        Self.discard(request)
    }

    /// Waits for the next connection with the wake-up signal unblocked, and only then. nil when
    /// the server is stopping or the listening socket is unusable.
    private func acceptConnection(wake: inout sigset_t, whileWaiting: inout sigset_t) -> Int32? {
        while true {
            if stopping.load(ordering: .sequentiallyConsistent) { return nil }
            pthread_sigmask(SIG_UNBLOCK, &wake, nil)
            // `stop()` sets the flag before it signals: a signal taken at the unblock above is seen here.
            if stopping.load(ordering: .sequentiallyConsistent) {
                pthread_sigmask(SIG_BLOCK, &wake, nil)
                return nil
            }
            let fd = accept4(listenFD, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
            let error = errno
            pthread_sigmask(SIG_BLOCK, &wake, nil)
            if fd >= 0 {
                configure(connection: fd)
                return fd
            }
            switch error {
            case EINTR, ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH:
                continue
            case EAGAIN:
                // A non-blocking listening socket (as some managers pass them): wait for a
                // connection, interruptible by the wake-up signal and by nothing else.
                var ready = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
                _ = ppoll(&ready, 1, nil, &whileWaiting)
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                log("accept on fd \(listenFD) failed: \(String(cString: strerror(error))); retrying")
                var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
                nanosleep(&pause, nil)
            default:
                log("accept on fd \(listenFD) failed: \(String(cString: strerror(error))); stopping this thread")
                return nil
            }
        }
    }

    /// Bounds how long one connection can hold a thread, since outside accept nothing
    /// interrupts it (see `connectionTimeoutSeconds`).
    private func configure(connection fd: Int32) {
        var timeout = timeval(tv_sec: Self.connectionTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard !listensOnUnixSocket else { return }
        var one: Int32 = 1
        // TCP listeners (a FastCGI socket on the network): no Nagle delay on replies.
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Writes the response, ends the request and closes the connection.
    private func answer(_ request: UnsafeMutablePointer<FCGX_Request>, with response: FastCGIResponse, drainOnClose: Bool,
                        headerBuffer: inout [UInt8]) {
        write(response, to: request, headerBuffer: &headerBuffer)
        // libfcgi took keepConnection from the request's flags (nginx sets it only with
        // `fastcgi_keep_conn on`) and would close the connection in its own way at the end;
        // it is closed below instead (libfcgi still closes it when the request failed).
        request.pointee.keepConnection = 1
        FCGX_Finish_r(request)
        // With keep-conn nginx asks us to keep the connection; one connection per request keeps
        // every thread free to accept, so close it anyway (nginx reconnects).
        let fd = request.pointee.ipcFd
        if fd >= 0 {
            if drainOnClose {
                FCGX_Free(request, 1)   // shutdown, read until the peer closes, close
            } else {
                request.pointee.ipcFd = -1
                close(fd)
            }
        }
        inFlightCount.subtract(1, ordering: .relaxed)
    }

    private func startDeferred(_ handle: RequestHandle, _ work: @escaping @Sendable () -> FastCGIResponse) {
        let context = DeferredContext(server: self, handle: handle, work: work)
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        defer { pthread_attr_destroy(&attributes) }
        // The new thread inherits this one's signal mask: the wake-up signal stays blocked there.
        let result = pthread_create(&thread, &attributes, deferredThreadEntry, Unmanaged.passRetained(context).toOpaque())
        if result != 0 {
            Unmanaged.passUnretained(context).release()
            log("cannot start a thread for a slow request (\(result)); answering it on the accepting thread")
            runDeferred(context)
        }
    }

    fileprivate func runDeferred(_ context: DeferredContext) {
        var headerBuffer: [UInt8] = []
        answer(context.handle.pointer, with: context.work(), drainOnClose: context.handle.drainOnClose, headerBuffer: &headerBuffer)
        Self.discard(context.handle.pointer)
        deferred.subtract(1, ordering: .sequentiallyConsistent)
    }

    private static func makeRequest() -> UnsafeMutablePointer<FCGX_Request> {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        request.initialize(to: FCGX_Request())
        // listen_sock -1: libfcgi must never accept by itself (see the type's comment).
        _ = FCGX_InitRequest(request, -1, 0)
        return request
    }

    private static func discard(_ request: UnsafeMutablePointer<FCGX_Request>) {
        FCGX_Free(request, 1)
        request.deinitialize(count: 1)
        request.deallocate()
    }

    private func readRequest(_ request: UnsafeMutablePointer<FCGX_Request>, into incoming: inout FastCGIRequest) {
        incoming.removeAll()
        // Under 1 KiB: a larger request would make glibc consolidate its fast bins every time.
        if let names = capturedParamNames { incoming.reserve(bytes: 256, params: names.count) } else { incoming.reserve(bytes: 960, params: 40) }
        if var cursor = request.pointee.envp {
            while let pair = cursor.pointee {
                defer { cursor += 1 }
                guard isCaptured(pair) else { continue }
                let bytes = UnsafeRawBufferPointer(start: pair, count: strlen(pair))
                if let equals = bytes.firstIndex(of: UInt8(ascii: "=")) {
                    incoming.append(rawName: UnsafeRawBufferPointer(rebasing: bytes[..<equals]),
                                    rawValue: UnsafeRawBufferPointer(rebasing: bytes[(equals + 1)...]))
                }
            }
        }
        let declared = incoming.param("CONTENT_LENGTH").flatMap { Int($0) } ?? 0
        guard declared > 0 else { return }
        guard declared <= maximumBodyBytes else {
            incoming.bodyExceedsLimit = true
            return
        }
        var body = [UInt8](repeating: 0, count: declared)
        var received = 0
        while received < declared {
            let n = body.withUnsafeMutableBytes { raw in
                FCGX_GetStr(raw.baseAddress!.assumingMemoryBound(to: CChar.self) + received, Int32(declared - received), request.pointee.in)
            }
            if n <= 0 { break }
            received += Int(n)
        }
        incoming.body = Array(body[0..<received])
        incoming.bodyShorterThanDeclared = received < declared
    }

    /// Whether the `NAME=VALUE` string `pair` names a param the handler reads: the name's
    /// length first (one vectorised scan), bytes only for names of that length.
    private func isCaptured(_ pair: UnsafePointer<CChar>) -> Bool {
        guard let names = capturedParamNames else { return true }
        guard let equals = strchr(pair, Int32(UInt8(ascii: "="))) else { return false }
        let length = UnsafePointer(equals) - pair
        for name in names where name.count - 1 == length && memcmp(pair, name, length) == 0 { return true }
        return false
    }

    private func write(_ response: FastCGIResponse, to request: UnsafeMutablePointer<FCGX_Request>, headerBuffer: inout [UInt8]) {
        headerBuffer.removeAll(keepingCapacity: true)
        response.appendHeaderBlock(reasonPhrase: HTTPReason.phrase(for: response.status), to: &headerBuffer)
        Self.put(headerBuffer, to: request.pointee.out)
        Self.put(response.body, to: request.pointee.out)
    }

    private static func put(_ bytes: [UInt8], to stream: UnsafeMutablePointer<FCGX_Stream>?) {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { raw in
            _ = FCGX_PutStr(raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count), stream)
        }
    }
}

/// An accepted request moving to the thread that answers it; only one thread touches it at a time.
struct RequestHandle: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<FCGX_Request>
    let drainOnClose: Bool
}

/// What a slow request's thread needs.
final class DeferredContext: Sendable {
    let server: FastCGIServer
    let handle: RequestHandle
    let work: @Sendable () -> FastCGIResponse

    init(server: FastCGIServer, handle: RequestHandle, work: @escaping @Sendable () -> FastCGIResponse) {
        self.server = server
        self.handle = handle
        self.work = work
    }
}

/// Thread entry for `pthread_create`: a nonisolated C function (see FIELD-NOTES on Swift 6).
private func fastCGIThreadEntry(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let server = Unmanaged<FastCGIServer>.fromOpaque(argument!).takeRetainedValue()
    server.serve()
    return nil
}

private func deferredThreadEntry(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let context = Unmanaged<DeferredContext>.fromOpaque(argument!).takeRetainedValue()
    context.server.runDeferred(context)
    return nil
}

/// Standard reason phrases for the status line.
public enum HTTPReason {
    public static func phrase(for status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 428: return "Precondition Required"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        case 507: return "Insufficient Storage"
        default: return "Status"
        }
    }
}
