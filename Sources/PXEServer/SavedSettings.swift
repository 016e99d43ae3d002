import Foundation
import Logging
import PXECatalog

/// The state directory and the settings saved in it, as the worker finds them at start.
struct SavedSettings {
    let file: SettingsFile
    let settings: PXESettings
    /// How they were loaded, for `/status`: fresh, loaded, loaded_from_backup.
    let loadNote: String

    /// Creates the state directory when missing and loads the settings; refuses a corrupt
    /// settings file without a usable backup (never silently replaced by defaults).
    static func load(_ configuration: Configuration, logger: Logger) throws(StartupError) -> SavedSettings {
        let directory = configuration.state.directory
        let file = SettingsFile(directory: directory)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o751])
        } catch {
            throw StartupError(.stateDirectory, "Cannot create the state directory \(directory) (state.directory): \(error.localizedDescription)")
        }
        do {
            let (loaded, outcome) = try file.load()
            switch outcome {
            case .fresh:
                logger.info("no settings file in \(directory): starting with defaults")
                return SavedSettings(file: file, settings: loaded, loadNote: "fresh")
            case .primary:
                logger.info("loaded settings for \(loaded.byID.count) entries from \(file.path)")
                return SavedSettings(file: file, settings: loaded, loadNote: "loaded")
            case let .backup(reason):
                logger.critical("\(reason); USING THE BACKUP \(file.backupPath) (\(loaded.byID.count) entries). The unusable file will be replaced at the next change.")
                return SavedSettings(file: file, settings: loaded, loadNote: "loaded_from_backup")
            }
        } catch {
            throw StartupError(.settings, error.description)
        }
    }
}
