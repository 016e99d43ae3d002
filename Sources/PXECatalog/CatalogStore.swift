import Foundation
import Locking
import Synchronization

/// The catalog snapshot, the PXE settings and the boot statuses, read together so a request
/// sees a consistent set.
package struct CatalogState: Sendable {
    package var snapshot: CatalogSnapshot
    package var settings: PXESettings
    /// Bumped on every published settings change; with `snapshot.generation` it keys caches.
    package var settingsRevision: Int
    /// What the boot cache knows about each entry, by id (published by `BootPreparer`).
    package var boot: [String: BootStatus]
    package var bootRevision: Int

    package init(snapshot: CatalogSnapshot, settings: PXESettings, settingsRevision: Int = 0,
                boot: [String: BootStatus] = [:], bootRevision: Int = 0) {
        self.snapshot = snapshot
        self.settings = settings
        self.settingsRevision = settingsRevision
        self.boot = boot
        self.bootRevision = bootRevision
    }

    /// Identifies this exact state for caches of rendered responses.
    package var revisionKey: CatalogRevision {
        CatalogRevision(generation: snapshot.generation, settingsRevision: settingsRevision, bootRevision: bootRevision)
    }

    /// The boot status of an entry: pending until the boot cache has looked at it.
    package func bootStatus(_ id: String) -> BootStatus { boot[id] ?? .pending }
}

/// A catalog generation with settings and boot revisions: equal keys mean equal rendered
/// responses. A struct rather than an array so comparing it on every request allocates nothing.
package struct CatalogRevision: Sendable, Equatable {
    package var generation: Int
    package var settingsRevision: Int
    package var bootRevision: Int
}

/// What a refresh changed.
package struct RefreshSummary: Sendable, Equatable {
    package var count: Int
    package var added: Int
    package var removed: Int
    package var invalid: Int
    package var parsed: Int
    package var reused: Int
    package var rootProblems: [String]
    package var duration: Duration
    /// Set when the default settings of new entries could not be saved.
    package var settingsError: SettingsWriteError?
    /// Files that changed too recently to be read (still being written).
    package var deferred: Int = 0
    /// Settings forgotten because their entries have been missing longer than the retention.
    package var forgotten: Int = 0
}

/// An entry with its settings, as one change left them.
package struct EntryWithSetting: Sendable {
    package var entry: CatalogEntry
    package var setting: PXESetting
    package var pair: (CatalogEntry, PXESetting) { (entry, setting) }
}

package enum CatalogStoreError: Error, Equatable, CustomStringConvertible {
    case unknownEntry(String)
    /// The change could not be made durable; nothing was changed.
    case settingsNotSaved(SettingsWriteError)

    package var description: String {
        switch self {
        case let .unknownEntry(id): return "No container with id \(id) is in the catalog."
        case let .settingsNotSaved(error): return "The settings could not be saved (\(error.description)); nothing was changed."
        }
    }
}

/// A change to a text field of an entry's menu settings.
package enum FieldChange<Value: Sendable & Equatable>: Sendable, Equatable {
    case keep
    case set(Value)
    /// Back to the catalog's value.
    case reset
}

