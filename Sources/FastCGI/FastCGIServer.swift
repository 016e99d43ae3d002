import CFastCGI
import Glibc
import Synchronization

/// A pool of threads that each accept FastCGI requests on one shared listening socket and
/// answer them with a plain handler function. Wraps libfcgi's `FCGX_*` API; nothing above this
/// module sees a C pointer.
///
/// Stopping: `stop()` sets a flag and interrupts each thread's `accept()` with `wakeSignal`
/// (requests are initialised with `FCGI_FAIL_ACCEPT_ON_INTR`), repeating until every thread has
/// left; a thread busy with a request finishes it first.
public final class FastCGIServer: Sendable {
    public typealias Handler = @Sendable (FastCGIRequest) -> FastCGIResponse

    /// Signal used only to interrupt blocked `accept()` calls at shutdown.
    public static let wakeSignal = SIGUSR2

    private let listenFD: Int32
    private let threadCount: Int
    private let maximumBodyBytes: Int
    private let handler: Handler
    /// NUL-terminated names of the params to copy into `FastCGIRequest`; nil copies all.
    private let capturedParamNames: [[CChar]]?
    private let log: @Sendable (String) -> Void
    private let stopping = Atomic<Bool>(false)
    private let threads = Mutex<[pthread_t]>([])
    private let running = Atomic<Int>(0)
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
        self.threadCount = max(1, threadCount)
        self.maximumBodyBytes = maximumBodyBytes
        self.handler = handler
        self.log = log
    }

    /// Requests being handled right now.
    public var inFlight: Int { inFlightCount.load(ordering: .relaxed) }

    /// Initialises libfcgi once per process (`FCGX_Init`) and installs the wake-up handler.
    public static func initializeLibrary() {
        _ = FCGX_Init()
        signal(SIGPIPE, SIG_IGN)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0   // no SA_RESTART: accept() must fail with EINTR
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

    /// Asks every thread to finish its current request and leave. Returns whether all left
    /// within `deadline`.
    @discardableResult
    public func stop(deadline: Duration) -> Bool {
        stopping.store(true, ordering: .sequentiallyConsistent)
        let until = ContinuousClock.now + deadline
        let all = threads.withLock { $0 }
        while running.load(ordering: .sequentiallyConsistent) > 0 {
            if ContinuousClock.now >= until { return false }
            for thread in all { pthread_kill(thread, Self.wakeSignal) }
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
        }
        return true
    }

    /// Joins all threads (call after `stop` returned true).
    public func waitUntilStopped() {
        for thread in threads.withLock({ $0 }) { pthread_join(thread, nil) }
    }

    fileprivate func serve() {
        defer { running.subtract(1, ordering: .sequentiallyConsistent) }
        // The mask is inherited from whoever started us (e.g. a Dispatch thread that blocks
        // everything); the wake-up signal must get through or stop() cannot interrupt accept().
        var wake = sigset_t()
        sigemptyset(&wake)
        sigaddset(&wake, Self.wakeSignal)
        pthread_sigmask(SIG_UNBLOCK, &wake, nil)
        var request = FCGX_Request()
        guard FCGX_InitRequest(&request, listenFD, Int32(FCGI_FAIL_ACCEPT_ON_INTR)) == 0 else {
            log("FCGX_InitRequest failed on fd \(listenFD)")
            return
        }
        defer { FCGX_Free(&request, 1) }
        // Reused across this thread's requests: once the handler has let go of a request, its
        // buffers are uniquely ours again and refilling them allocates nothing.
        var incoming = FastCGIRequest(params: [])
        var headerBuffer: [UInt8] = []
        headerBuffer.reserveCapacity(512)
        while !stopping.load(ordering: .sequentiallyConsistent) {
            let status = FCGX_Accept_r(&request)
            if status < 0 {
                if stopping.load(ordering: .sequentiallyConsistent) { break }
                if status == -EINTR { continue }
                log("FCGX_Accept_r failed with status \(status); stopping this thread")
                break
            }
            inFlightCount.add(1, ordering: .relaxed)
            readRequest(&request, into: &incoming)
            let response = handler(incoming)
            write(response, to: &request, headerBuffer: &headerBuffer)
            FCGX_Finish_r(&request)
            inFlightCount.subtract(1, ordering: .relaxed)
        }
    }

    private func readRequest(_ request: inout FCGX_Request, into incoming: inout FastCGIRequest) {
        incoming.removeAll()
        // Under 1 KiB: a larger request would make glibc consolidate its fast bins every time.
        if let names = capturedParamNames { incoming.reserve(bytes: 256, params: names.count) } else { incoming.reserve(bytes: 960, params: 40) }
        if var cursor = request.envp {
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
                FCGX_GetStr(raw.baseAddress!.assumingMemoryBound(to: CChar.self) + received, Int32(declared - received), request.in)
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

    private func write(_ response: FastCGIResponse, to request: inout FCGX_Request, headerBuffer: inout [UInt8]) {
        headerBuffer.removeAll(keepingCapacity: true)
        response.appendHeaderBlock(reasonPhrase: HTTPReason.phrase(for: response.status), to: &headerBuffer)
        Self.put(headerBuffer, to: request.out)
        Self.put(response.body, to: request.out)
    }

    private static func put(_ bytes: [UInt8], to stream: UnsafeMutablePointer<FCGX_Stream>?) {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { raw in
            _ = FCGX_PutStr(raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count), stream)
        }
    }
}

/// Thread entry for `pthread_create`: a nonisolated C function (see FIELD-NOTES on Swift 6).
private func fastCGIThreadEntry(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let server = Unmanaged<FastCGIServer>.fromOpaque(argument!).takeRetainedValue()
    server.serve()
    return nil
}

/// Standard reason phrases for the status line.
public enum HTTPReason {
    public static func phrase(for status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        case 507: return "Insufficient Storage"
        default: return "Status"
        }
    }
}
