import Foundation

/// The one-time upgrade from the settings file of before 1.1 (`settings.json`) into a settings
/// store: all of it in one transaction, only into a store that holds no settings yet (the
/// first node of a fleet to upgrade brings its settings; the others' are left alone). The file
/// is then renamed `settings.json.imported` and kept, with its `.bak`, as the backup.
package enum SettingsImport {
    package enum Outcome: Sendable, Equatable {
        /// No settings file to import.
        case nothing
        case imported(entries: Int, renamedTo: String)
        /// The store already held settings; the file was left where it is.
        case skippedStoreNotEmpty
    }

    /// Imports `file` into `store` if there is one and the store is empty. A file that cannot
    /// be read (and whose backup cannot either) is an error: its settings must not be lost
    /// silently. `logBackupUse` is told when the backup had to be used.
    package static func run(_ file: SettingsFile, into store: any SettingsStore,
                            logBackupUse: (String) -> Void = { _ in }) throws -> Outcome {
        guard FileManager.default.fileExists(atPath: file.path) || FileManager.default.fileExists(atPath: file.backupPath) else { return .nothing }
        let (settings, loadOutcome) = try file.load()
        if case let .backup(reason) = loadOutcome { logBackupUse(reason) }
        let (imported, _) = try store.write { transaction -> Bool in
            guard try transaction.allSettings().byID.isEmpty else { return false }
            for (id, setting) in settings.byID { try transaction.save(id, setting) }
            try transaction.record(actor: "import", entry: nil, field: "imported", old: nil,
                                   new: "\(settings.byID.count) entries from \(file.name)")
            return true
        }
        guard imported else { return .skippedStoreNotEmpty }
        let renamed = file.path + ".imported"
        if rename(file.path, renamed) != 0 && errno != ENOENT {
            throw SettingsStoreError(.failed, "The settings were imported, but \(file.path) could not be renamed to \(renamed): \(String(cString: strerror(errno))).")
        }
        if access(file.backupPath, F_OK) == 0 { rename(file.backupPath, renamed + ".bak") }
        return .imported(entries: settings.byID.count, renamedTo: renamed)
    }
}
