import BackgroundServices
import Foundation
import Locking
import Logging
import PXECatalog
import PXESettings
import PXESettingsPostgres
import PXESettingsSQLite

/// The settings store the configuration names, with what it held at start: the SQLite file in
/// the state directory, or the fleet's PostgreSQL (and, while that is unreachable, this node's
/// local copy of it). A settings file of before 1.1 is imported once.
struct SavedSettings {
    let store: any SettingsStore
    let settings: PXESettings
    let revision: Int64
    /// How they were loaded, for `/status`: fresh, loaded, imported, local_copy.
    let loadNote: String
    /// A fleet node's local copy of the shared settings (nil for SQLite: it is local already).
    let localCopy: SettingsFile?

    static let localCopyName = "settings-copy.json"

    static func prepareStateDirectory(_ configuration: Configuration) throws(StartupError) {
        let directory = configuration.state.directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o751])
        } catch {
            throw StartupError(.stateDirectory, "Cannot create the state directory \(directory) (state.directory): \(error.localizedDescription)")
        }
    }

    /// Opens the configured store (creating and migrating its schema), imports an old settings
    /// file into an empty one, and loads it. Refuses a store that cannot be used for good (a
    /// corrupt file, a newer schema); an unreachable PostgreSQL is not such a reason.
    static func open(_ configuration: Configuration, logger: Logger) throws(StartupError) -> any SettingsStore {
        switch configuration.state.backend {
        case .sqlite:
            do {
                return try SQLiteSettingsStore(path: configuration.state.directory + "/" + SQLiteSettingsStore.fileName)
            } catch {
                throw StartupError(.settings, error.description)
            }
        case .postgresql:
            do {
                return try PostgresSettingsStore(conninfo: configuration.state.postgresqlURL ?? "")
            } catch {
                throw StartupError(.settings, error.description)
            }
        }
    }

    /// The configured store as it is, for reading only: nothing is created or migrated.
    static func openReadOnly(_ configuration: Configuration) throws(SettingsStoreError) -> any SettingsStore {
        switch configuration.state.backend {
        case .sqlite:
            return try SQLiteSettingsStore(path: configuration.state.directory + "/" + SQLiteSettingsStore.fileName, readOnly: true)
        case .postgresql:
            return try PostgresSettingsStore(conninfo: configuration.state.postgresqlURL ?? "", migrate: false)
        }
    }

    /// Whether the store is a SQLite file no worker has created yet (commands that only read
    /// the settings then use every entry's defaults).
    static func notCreatedYet(_ configuration: Configuration) -> Bool {
        configuration.state.backend == .sqlite
            && !FileManager.default.fileExists(atPath: configuration.state.directory + "/" + SQLiteSettingsStore.fileName)
    }

    /// Creates or upgrades the configured store's schema now (`pxe-catalog db migrate`);
    /// answers the backend's name.
    static func migrate(_ configuration: Configuration) throws -> String {
        try prepareStateDirectory(configuration)
        let store: any SettingsStore
        switch configuration.state.backend {
        case .sqlite:
            store = try SQLiteSettingsStore(path: configuration.state.directory + "/" + SQLiteSettingsStore.fileName)
        case .postgresql:
            let postgres = try PostgresSettingsStore(conninfo: configuration.state.postgresqlURL ?? "")
            try postgres.migrateNow()
            store = postgres
        }
        store.close()
        return store.backendName
    }

    static func load(_ configuration: Configuration, logger: Logger) throws(StartupError) -> SavedSettings {
        try prepareStateDirectory(configuration)
        let directory = configuration.state.directory
        let store = try open(configuration, logger: logger)
        let localCopy = configuration.state.backend == .postgresql ? SettingsFile(directory: directory, name: localCopyName) : nil
        var note = "loaded"
        if store.health.available {
            do {
                switch try SettingsImport.run(SettingsFile(directory: directory), into: store, logBackupUse: { reason in
                    logger.critical("\(reason); IMPORTING THE BACKUP \(SettingsFile(directory: directory).backupPath) instead")
                }) {
                case .nothing: break
                case let .imported(entries, renamedTo):
                    note = "imported"
                    logger.notice("imported the settings of \(entries) entries from settings.json into the \(store.backendName) store; the file is kept as \(renamedTo)")
                case .skippedStoreNotEmpty:
                    logger.warning("\(directory)/settings.json was not imported: the \(store.backendName) store already holds settings (remove or rename the file to silence this)")
                }
            } catch {
                throw StartupError(.settings, "\(String(describing: error)) The settings were not imported; fix or remove the file to start.")
            }
        }
        do {
            let (settings, revision) = try store.load()
            if settings.byID.isEmpty && note == "loaded" { note = "fresh" }
            logger.info("settings of \(settings.byID.count) entries from the \(store.backendName) store, revision \(revision)")
            return SavedSettings(store: store, settings: settings, revision: revision, loadNote: note, localCopy: localCopy)
        } catch where error.kind == .unavailable {
            guard let localCopy else { throw StartupError(.settings, error.description) }
            do {
                let (contents, outcome) = try localCopy.loadContents()
                logger.error("\(error.description) Serving the local copy of the settings (\(contents.settings.byID.count) entries, revision \(contents.storeRevision)\(outcome == .fresh ? ": there is none yet, so no entry is enabled" : "")) until it is back; admin changes are refused meanwhile.")
                return SavedSettings(store: store, settings: contents.settings, revision: contents.storeRevision, loadNote: "local_copy", localCopy: localCopy)
            } catch {
                throw StartupError(.settings, "\(error.description) (the local copy of the settings)")
            }
        } catch {
            throw StartupError(.settings, error.description)
        }
    }
}

