import Foundation
import StrictJSON

/// Why saving the settings failed. The message names the failing step and the system's reason,
/// not the path (it goes to API clients); the path is in `path` for the log.
package struct SettingsWriteError: Error, Equatable, CustomStringConvertible {
    package let step: String
    package let code: Int32
    package let path: String

    package init(step: String, code: Int32, path: String) {
        self.step = step
        self.code = code
        self.path = path
    }

    /// No space or quota left: the operator has to free some.
    package var isOutOfSpace: Bool { code == ENOSPC || code == EDQUOT }
    package var reason: String { String(cString: strerror(code)) }
    package var description: String { "\(step) failed: \(reason)" }
}

/// Why the saved settings could not be loaded.
package struct SettingsLoadError: Error, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        case unreadable
        /// Not JSON, or not the settings format.
        case malformed
        /// A format version this pxe-catalog does not read.
        case unsupportedVersion
        /// Neither the file nor its backup can be used: the worker refuses to start.
        case noUsableCopy
    }

    package let kind: Kind
    package let description: String

    package init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// A settings file: versioned, readable JSON, replaced atomically (temporary file, fsync,
/// rename, fsync of the directory); the version it replaces stays as `<name>.bak` (a hard link,
/// so there is never a moment without the file). Before 1.1 this was the settings store
/// (`settings.json`, imported once into the database); a fleet node keeps its local copy of the
/// shared settings in this format (`settings-copy.json`, with the store's revisions).
package struct SettingsFile: Sendable {
    package static let formatName = "pxe-catalog-settings"
    package static let currentVersion: Int64 = 1

    package let directory: String
    package let name: String
    package var path: String { directory + "/" + name }
    package var backupPath: String { path + ".bak" }

    package init(directory: String, name: String = "settings.json") {
        self.directory = directory
        self.name = name
    }

    package enum LoadOutcome: Sendable, Equatable {
        /// No settings file: a fresh install.
        case fresh
        case primary
        /// The primary file was unusable (reason given); the backup was used.
        case backup(reason: String)
    }

    /// Loads the settings; falls back to the backup when the primary is corrupt or unreadable,
    /// and throws (naming the file) when neither is usable. Never silently returns defaults for
    /// a file that exists.
    /// `removingStaleFiles` false: touch nothing (for read-only commands, which may run beside a
    /// live worker whose temporary file is being written).
    package func load(removingStaleFiles: Bool = true) throws(SettingsLoadError) -> (PXESettings, LoadOutcome) {
        let (contents, outcome) = try loadContents(removingStaleFiles: removingStaleFiles)
        return (contents.settings, outcome)
    }

    /// The settings and the store revision they were at (0 in files written before 1.1).
    package struct Contents: Sendable, Equatable {
        package var settings: PXESettings
        package var storeRevision: Int64

        package init(settings: PXESettings, storeRevision: Int64) {
            self.settings = settings
            self.storeRevision = storeRevision
        }
    }

    package func loadContents(removingStaleFiles: Bool = true) throws(SettingsLoadError) -> (Contents, LoadOutcome) {
        if removingStaleFiles { removeStaleTemporaryFiles() }
        let primaryExists = FileManager.default.fileExists(atPath: path)
        let backupExists = FileManager.default.fileExists(atPath: backupPath)
        if !primaryExists && !backupExists { return (Contents(settings: PXESettings(), storeRevision: 0), .fresh) }
        var primaryProblem = "it does not exist"
        if primaryExists {
            switch Self.decodeFile(at: path) {
            case let .success(contents): return (contents, .primary)
            case let .failure(problem): primaryProblem = problem.description
            }
        }
        guard backupExists else {
            throw SettingsLoadError(.noUsableCopy, "Settings file \(path) is unusable (\(primaryProblem)) and there is no backup \(backupPath); fix or remove the file to start.")
        }
        switch Self.decodeFile(at: backupPath) {
        case let .success(contents):
            return (contents, .backup(reason: "settings file \(path) is unusable (\(primaryProblem))"))
        case let .failure(problem):
            throw SettingsLoadError(.noUsableCopy, "Settings file \(path) is unusable (\(primaryProblem)) and so is its backup \(backupPath) (\(problem.description)); fix or remove them to start.")
        }
    }

    /// Temporary files a killed worker left behind; never a valid state, safe to delete at start.
    package func removeStaleTemporaryFiles() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for file in names where file.hasPrefix("." + name + ".tmp-") { unlink(directory + "/" + file) }
    }

    static func decodeFile(at path: String) -> Result<Contents, SettingsLoadError> {
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(SettingsLoadError(.unreadable, "it cannot be read"))
        }
        do {
            let document = try JSONParser.parse([UInt8](data))
            return .success(Contents(settings: try decode(document), storeRevision: document["store_revision"]?.intValue ?? 0))
        } catch let error as SettingsLoadError {
            return .failure(error)
        } catch {
            return .failure(SettingsLoadError(.malformed, "\(error)"))
        }
    }

    package static func encode(_ settings: PXESettings, storeRevision: Int64? = nil) -> [UInt8] {
        let entries = settings.byID.sorted { $0.key < $1.key }.map { id, setting in
            (id, JSONValue.object([
                ("enabled", .bool(setting.enabled)),
                ("boot_order", .int(Int64(setting.bootOrder))),
                ("menu_name", .string(orNull: setting.menuName)),
                ("menu_description", .string(orNull: setting.menuDescription)),
            ] + (setting.commandLine.map { [("cmdline", JSONValue.string($0))] } ?? [])
              + (setting.missingSince.map { [("missing_since", JSONValue.int($0))] } ?? [])
              + (setting.revision > 0 ? [("revision", JSONValue.int(setting.revision))] : [])))
        }
        return JSONValue.object([
            ("format", .string(formatName)),
            ("version", .int(currentVersion)),
        ] + (storeRevision.map { [("store_revision", JSONValue.int($0))] } ?? []) + [
            ("entries", .object(entries)),
        ]).serialized(pretty: true)
    }

    package static func decode(_ document: JSONValue) throws(SettingsLoadError) -> PXESettings {
        guard document["format"] == .string(formatName) else {
            throw SettingsLoadError(.malformed, "it is not a pxe-catalog settings file (\"format\" is not \"\(formatName)\")")
        }
        guard let version = document["version"]?.intValue else { throw SettingsLoadError(.malformed, "\"version\" is missing") }
        guard version == currentVersion else {
            throw SettingsLoadError(.unsupportedVersion, "it has version \(version); this pxe-catalog reads version \(currentVersion)")
        }
        guard case let .object(entries)? = document["entries"] else { throw SettingsLoadError(.malformed, "\"entries\" is not an object") }
        var byID: [String: PXESetting] = [:]
        for (id, value) in entries {
            guard EntryID.isWellFormed(id) else { throw SettingsLoadError(.malformed, "entry id \"\(id)\" is not 12 hex digits") }
            guard case let .bool(enabled)? = value["enabled"] else { throw SettingsLoadError(.malformed, "entry \(id): \"enabled\" is not a boolean") }
            guard let order = value["boot_order"]?.intValue, order >= 0, order < Int64(Int32.max) else {
                throw SettingsLoadError(.malformed, "entry \(id): \"boot_order\" is not a non-negative integer")
            }
            func optionalText(_ key: String) throws(SettingsLoadError) -> String? {
                switch value[key] {
                case nil, .null?: return nil
                case let .string(text)?: return text
                default: throw SettingsLoadError(.malformed, "entry \(id): \"\(key)\" is not a string")
                }
            }
            var missingSince: Int64?
            switch value["missing_since"] {
            case nil, .null?: break
            case let .int(seconds)?: missingSince = seconds
            default: throw SettingsLoadError(.malformed, "entry \(id): \"missing_since\" is not an integer")
            }
            byID[id] = PXESetting(enabled: enabled, bootOrder: Int(order), menuName: try optionalText("menu_name"),
                                  menuDescription: try optionalText("menu_description"), commandLine: try optionalText("cmdline"),
                                  missingSince: missingSince, revision: value["revision"]?.intValue ?? 0)
        }
        return PXESettings(byID: byID)
    }

    package func save(_ settings: PXESettings, storeRevision: Int64? = nil) throws(SettingsWriteError) {
        let bytes = Self.encode(settings, storeRevision: storeRevision)
        let temporary = directory + "/." + name + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw SettingsWriteError(step: "creating a temporary settings file", code: errno, path: temporary) }
        var failure: SettingsWriteError?
        var written = 0
        while written < bytes.count && failure == nil {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { failure = SettingsWriteError(step: "writing the settings", code: n < 0 ? errno : ENOSPC, path: temporary) }
            else { written += n }
        }
        if failure == nil && fsync(fd) != 0 { failure = SettingsWriteError(step: "flushing the settings to disk", code: errno, path: temporary) }
        if close(fd) != 0 && failure == nil { failure = SettingsWriteError(step: "closing the settings file", code: errno, path: temporary) }
        if let failure {
            unlink(temporary)
            throw failure
        }
        // Keep the version being replaced as the backup. A hard link cannot run out of data space.
        if access(path, F_OK) == 0 {
            unlink(backupPath)
            if link(path, backupPath) != 0 {
                let code = errno
                unlink(temporary)
                throw SettingsWriteError(step: "keeping the previous settings as a backup", code: code, path: backupPath)
            }
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw SettingsWriteError(step: "replacing the settings file", code: code, path: path)
        }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw SettingsWriteError(step: "opening the state directory", code: errno, path: directory) }
        defer { close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw SettingsWriteError(step: "flushing the state directory", code: errno, path: directory) }
    }
}
