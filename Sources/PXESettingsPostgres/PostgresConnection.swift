import CPostgres
import Glibc

/// One libpq connection: statements with text parameters ($1, $2 ...), rows of optional text,
/// LISTEN notifications. Not thread-safe by itself: its owner serialises use.
final class PostgresConnection {
    struct Failure: Error, CustomStringConvertible {
        /// The server refused the statement (SQLSTATE given) rather than the connection failing.
        let sqlState: String?
        let message: String
        var description: String { message }
        /// The connection itself is gone or cannot be made: the store is unavailable.
        var isConnectionLost: Bool { sqlState == nil || sqlState!.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03" }
        var isOutOfSpace: Bool { sqlState == "53100" }
    }

    private let handle: OpaquePointer

    /// Connects with `conninfo` (a libpq connection string or URI). Defaults a missing
    /// connect_timeout to 5 s, so an unreachable server fails fast, and names the application.
    init(conninfo: String, connectTimeoutSeconds: Int = 5) throws(Failure) {
        try Self.loadLibrary()
        let keywords = ["connect_timeout", "application_name", "keepalives_idle", "keepalives_interval", "keepalives_count", "dbname"]
        let values = [String(connectTimeoutSeconds), "pxe-catalog", "10", "5", "3", conninfo]
        let connection = Self.withCStrings(keywords) { keywordPointers in
            Self.withCStrings(values) { valuePointers in
                pxe_pq_connect(keywordPointers, valuePointers)
            }
        }
        guard let connection else { throw Failure(sqlState: nil, message: "out of memory") }
        guard pxe_pq_is_connected(connection) == 1 else {
            let message = Self.trimmed(String(cString: pxe_pq_error_message(connection)))
            pxe_pq_finish(connection)
            throw Failure(sqlState: nil, message: message)
        }
        handle = connection
    }

    deinit { pxe_pq_finish(handle) }

    var isConnected: Bool { pxe_pq_is_connected(handle) == 1 }

    /// Runs one statement; values are sent as text parameters (nil is NULL). Returns the rows.
    @discardableResult
    func query(_ sql: String, _ values: [String?] = []) throws(Failure) -> [[String?]] {
        let result = Self.withOptionalCStrings(values) { pointers in
            pxe_pq_exec(handle, sql, Int32(values.count), pointers)
        }
        defer { pxe_pq_clear(result) }
        guard let result else { throw Failure(sqlState: nil, message: Self.trimmed(String(cString: pxe_pq_error_message(handle)))) }
        guard pxe_pq_result_is_ok(result) == 1 else {
            let state = pxe_pq_result_error_field(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = pxe_pq_result_error_field(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
                ?? Self.trimmed(String(cString: pxe_pq_error_message(handle)))
            throw Failure(sqlState: isConnected ? state : nil, message: message)
        }
        let rows = pxe_pq_ntuples(result), columns = pxe_pq_nfields(result)
        return (0..<rows).map { row in
            (0..<columns).map { column in
                pxe_pq_getisnull(result, row, column) == 1 ? nil : String(cString: pxe_pq_getvalue(result, row, column))
            }
        }
    }

    /// Waits up to `timeoutMilliseconds` for notifications on channels this connection LISTENs
    /// to; returns their payloads (empty on timeout). Throws when the connection is lost.
    func notifications(timeoutMilliseconds: Int32) throws(Failure) -> [String] {
        var payloads = drainNotifications()
        if !payloads.isEmpty { return payloads }
        var descriptor = pollfd(fd: pxe_pq_socket(handle), events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        if ready < 0 && errno != EINTR { throw Failure(sqlState: nil, message: "poll failed: \(String(cString: strerror(errno)))") }
        if ready > 0 {
            guard pxe_pq_consume_input(handle) == 1 else {
                throw Failure(sqlState: nil, message: Self.trimmed(String(cString: pxe_pq_error_message(handle))))
            }
            payloads = drainNotifications()
        }
        guard isConnected else { throw Failure(sqlState: nil, message: "the connection to the database was lost") }
        return payloads
    }

    private func drainNotifications() -> [String] {
        var payloads: [String] = []
        while let payload = pxe_pq_next_notification(handle) {
            payloads.append(String(cString: payload))
            pxe_pq_free_copy(payload)
        }
        return payloads
    }

    /// Opens libpq (once): a worker kept on SQLite, and every command that only reads
    /// containers, run without it.
    static func loadLibrary() throws(Failure) {
        var reason: UnsafePointer<CChar>?
        guard pxe_pq_load(&reason) != 0 else { return }
        let detail = reason.map { String(cString: $0) } ?? "unknown reason"
        throw Failure(sqlState: nil, message: "settings.backend is postgresql, but libpq cannot be loaded (\(detail)); install Debian's libpq5 package")
    }

    private static func trimmed(_ message: String) -> String {
        var text = Substring(message)
        while text.last == "\n" || text.last == " " { text.removeLast() }
        return text.isEmpty ? "unknown libpq error" : String(text)
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        withOptionalCStrings(strings.map { Optional($0) }, body)
    }

    private static func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = strings.map { $0.map { strdup($0) } ?? nil }
        defer { for copy in copies { free(copy) } }
        var pointers = copies.map { UnsafePointer($0) } + [nil]
        return pointers.withUnsafeMutableBufferPointer { body(UnsafePointer($0.baseAddress!)) }
    }
}