/// Owns the current catalog state. Readers take the state under a short lock (a copy of two
/// references). Changes are serialised by `writeGate`, made durable through `persistence`
/// before they become visible, and dropped if that fails. A refresh scans without holding
/// either lock; refreshes run one at a time and concurrent ones share scans (`RefreshCoalescer`).
package final class CatalogStore: Sendable {
    private let state: Locked<CatalogState>
    private let refreshes = RefreshCoalescer<Duration?, RefreshSummary>()
    private let writeGate = Locked<Void>(())
    private let scannerBox: Locked<CatalogScanner>
    private let persistence: (any SettingsPersistence)?
    /// Seconds an entry may be missing before its settings are forgotten; nil keeps them forever.
    private let forgetMissingAfter: Int64?
    private let now: @Sendable () -> Date
    /// Files with a recent mtime as the latest settle-aware scan saw them (see `CatalogScanner.SettleCheck`).
    private let observations = Locked<[String: CatalogScanner.SettleCheck.Observation]>([:])

    /// `forgetMissingAfter`: seconds after which the settings of an entry that left the catalog
    /// are dropped (nil: kept forever); `now` is the clock for it (tests move it).
    package init(scanner: CatalogScanner, settings: PXESettings = PXESettings(), persistence: (any SettingsPersistence)? = nil,
                forgetMissingAfter: Int64? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        scannerBox = Locked(scanner)
        self.persistence = persistence
        self.forgetMissingAfter = forgetMissingAfter
        self.now = now
        state = Locked(CatalogState(snapshot: .empty, settings: settings))
    }

    package var current: CatalogState { state.withLock { $0 } }

    /// The current state's cache key alone: two integers, no references to retain (cache hits
    /// of the boot menu need nothing else).
    package var revision: CatalogRevision { state.withLock { $0.revisionKey } }

    package var scanner: CatalogScanner { scannerBox.withLock { $0 } }

    /// Takes effect at the next refresh (configuration reload).
    package func replaceScanner(_ scanner: CatalogScanner) { scannerBox.withLock { $0 = scanner } }

    /// Settings write failures since start, for metrics.
    package var settingsWriteFailures: Int { failures.load(ordering: .relaxed) }
    private let failures = Atomic<Int>(0)

    /// Called with each new snapshot, after it is published (the boot cache prepares its entries).
    private let snapshotObservers = Locked<[@Sendable (CatalogSnapshot) -> Void]>([])

    package func observeSnapshots(_ observer: @escaping @Sendable (CatalogSnapshot) -> Void) {
        snapshotObservers.withLock { $0.append(observer) }
    }

    /// Replaces the boot statuses (from the boot cache); caches of rendered responses follow.
    package func publishBoot(_ statuses: [String: BootStatus]) {
        state.withLock {
            $0.boot = statuses
            $0.bootRevision += 1
        }
    }

    /// Refreshes waiting for a scan right now.
    package var refreshesWaiting: Int { refreshes.waiting }

    /// Rescans the roots and swaps in the new snapshot. New entries get default settings; if
    /// those cannot be saved the summary says so (`settingsError`), the new snapshot is still
    /// served and the defaults are saved with the next successful change.
    ///
    /// `settle`: files that may still be being written wait (see `CatalogScanner.SettleCheck`);
    /// nil reads every file now. Callers that arrive while a scan runs share the next one.
    @discardableResult
    package func refresh(settle: Duration? = nil) -> RefreshSummary {
        let summary = refreshes.run(settle) {
            // All of it (scan, snapshot index, id sets) at background priority, like the scan.
            BackgroundWork.run { self.refreshNow(settle: settle) }
        }
        // Only now are the scan's temporaries, the id sets and (once the last request using it
        // is done) the previous snapshot freed: hand the pages back, tens of MB at 100k entries.
        BackgroundWork.returnFreedMemory()
        return summary
    }

    private func refreshNow(settle: Duration?) -> RefreshSummary {
        let started = ContinuousClock.now
        let previous = current.snapshot
        let check = settle.map { CatalogScanner.SettleCheck(settle: $0, observations: observations.withLock { $0 }) }
        let result = scanner.scan(previous: previous, settle: check)
        if check != nil { observations.withLock { $0 = result.observations } }
        let duration = ContinuousClock.now - started
        let snapshot = CatalogSnapshot(entries: result.entries, generation: previous.generation + 1,
                                       scannedAt: Date(), scanDuration: duration)
        var settingsError: SettingsWriteError?
        var forgotten = 0
        writeGate.withLock { _ in
            var settings = current.settings
            let ids = snapshot.entries.map(\.id)
            let added = settings.adopt(ids)
            let missing = settings.noteMissing(present: Set(ids), now: Int64(now().timeIntervalSince1970), forgetAfter: forgetMissingAfter)
            forgotten = missing.forgotten
            if !added.isEmpty || missing.changed, let persistence {
                do throws(SettingsWriteError) { try persistence.save(settings) } catch {
                    settingsError = error
                    failures.add(1, ordering: .relaxed)
                }
            }
            state.withLock { state in
                state.settings = settings
                state.snapshot = snapshot
                state.settingsRevision += 1
            }
        }
        for observer in snapshotObservers.withLock({ $0 }) { observer(snapshot) }
        let oldIDs = Set(previous.entries.map(\.id))
        let newIDs = Set(snapshot.entries.map(\.id))
        return RefreshSummary(count: snapshot.entries.count, added: newIDs.subtracting(oldIDs).count,
                              removed: oldIDs.subtracting(newIDs).count, invalid: snapshot.invalidCount,
                              parsed: result.parsedCount, reused: result.reusedCount,
                              rootProblems: result.rootProblems, duration: duration, settingsError: settingsError,
                              deferred: result.deferredCount, forgotten: forgotten)
    }

    /// Applies `change` to a copy of the settings, saves it, then publishes it. Only ids in the
    /// current snapshot can be changed. Returns the entry and its settings as this change left
    /// them (a refresh right after may remove the entry; the caller still has both).
    private func change(id: String, _ change: (inout PXESettings) -> Void) throws(CatalogStoreError) -> EntryWithSetting {
        try writeGate.withLock { _ throws(CatalogStoreError) -> EntryWithSetting in
            let before = current
            guard let entry = before.snapshot.entry(id: id), before.settings[id] != nil else { throw .unknownEntry(id) }
            var settings = before.settings
            change(&settings)
            if settings != before.settings, let persistence {
                do throws(SettingsWriteError) { try persistence.save(settings) } catch {
                    failures.add(1, ordering: .relaxed)
                    throw .settingsNotSaved(error)
                }
            }
            state.withLock {
                $0.settings = settings
                $0.settingsRevision += 1
            }
            return EntryWithSetting(entry: entry, setting: settings[id]!)
        }
    }

    /// Sets an entry's PXE flag.
    @discardableResult
    package func setEnabled(_ enabled: Bool, id: String) throws(CatalogStoreError) -> EntryWithSetting {
        try change(id: id) { $0[id]!.enabled = enabled }
    }

    /// Changes an entry's menu name, description and/or position in the boot order.
    @discardableResult
    package func updateMenu(id: String, name: FieldChange<String> = .keep, description: FieldChange<String> = .keep,
                           commandLine: FieldChange<String> = .keep, bootOrder: Int? = nil) throws(CatalogStoreError) -> EntryWithSetting {
        try change(id: id) { settings in
            switch commandLine {
            case .keep: break
            case let .set(text): settings[id]!.commandLine = text
            case .reset: settings[id]!.commandLine = nil
            }
            switch name {
            case .keep: break
            case let .set(text): settings[id]!.menuName = text
            case .reset: settings[id]!.menuName = nil
            }
            switch description {
            case .keep: break
            case let .set(text): settings[id]!.menuDescription = text
            case .reset: settings[id]!.menuDescription = nil
            }
            if let bootOrder { settings.move(id, to: bootOrder) }
        }
    }
}
