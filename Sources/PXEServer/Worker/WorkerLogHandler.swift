import Foundation
import Locking
import Logging

/// The worker's log level, shared by every logger so SIGHUP can change it live.
package final class LogLevelControl: Sendable {
    private let current: Locked<Logger.Level>
    package init(_ level: Logger.Level) { current = Locked(level) }
    package var level: Logger.Level {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
}

/// One line per event on stderr, written with a single `write(2)` so threads never interleave.
/// Under systemd (stderr is the journal stream) lines start with the `<N>` syslog priority that
/// journald reads and carry no timestamp (journald adds its own); elsewhere they start with an
/// ISO 8601 time and the level. Never colours.
package struct WorkerLogHandler: LogHandler {
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    let control: LogLevelControl
    let journald: Bool

    package init(control: LogLevelControl, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.control = control
        journald = Self.stderrIsJournal(environment["JOURNAL_STREAM"])
    }

    package var logLevel: Logger.Level {
        get { control.level }
        set { control.level = newValue }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = fields.isEmpty ? "\(event.message)" : "\(event.message) \(fields)"
        let body = Self.escaped(text)
        let line = journald ? "<\(Self.priority(event.level))>\(body)\n" : "\(Self.timestamp()) \(event.level) \(body)\n"
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// One event, one line, nothing a terminal acts on: newlines would split the record, a CR
    /// overwrite it on screen and ESC start a terminal sequence, and file names can hold any of
    /// them. Control characters (C0, DEL, C1) become `\n`, `\r`, `\t` or `\xNN`; invisible
    /// format characters (bidi overrides, zero-width marks) become `\u{NNNN}`.
    package static func escaped(_ text: String) -> String {
        var needsWork = false
        for scalar in text.unicodeScalars where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
            || scalar.properties.generalCategory == .format {
            needsWork = true
            break
        }
        guard needsWork else { return text }
        var out = String.UnicodeScalarView()
        func append(_ string: String) { out.append(contentsOf: string.unicodeScalars) }
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20, 0x7F...0x9F: append("\\x" + String(format: "%02X", scalar.value))
            default:
                if scalar.properties.generalCategory == .format {
                    append("\\u{" + String(format: "%04X", scalar.value) + "}")
                } else {
                    out.append(scalar)
                }
            }
        }
        return String(out)
    }

    /// syslog priorities, as sd-daemon(3) documents them for stderr prefixes.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// `JOURNAL_STREAM` is `device:inode` of the journal socket; it applies only if stderr is it.
    package static func stderrIsJournal(_ value: String?) -> Bool {
        guard let value else { return false }
        let parts = value.split(separator: ":").compactMap { UInt64($0) }
        var info = stat()
        guard parts.count == 2, fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == parts[0] && UInt64(info.st_ino) == parts[1]
    }

    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}
