import Foundation
import PXECatalog
import StrictJSON

/// The built worker behind a real nginx on 127.0.0.1, each with its own prefix, socket and port,
/// for end-to-end tests. Stopped by PID; nothing else is touched.
public final class TestServer: @unchecked Sendable {
    public let directory = TemporaryDirectory("pxe-catalog-e2e")
    public let catalogRoot: String
    public private(set) var port = 0
    private var worker: Process?
    private var nginx: Process?
    /// Read at `start()`: a test may add to it once it knows its entries' ids.
    public var extraConfig: String

    public static var repositoryRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    /// The worker binary `swift build` produced (override with E2E_WORKER_BINARY).
    public static var binary: String {
        ProcessInfo.processInfo.environment["E2E_WORKER_BINARY"] ?? repositoryRoot + "/.build/debug/pxe-catalog"
    }

    /// `extraConfig`: additional JSON members for the config's top-level object, e.g. `"files": {...}`.
    public static let adminToken = "e2e-admin-token-0123456789abcdef"
    public var stateDirectory: String { directory.path + "/state" }
    public var tokenFile: String { directory.path + "/admin-token" }

    /// `extraConfig`: additional JSON members for the config's top-level object, e.g. `"files": {...}`.
    /// `stateDirectory`: where the settings live (default: a `state` folder in the test's directory).
    /// Network namespace the worker, nginx and curl run in (nil: the test's own).
    public let namespace: String?

    /// A listening socket the test holds (like systemd or spawn-fcgi): the worker inherits it
    /// instead of opening its own. `systemd` selects LISTEN_FDS/fd 3, otherwise fd 0.
    public var inheritedSocket: (fd: Int32, systemd: Bool)?
    /// Extra environment for the worker.
    public var workerEnvironment: [String: String] = [:]
    /// A TLS server beside the plain one (nginx.tls_*), on `tlsPort`; more members of the
    /// config's `nginx` object in `nginxConfig`.
    public var tls: (certificate: String, key: String)?
    public private(set) var tlsPort = 0
    public var nginxConfig = ""
    /// catalog.analyzer: none unless a test asks (the built-in OCR would run on every test's
    /// containers where tesseract is installed).
    public var analyzer: [String] = []
    public var analyzerTimeoutSeconds = 60
    /// nginx on every address of its namespace (a lab's machines reach it on the bridge), not
    /// only on 127.0.0.1.
    public var listensOnAllAddresses = false

    /// `catalogRoot`: a catalog directory shared with other servers (a fleet's nodes see the
    /// same paths, so the same ids); `stateConfig`: more members of the config's `state` object.
    public init(extraConfig: String = "", stateDirectory: String? = nil, namespace: String? = nil,
                catalogRoot: String? = nil, stateConfig: String = "") {
        self.namespace = namespace
        self.catalogRoot = catalogRoot ?? directory.subdirectory("catalog")
        self.stateConfig = stateConfig
        self.extraConfig = extraConfig
        self.customStateDirectory = stateDirectory
        _ = FileManager.default.createFile(atPath: directory.path + "/admin-token", contents: Data((Self.adminToken + "\n").utf8),
                                           attributes: [.posixPermissions: 0o600])
    }

    private let customStateDirectory: String?
    private let stateConfig: String

    public var configPath: String { directory.path + "/config.json" }
    public var nginxPrefix: String { directory.path + "/nginx" }
    public var workerLog: String { (try? String(contentsOfFile: directory.path + "/worker.log", encoding: .utf8)) ?? "" }
    public var workerStdout: String { (try? String(contentsOfFile: directory.path + "/worker.stdout", encoding: .utf8)) ?? "" }
    public var nginxErrorLog: String { (try? String(contentsOfFile: nginxPrefix + "/error.log", encoding: .utf8)) ?? "" }

    /// Starts the worker and nginx. The port is one the kernel just handed out and released,
    /// so another process may take it before nginx binds it: only that failure (EADDRINUSE in
    /// nginx's log) is retried, with a new port; any other is reported at once.
    public func start() throws {
        for attempt in 1...10 {
            port = Self.freePort()
            if tls != nil { tlsPort = Self.freePort() }
            try writeConfig()
            try? FileManager.default.removeItem(atPath: nginxPrefix + "/error.log")
            if try startProcesses() { return }
            let portTaken = nginxErrorLog.contains("Address already in use")
            stop()
            if !portTaken || attempt == 10 { throw TestServerError(message: "nginx did not start: \(nginxErrorLog)\nworker: \(workerLog)") }
        }
    }