/// Writes a fleet node's local copy of the shared settings, at most every half second (less
/// often when writing it takes long) and on a thread of its own, so that no request waits for
/// it; the last version is written at stop. It holds no settings between writes: it takes the
/// current ones when it writes (see `SettingsReplica.observe`).
final class LocalSettingsCopy: BackgroundService, Sendable {
    let name = "settings-copy"
    private let file: SettingsFile
    private let logger: Logger
    private let current: @Sendable () -> (settings: PXESettings, revision: Int64)
    private let pending = Locked(false)
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Locked(false)
    private let thread = Locked<ServiceThread?>(nil)
    /// Cuts the pause between writes short at stop.
    private let pause = DispatchSemaphore(value: 0)

    /// `current`: the settings to write and the store revision they are at, read together.
    init(file: SettingsFile, logger: Logger, current: @escaping @Sendable () -> (settings: PXESettings, revision: Int64)) {
        self.file = file
        self.logger = logger
        self.current = current
    }

    func start() {
        thread.withLock { $0 = ServiceThread(name: name) { [self] in run() } }
    }

    /// The settings changed: the current ones are written at the next turn.
    func settingsChanged() {
        pending.withLock { $0 = true }
        wake.signal()
    }

    /// Writes what is pending and stops the thread.
    func stop(deadline: ContinuousClock.Instant) -> Bool {
        stopped.withLock { $0 = true }
        wake.signal()
        pause.signal()
        return thread.withLock { $0 }?.waitUntilFinished(deadline: deadline) ?? true
    }

    private func run() {
        while true {
            wake.wait()
            let stopping = stopped.withLock { $0 }
            var took = 0.0
            if pending.withLock({ value in defer { value = false }; return value }) {
                let (settings, revision) = current()
                let started = ContinuousClock.now
                do { try file.save(settings, storeRevision: revision) } catch {
                    logger.warning("the local copy of the settings could not be written to \(file.path): \(error.description)")
                }
                let elapsed = ContinuousClock.now - started
                took = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            }
            if stopping { break }
            // At most every half second, and no more than 5% of a core: a 100,000-entry copy
            // takes tens of milliseconds to write, and a busy fleet node changes every second.
            _ = pause.wait(timeout: .now() + max(0.5, min(10, took * 20)))
        }
    }
}
