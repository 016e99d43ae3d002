import CSQLite
import Foundation
import Glibc

/// One SQLite connection: prepared statements with bound values, rows read by column. Not
/// thread-safe by itself (opened with SQLITE_OPEN_NOMUTEX): its owner serialises use.
final class SQLiteDatabase {
    /// Why a call failed: SQLite's result code (SQLITE_FULL, SQLITE_IOERR, SQLITE_CORRUPT ...)
    /// and its message.
    struct Failure: Error, CustomStringConvertible {
        let code: Int32
        let message: String
        var description: String { message }
        /// The disk (or quota) is full.
        var isOutOfSpace: Bool { code & 0xFF == SQLITE_FULL }
        var isCorrupt: Bool { code & 0xFF == SQLITE_CORRUPT || code & 0xFF == SQLITE_NOTADB }
    }

    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    let path: String

    init(path: String, readOnly: Bool = false) throws(Failure) {
        self.path = path
        var opened: OpaquePointer?
        let mode = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        // Read-only beside a stopped worker (no -wal file): opened as immutable, because a
        // read-only connection to a WAL database would otherwise create -shm and -wal files.
        // Beside a running worker they exist and are only read.
        var name = path
        var uriFlag: Int32 = 0
        if readOnly, access(path + "-wal", F_OK) != 0 {
            let escaped = path.utf8.map { byte -> String in
                byte >= 0x80 || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") ? String(format: "%%%02X", byte) : String(UnicodeScalar(byte))
            }.joined()
            name = "file:" + escaped + "?immutable=1"
            uriFlag = SQLITE_OPEN_URI
        }
        let status = sqlite3_open_v2(name, &opened, mode | uriFlag | SQLITE_OPEN_NOMUTEX, nil)
        handle = opened
        guard status == SQLITE_OK else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(opened)
            handle = nil
            throw Failure(code: status, message: message)
        }
        sqlite3_extended_result_codes(handle, 1)
        // Another process (`pxe-catalog db migrate`) may hold the write lock for a moment.
        sqlite3_busy_timeout(handle, 10_000)
    }

    deinit { close() }

    /// Closes the connection (`sqlite3_close_v2`); the last connection of a WAL database
    /// checkpoints it and removes the -wal and -shm files. Later calls fail (SQLITE_MISUSE).
    func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements = [:]
        recent = []
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    private func failure(_ code: Int32) -> Failure {
        Failure(code: code, message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs statements that take no values and return no rows (schema, pragmas, BEGIN/COMMIT).
    func execute(_ sql: String) throws(Failure) {
        var error: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &error)
        if status != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(error)
            throw Failure(code: status, message: message)
        }
    }

    enum Value: Equatable {
        case integer(Int64)
        case text(String)
        case null

        var integer: Int64? { if case let .integer(value) = self { return value } else { return nil } }
        var text: String? { if case let .text(value) = self { return value } else { return nil } }
    }

    /// Runs one statement with `values` bound to ?1, ?2, ... and returns its rows.
    @discardableResult
    func query(_ sql: String, _ values: [Value] = []) throws(Failure) -> [[Value]] {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let status: Int32
            switch value {
            case let .integer(number): status = sqlite3_bind_int64(statement, position, number)
            // withCString: a native string's bytes as they are, no copy made first.
            case let .text(text): status = text.withCString { sqlite3_bind_text(statement, position, $0, -1, Self.transient) }
            case .null: status = sqlite3_bind_null(statement, position)
            }
            guard status == SQLITE_OK else { throw failure(status) }
        }
        var rows: [[Value]] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { return rows }
            guard status == SQLITE_ROW else { throw failure(status) }
            let count = sqlite3_column_count(statement)
            rows.append((0..<count).map { column in
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, column))
                case SQLITE_NULL: return .null
                default: return .text(String(cString: sqlite3_column_text(statement, column)))
                }
            })
        }
    }

    private func prepared(_ sql: String) throws(Failure) -> OpaquePointer {
        // The statements a transaction alternates between (an upsert, an audit insert) are
        // found without hashing their text: the schema's strings compare equal by identity.
        for (text, statement) in recent where text == sql { return statement }
        if let known = statements[sql] {
            remember(sql, known)
            return known
        }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw failure(status) }
        statements[sql] = statement
        remember(sql, statement)
        return statement
    }

    private var recent: [(String, OpaquePointer)] = []

    private func remember(_ sql: String, _ statement: OpaquePointer) {
        if recent.count == 4 { recent.removeFirst() }
        recent.append((sql, statement))
    }

    /// SQLITE_TRANSIENT: SQLite copies bound text at once.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