    private var nginxMembers: String {
        var members = ""
        if let tls {
            members += ", \"tls_certificate\": \"\(tls.certificate)\", \"tls_certificate_key\": \"\(tls.key)\", \"tls_listen\": \"127.0.0.1:\(tlsPort)\""
        }
        return members + (nginxConfig.isEmpty ? "" : ", " + nginxConfig)
    }

    /// A self-signed certificate for 127.0.0.1 made with openssl in the test's directory.
    public func makeSelfSignedCertificate() throws -> (certificate: String, key: String) {
        let certificate = directory.path + "/tls-cert.pem", key = directory.path + "/tls-key.pem"
        let made = try Self.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        guard made.status == 0 else { throw TestServerError(message: "openssl failed: \(made.stderr)") }
        return (certificate, key)
    }

    private func writeConfig() throws {
        let extra = extraConfig.isEmpty ? "" : ",\n" + extraConfig
        let config = """
        {
          "worker": { "socket": "\(directory.path)/worker.sock", "threads": 2, "shutdown_timeout": 5 },
          "catalog": { "roots": ["\(catalogRoot)"], "analyzer": [\(analyzer.map { "\"\($0)\"" }.joined(separator: ", "))], "analyzer_timeout": \(analyzerTimeoutSeconds) },
          "nginx": { "listen": "\(listensOnAllAddresses ? "" : "127.0.0.1:")\(port)", "static_root": "\(Self.repositoryRoot)/.build/static"\(nginxMembers) },
          "state": { "directory": "\(customStateDirectory ?? stateDirectory)"\(stateConfig.isEmpty ? "" : ", " + stateConfig) },
          "admin": { "token_file": "\(tokenFile)" }\(extra)
        }
        """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: nginxPrefix + "/tmp", withIntermediateDirectories: true)
        let generated = try Self.run(Self.binary, ["nginx-config", "--config", configPath, "--standalone", nginxPrefix])
        guard generated.status == 0 else { throw TestServerError(message: "nginx-config failed: \(generated.stderr)") }
        try generated.stdout.write(toFile: nginxPrefix + "/nginx.conf", atomically: true, encoding: .utf8)
    }

    private func startProcesses() throws -> Bool {
        try startWorker()
        let nginxProcess = Process()
        (nginxProcess.executableURL, nginxProcess.arguments) = inNamespace("/usr/sbin/nginx", ["-p", nginxPrefix, "-c", nginxPrefix + "/nginx.conf"])
        nginxProcess.standardError = FileHandle.nullDevice
        try nginxProcess.run()
        nginx = nginxProcess
        _ = Self.waitFor(seconds: 30, { !nginxProcess.isRunning || self.nginxAnswers() })
        return nginxProcess.isRunning && nginxAnswers()
    }

    /// `executable arguments` started with every signal unblocked. A process a test starts
    /// inherits the signal mask of the test's thread, a dispatch worker's, which blocks SIGTERM
    /// and most others: programs that do not set their own mask (a shell script and its traps)
    /// would never see a stop signal. Debian's python3 clears the mask, then execs.
    public static func withSignalsUnblocked(_ executable: String, _ arguments: [String]) -> (URL, [String]) {
        (URL(fileURLWithPath: "/usr/bin/python3"),
         ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])", executable] + arguments)
    }

    /// `executable arguments` under a small supervisor (Debian's python3) that starts it with every
    /// signal unblocked, passes on SIGTERM, SIGINT, SIGQUIT and SIGHUP, and exits with its status.
    /// For programs that close the descriptors they inherit (dnsmasq): Foundation's `Process`
    /// learns of a child's exit from a socket the child inherits, and when the child closes it
    /// early, Foundation's one process-watching thread blocks in `waitpid` for it, and no other
    /// child's exit is noticed any more. The supervisor keeps that socket until the program ends.
    public static func supervised(_ executable: String, _ arguments: [String]) -> (URL, [String]) {
        let script = """
            import os, signal, subprocess, sys
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            child = subprocess.Popen(sys.argv[1:])
            for number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
                signal.signal(number, lambda received, frame: child.send_signal(received))
            sys.exit(child.wait() & 0xFF)
            """
        return (URL(fileURLWithPath: "/usr/bin/python3"), ["-c", script, executable] + arguments)
    }

    /// `executable arguments`, run through `ip netns exec` when the server has a namespace.
    public func inNamespace(_ executable: String, _ arguments: [String]) -> (URL, [String]) {
        guard let namespace else { return (URL(fileURLWithPath: executable), arguments) }
        return (URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "exec", namespace, executable] + arguments)
    }

    private func nginxAnswers() -> Bool {
        guard namespace != nil else { return Self.canConnect(port: port) }
        let (executable, arguments) = inNamespace("/usr/bin/curl", ["-s", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1:\(port)/"])
        return (try? Self.run(executable.path, arguments).status) == 0
    }

    /// `requests.in_flight` from `/status` (the status request itself counts), or -1.
    public func statusInFlight() -> Int {
        guard let body = try? request("GET", "/status").body, case let .int(count)? = try? JSONParser.parse(body)["requests"]?["in_flight"] else { return -1 }
        return Int(count)
    }

    public var accessLog: String { (try? String(contentsOfFile: nginxPrefix + "/access.log", encoding: .utf8)) ?? "" }

    /// Starts (or restarts) the worker alone and waits for its socket; logs are appended.
    public func startWorker() throws {
        let workerProcess = Process()
        if let inherited = inheritedSocket {
            // The socket arrives as stdin; for systemd's protocol a shell moves it to fd 3 and
            // sets LISTEN_PID to its own pid, which exec keeps for the worker.
            let prefix = inherited.systemd ? "exec 3<&0 0</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ " : ""
            workerProcess.executableURL = URL(fileURLWithPath: "/bin/sh")
            workerProcess.arguments = ["-c", prefix + "exec \"$0\" serve --config \"$1\"", Self.binary, configPath]
            workerProcess.standardInput = FileHandle(fileDescriptor: inherited.fd, closeOnDealloc: false)
        } else {
            (workerProcess.executableURL, workerProcess.arguments) = inNamespace(Self.binary, ["serve", "--config", configPath])
        }
        if !workerEnvironment.isEmpty {
            workerProcess.environment = ProcessInfo.processInfo.environment.merging(workerEnvironment) { $1 }
        }
        for name in ["worker.log", "worker.stdout"] where !FileManager.default.fileExists(atPath: directory.path + "/" + name) {
            _ = FileManager.default.createFile(atPath: directory.path + "/" + name, contents: nil)
        }
        let log = FileHandle(forWritingAtPath: directory.path + "/worker.log")
        log?.seekToEndOfFile()
        let out = FileHandle(forWritingAtPath: directory.path + "/worker.stdout")
        out?.seekToEndOfFile()
        workerProcess.standardError = log
        workerProcess.standardOutput = out
        let readyLine = "listening on the inherited socket"
        let readyBefore = workerLog.components(separatedBy: readyLine).count
        try workerProcess.run()
        worker = workerProcess
        // With an inherited socket a connect succeeds (into the backlog) before the worker runs:
        // wait for its log line instead.
        let ready: () -> Bool = inheritedSocket == nil
            ? { Self.canConnect(unixSocket: self.directory.path + "/worker.sock") }
            : { self.workerLog.components(separatedBy: readyLine).count > readyBefore }
        // The worker scans its catalog before it listens, which takes as long as the machine makes it
        // (20,000 files under ThreadSanitizer beside other suites and a loaded CPU took over 90 s):
        // wait while the worker lives. The bound only catches a worker that hangs.
        guard Self.waitFor(seconds: 600, { ready() || !workerProcess.isRunning }), workerProcess.isRunning else {
            throw TestServerError(message: "the worker did not start listening: \(workerLog)")
        }
    }

    /// Sends `signal` to the worker and waits for it to exit; returns its exit status.
    @discardableResult
    public func signalWorker(_ signal: Int32) -> Int32 {
        guard let worker else { return -1 }
        kill(worker.processIdentifier, signal)
        _ = Self.waitFor(seconds: 15) { !worker.isRunning }
        self.worker = nil
        return worker.terminationStatus
    }

    /// Sends SIGTERM to the worker and SIGQUIT to nginx, and waits for both.
    public func stop() {
        if let nginx, nginx.isRunning {
            kill(nginx.processIdentifier, SIGQUIT)
            _ = Self.waitFor(seconds: 10, { !nginx.isRunning })
        }
        if let worker, worker.isRunning {
            kill(worker.processIdentifier, SIGTERM)
            if !Self.waitFor(seconds: 10, { !worker.isRunning }) { kill(worker.processIdentifier, SIGKILL) }
        }
        nginx = nil
        worker = nil
    }

    public var workerProcess: Process? { worker }

    /// The running worker's resident memory (VmRSS) in bytes, 0 when unknown.
    public func workerResidentBytes() -> Int {
        guard let pid = worker?.processIdentifier else { return 0 }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    deinit { stop() }

    // MARK: HTTP through curl

    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One request with curl (`--path-as-is`, so hostile paths reach nginx unchanged).
    /// POSTs and DELETEs carry the admin token unless `authorized` is false.
    /// `secure`: to the TLS server (`tls`), trusting its certificate.
    public func request(_ method: String = "GET", _ path: String, headers: [String] = [], body: String? = nil,
                        authorized: Bool = true, secure: Bool = false) throws -> Response {
        let headerFile = directory.path + "/curl-\(UUID().uuidString).headers"
        let bodyFile = directory.path + "/curl-\(UUID().uuidString).body"
        defer {
            try? FileManager.default.removeItem(atPath: headerFile)
            try? FileManager.default.removeItem(atPath: bodyFile)
        }
        var arguments = ["-s", "-S", "--path-as-is", "--max-time", "20", "-D", headerFile, "-o", bodyFile]
        arguments += method == "HEAD" ? ["-I"] : ["-X", method]
        for header in headers { arguments += ["-H", header] }
        if (method == "POST" || method == "PUT" || method == "DELETE") && authorized { arguments += ["-H", "Authorization: Bearer \(Self.adminToken)"] }
        if let body { arguments += ["--data-binary", body] }
        if secure, let tls {
            arguments += ["--cacert", tls.certificate, "https://127.0.0.1:\(tlsPort)\(path)"]
        } else {
            arguments.append("http://127.0.0.1:\(port)\(path)")
        }
        let (curl, curlArguments) = inNamespace("/usr/bin/curl", arguments)
        let result = try Self.run(curl.path, curlArguments)
        guard result.status == 0 else { throw TestServerError(message: "curl \(path) failed: \(result.stderr)") }
        let headerText = (try? String(contentsOfFile: headerFile, encoding: .isoLatin1)) ?? ""
        var status = 0
        var parsed: [String: String] = [:]
        for line in headerText.components(separatedBy: "\r\n") {
            if line.hasPrefix("HTTP/") {
                status = Int(line.split(separator: " ")[1]) ?? 0
                parsed = [:]
            } else if let colon = line.firstIndex(of: ":") {
                parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        // curl -I writes the headers where the body would go: a HEAD answer has no body.
        let bytes = method == "HEAD" ? [] : FileManager.default.contents(atPath: bodyFile).map { [UInt8]($0) } ?? []
        let response = Response(status: status, headers: parsed, body: bytes)
        ResponseRecorder.shared?.record(method: method, target: path, requestHeaders: headers, response: response)
        return response
    }

    /// Sends raw bytes to nginx and returns everything it answers until it closes (HTTP/1.0),
    /// for requests curl would refuse to send and for checking that no body follows the headers.
    public func rawRequest(_ bytes: [UInt8]) throws -> [UInt8] {
        guard let fd = Sockets.connectTCP(port: port) else { throw TestServerError(message: "cannot connect to port \(port)") }
        defer { close(fd) }
        return Sockets.exchange(fd, bytes)
    }

    // MARK: Process helpers

    public struct RunResult: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> RunResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return RunResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
    }

    public static func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length)
                return getsockname(fd, pointer, &length)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A listening unix socket at `path`, held by the caller (who closes it).
    public static func listeningSocket(path: String) -> Int32 { Sockets.listenUnix(path: path) }

    static func canConnect(unixSocket path: String) -> Bool {
        guard let fd = Sockets.connectUnix(path: path) else { return false }
        close(fd)
        return true
    }

    public static func canConnect(port: Int) -> Bool {
        guard let fd = Sockets.connectTCP(port: port) else { return false }
        close(fd)
        return true
    }
}

public struct TestServerError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
