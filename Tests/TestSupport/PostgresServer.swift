import Foundation
import Glibc

/// A throwaway PostgreSQL cluster for tests: `initdb` and `pg_ctl` from Debian's packages,
/// run as `nobody` (PostgreSQL refuses to run as root) in a temporary directory, listening on
/// a unix socket there only. Stopped by `stop()` (or at process exit for the shared one).
public final class PostgresServer: @unchecked Sendable {
    public let directory: String
    private let bin: String
    public private(set) var running = false

    public static var isInstalled: Bool { binDirectory != nil }

    static var binDirectory: String? {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }.last.map { "/usr/lib/postgresql/\($0)/bin" }
            .flatMap { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") ? $0 : nil }
    }

    /// One cluster for a whole test process (each test takes a database of its own).
    public static let shared: PostgresServer? = {
        guard isInstalled, let server = try? PostgresServer() else { return nil }
        do { try server.start() } catch { return nil }
        // At exit no run loop can be waited on: the signal alone (an immediate stop).
        atexit { if let pid = PostgresServer.shared?.postmaster?.processIdentifier { kill(pid, SIGQUIT) } }
        return server
    }()

    public init() throws {
        guard let bin = Self.binDirectory else { throw TestServerError(message: "PostgreSQL is not installed (make deps installs it)") }
        self.bin = bin
        var template = Array("/tmp/pxe-catalog-pg.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestServerError(message: "mkdtemp failed") }
        directory = String(cString: made)
        chmod(directory, 0o755)
        _ = try TestServer.run("/bin/chown", ["nobody:nogroup", directory])
        let initdb = try Self.asNobody(bin + "/initdb", ["-D", dataDirectory, "-U", "pxe", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        guard initdb.status == 0 else { throw TestServerError(message: "initdb failed: \(initdb.stderr)") }
    }

    var dataDirectory: String { directory + "/data" }

    static func asNobody(_ executable: String, _ arguments: [String]) throws -> TestServer.RunResult {
        try TestServer.run("/usr/sbin/runuser", ["-u", "nobody", "--", executable] + arguments)
    }

    /// The postmaster, run in the foreground as `nobody` (setpriv execs it, so this is its pid).
    private var postmaster: Process?

    /// Starts the cluster (again, after `stop`), waiting until it accepts connections. The
    /// postmaster is a child of this process, not a daemon (`pg_ctl start` leaves one behind
    /// that keeps Foundation's `waitUntilExit` from ever returning); it is stopped by its pid.
    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", bin + "/postgres", "-D", dataDirectory,
                             "-k", directory, "-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200"]
        _ = FileManager.default.createFile(atPath: directory + "/server.log", contents: nil)
        let logHandle = FileHandle(forWritingAtPath: directory + "/server.log")
        logHandle?.seekToEndOfFile()
        process.standardOutput = logHandle
        process.standardError = logHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        postmaster = process
        let ready = TestServer.waitFor(seconds: 60) {
            guard process.isRunning else { return false }
            return (try? TestServer.run(self.bin + "/pg_isready", ["-q", "-h", self.directory, "-U", "pxe", "-d", "postgres"]).status) == 0
        }
        guard ready else {
            stop(mode: "immediate")
            throw TestServerError(message: "PostgreSQL did not start: \(log)")
        }
        running = true
    }

    /// Stops it: `fast` (SIGINT: clients are disconnected, a clean shutdown) or `immediate`
    /// (SIGQUIT: as in a crash); waits until the postmaster has exited.
    public func stop(mode: String = "fast") {
        guard let process = postmaster else { return }
        if process.isRunning { kill(process.processIdentifier, mode == "immediate" ? SIGQUIT : SIGINT) }
        process.waitUntilExit()
        postmaster = nil
        running = false
    }

    public var log: String { (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "" }

    /// A new, empty database; returns its libpq connection string.
    public func createDatabase(_ name: String = "t" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")) throws -> String {
        let result = try psql("postgres", "CREATE DATABASE \(name)")
        guard result.status == 0 else { throw TestServerError(message: "CREATE DATABASE failed: \(result.stderr)") }
        return connectionString(database: name)
    }

    public func connectionString(database: String) -> String {
        "host=\(directory) user=pxe dbname=\(database)"
    }

    /// Runs SQL with psql (as the test's own client).
    @discardableResult
    public func psql(_ database: String, _ sql: String) throws -> TestServer.RunResult {
        try TestServer.run(bin + "/psql", ["-h", directory, "-U", "pxe", "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
