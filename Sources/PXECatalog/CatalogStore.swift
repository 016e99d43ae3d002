import Foundation
import Locking
import PXESettings
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
    /// The settings store's revision these settings are at (every commit up to it is applied).
    package var storeRevision: Int64 = 0

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
    /// Set when the default settings of new entries could not be saved (they are served from
    /// memory meanwhile and saved at the next refresh).
    package var settingsError: SettingsStoreError?
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
    /// `If-Match` named another revision than the entry's (it changed meanwhile); nothing was changed.
    case revisionMismatch(id: String, current: Int64)
    /// The change could not be made durable; nothing was changed.
    case settingsNotSaved(SettingsStoreError)
    /// The menu file sets this field of this entry; only the file may change it.
    case ownedByMenuFile(id: String, field: String, file: String, overridable: Bool)

    package var description: String {
        switch self {
        case let .unknownEntry(id): return "No container with id \(id) is in the catalog."
        case let .revisionMismatch(id, current): return "Entry \(id) is at revision \(current)."
        case let .settingsNotSaved(error): return "The settings could not be saved (\(error.description)); nothing was changed."
        case let .ownedByMenuFile(id, field, file, overridable):
            return "The \(field) of entry \(id) is set by the menu file \(file) (menu.file); change it there"
                + (overridable ? ", or list \"\(field)\" in the file's api_may_override." : ": the file's order is the menu's.")
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

/// Owns the current catalog state. Readers take the state under a short lock (a copy of a few
/// references). Changes are serialised by `writeGate`, committed to the settings store before
/// they become visible, and dropped if that fails. Changes other processes or nodes commit
/// arrive through the store's events and are applied the same way. A refresh scans without
/// holding either lock; refreshes run one at a time and concurrent ones share scans
/// (`RefreshCoalescer`).
package final class CatalogStore: Sendable {
    private let state: Locked<CatalogState>
    private let refreshes = RefreshCoalescer<Duration?, RefreshSummary>()
    let writeGate = Lock()
    /// Which machines have a one-shot next boot (see CatalogStore+NextBoot).
    let nextBootCache = Locked<[String: NextBoot]>([:])
    private let scannerBox: Locked<CatalogScanner>
    package let settingsStore: any SettingsStore
    /// Seconds an entry may be missing before its settings are forgotten; nil keeps them forever.
    private let forgetMissingAfter: Int64?
    let now: @Sendable () -> Date
    /// Files with a recent mtime as the latest settle-aware scan saw them (see `CatalogScanner.SettleCheck`).
    private let observations = Locked<[String: CatalogScanner.SettleCheck.Observation]>([:])
    /// The menu file in force (see CatalogStore+MenuFile).
    let desiredMenuBox = Locked<DesiredMenu?>(nil)
    /// Host rules made through the API (see CatalogStore+HostRules).
    let hostRuleCache = Locked<[String: String]>([:])

    /// `settings` and `revision`: what `settingsStore` held when it was loaded (or the local
    /// copy of it, while the database is unreachable). `forgetMissingAfter`: seconds after which
    /// the settings of an entry that left the catalog are dropped (nil: kept forever); `now` is
    /// the clock for it (tests move it).
    package init(scanner: CatalogScanner, settingsStore: any SettingsStore = MemorySettingsStore(),
                settings: PXESettings = PXESettings(), revision: Int64 = 0,
                forgetMissingAfter: Int64? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        scannerBox = Locked(scanner)
        self.settingsStore = settingsStore
        self.forgetMissingAfter = forgetMissingAfter
        self.now = now
        var initial = CatalogState(snapshot: .empty, settings: settings)
        initial.storeRevision = revision
        state = Locked(initial)
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

    func countWriteFailure() { failures.add(1, ordering: .relaxed) }

    /// Called with each new snapshot, after it is published (the boot cache prepares its entries).
    private let snapshotObservers = Locked<[@Sendable (CatalogSnapshot) -> Void]>([])

    package func observeSnapshots(_ observer: @escaping @Sendable (CatalogSnapshot) -> Void) {
        snapshotObservers.withLock { $0.append(observer) }
    }

    /// Called after each change of the settings is applied (a fleet node's local copy is written
    /// from here, reading `current`). Observers get no settings value: one held past the call
    /// would make the next change copy the whole dictionary.
    private let settingsObservers = Locked<[@Sendable () -> Void]>([])

    package func observeSettings(_ observer: @escaping @Sendable () -> Void) {
        settingsObservers.withLock { $0.append(observer) }
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
    /// those cannot be saved the summary says so (`settingsError`), the defaults are served from
    /// memory and saved at the next refresh.
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
        var outcome = (error: SettingsStoreError?.none, forgotten: 0)
        let oldIDs = Set(previous.entries.map(\.id))
        writeGate.withLock {
            outcome = reconcile(with: snapshot)
            state.withLock { $0.snapshot = snapshot }
            // New entries get the menu file's settings (those the API may override included);
            // the ones it owns are enforced on every entry it lists.
            if let menu = desiredMenu, snapshot.entries.contains(where: { !oldIDs.contains($0.id) }) {
                do {
                    _ = try applyMenu(menu, actor: "menu file", setsOverridable: { !oldIDs.contains($0) })
                } catch let error as CatalogStoreError {
                    if outcome.error == nil, case let .settingsNotSaved(storeError) = error { outcome.error = storeError }
                } catch {}
            }
        }
        for observer in snapshotObservers.withLock({ $0 }) { observer(snapshot) }
        let newIDs = Set(snapshot.entries.map(\.id))
        return RefreshSummary(count: snapshot.entries.count, added: newIDs.subtracting(oldIDs).count,
                              removed: oldIDs.subtracting(newIDs).count, invalid: snapshot.invalidCount,
                              parsed: result.parsedCount, reused: result.reusedCount,
                              rootProblems: result.rootProblems, duration: duration, settingsError: outcome.error,
                              deferred: result.deferredCount, forgotten: outcome.forgotten)
    }

    /// Gives the snapshot's new entries their default settings, notes which are missing and
    /// forgets those missing too long, in the store; on a store failure the defaults are
    /// served from memory. Runs under `writeGate`.
    private func reconcile(with snapshot: CatalogSnapshot) -> (error: SettingsStoreError?, forgotten: Int) {
        let ids = snapshot.entries.map(\.id)
        let present = Set(ids)
        let moment = Int64(now().timeIntervalSince1970)
        let forgetAfter = forgetMissingAfter
        // Whether the store needs a write, without copying the settings when it does (a copy
        // of every entry's settings is what the first one of 10,000 new files would cost).
        var probe = current.settings
        let needed = probe.lacksAny(of: ids) || probe.noteMissing(present: present, now: moment, forgetAfter: forgetAfter).changed
        guard needed else { return (nil, 0) }
        do {
            let (forgotten, commit) = try settingsStore.write { transaction in
                let stored = try transaction.allSettings()
                var updated = stored
                let added = updated.adopt(ids)
                let missing = updated.noteMissing(present: present, now: moment, forgetAfter: forgetAfter)
                try transaction.replace(stored, with: updated)
                for id in added { try transaction.record(actor: "catalog", entry: id, field: "added", old: nil, new: "enabled") }
                for id in missing.forgotten {
                    try transaction.record(actor: "catalog", entry: id, field: "forgotten", old: "missing since \(stored[id]?.missingSince ?? 0)", new: nil)
                }
                return missing.forgotten.count
            }
            publishLocal(commit)
            return (nil, forgotten)
        } catch {
            failures.add(1, ordering: .relaxed)
            state.withLock { state in
                state.settings.adopt(ids)
                state.settingsRevision += 1
            }
            return (SettingsStoreError.wrapping(error), 0)
        }
    }

    /// Publishes a commit this process made. Revisions are dense (each commit takes the next
    /// one under the store's lock), so a gap between the revision held and this commit means
    /// other nodes committed meanwhile and their notifications may not have been handled yet:
    /// taking this commit's revision alone would make them look applied, and their rows would
    /// be missed for good. Then everything since the held revision is fetched instead (it
    /// includes this commit). Runs under `writeGate`.
    func publishLocal(_ commit: SettingsCommit) {
        let held = current.storeRevision
        let missed = commit.isEmpty ? commit.revision > held : commit.revision > held + 1
        guard missed else {
            if !commit.isEmpty { publish(commit) }
            return
        }
        if let everything = try? settingsStore.changes(since: held), everything.revision >= commit.revision {
            publish(everything)
        } else if !commit.isEmpty {
            // The store went away just now: serve this commit's rows, keep the held revision so
            // the resynchronisation after the reconnect (or the next notification) fills the gap.
            publish(commit, advancing: false)
        }
    }

    /// Applies what a commit wrote to the in-memory settings: rows at least as new as the ones
    /// held replace them. Runs under `writeGate`.
    private func publish(_ commit: SettingsCommit, advancing: Bool = true) {
        state.withLock { state in
            if commit.saved.count > 64 { state.settings.reserveCapacity(state.settings.byID.count + commit.saved.count) }
            for (id, row) in commit.saved where (state.settings[id]?.revision ?? -1) <= row.revision {
                state.settings[id] = row
            }
            for id in commit.removed where (state.settings[id]?.revision ?? -1) <= commit.revision {
                state.settings[id] = nil
            }
            if advancing { state.storeRevision = max(state.storeRevision, commit.revision) }
            state.settingsRevision += 1
        }
        for observer in settingsObservers.withLock({ $0 }) { observer() }
    }

    // MARK: Changes from elsewhere

    /// What the settings store reports: another node's commit, a lost or regained database.
    package func handle(_ event: SettingsStoreEvent) {
        switch event {
        case let .changed(revision):
            guard revision > current.storeRevision else { return }
            catchUp()
        case .reconnected:
            resynchronise()
        case .lost:
            break   // served from memory; writes answer that the store is unavailable
        }
    }

    /// Applies every commit after the revision held (a notification says there are some).
    package func catchUp() {
        writeGate.withLock {
            guard let commit = try? settingsStore.changes(since: current.storeRevision), !commit.isEmpty || commit.revision > current.storeRevision else { return }
            reloadHostRules()
            publish(commit)
            reloadNextBoots()
        }
    }

    /// Replaces the in-memory settings with everything the store holds (after a reconnect,
    /// changes may have been missed), then saves the defaults of entries it does not know yet.
    package func resynchronise() {
        writeGate.withLock {
            guard let (settings, revision) = try? settingsStore.load() else { return }
            reloadHostRules()   // before the revision below moves: caches of menus key on it
            let snapshot = state.withLock { state -> CatalogSnapshot in
                state.settings = settings
                state.storeRevision = revision
                state.settingsRevision += 1
                return state.snapshot
            }
            for observer in settingsObservers.withLock({ $0 }) { observer() }
            reloadNextBoots()
            _ = reconcile(with: snapshot)
        }
    }

    // MARK: Changes through the API

    /// What an admin change does to one entry's settings.
    package enum Edit: Sendable {
        case enabled(Bool)
        case menu(name: FieldChange<String>, description: FieldChange<String>, commandLine: FieldChange<String>, bootOrder: Int?)
    }

    /// Commits `edit` of entry `id` (made by `actor`, checked against `expectedRevision` when
    /// given) to the store, then publishes it. Only ids in the current snapshot can be changed.
    /// Returns the entry and its settings as this change left them (a refresh right after may
    /// remove the entry; the caller still has both).
    @discardableResult
    package func apply(_ edit: Edit, id: String, actor: String = "admin", expectedRevision: Int64? = nil) throws(CatalogStoreError) -> EntryWithSetting {
        try writeGate.withLock { () throws(CatalogStoreError) -> EntryWithSetting in
            guard let entry = current.snapshot.entry(id: id) else { throw .unknownEntry(id) }
            try checkOwnership(edit, entry: entry)
            do {
                let (setting, commit) = try settingsStore.write { transaction in
                    try Self.apply(edit, id: id, actor: actor, expectedRevision: expectedRevision, in: transaction)
                }
                publishLocal(commit)
                return EntryWithSetting(entry: entry, setting: commit.saved[id] ?? setting)
            } catch let error as CatalogStoreError {
                throw error
            } catch {
                failures.add(1, ordering: .relaxed)
                throw .settingsNotSaved(SettingsStoreError.wrapping(error))
            }
        }
    }

    /// Sets an entry's PXE flag.
    @discardableResult
    package func setEnabled(_ enabled: Bool, id: String, actor: String = "admin", expectedRevision: Int64? = nil) throws(CatalogStoreError) -> EntryWithSetting {
        try apply(.enabled(enabled), id: id, actor: actor, expectedRevision: expectedRevision)
    }

    /// Changes an entry's menu name, description, command line and/or position in the boot order.
    @discardableResult
    package func updateMenu(id: String, name: FieldChange<String> = .keep, description: FieldChange<String> = .keep,
                           commandLine: FieldChange<String> = .keep, bootOrder: Int? = nil,
                           actor: String = "admin", expectedRevision: Int64? = nil) throws(CatalogStoreError) -> EntryWithSetting {
        try apply(.menu(name: name, description: description, commandLine: commandLine, bootOrder: bootOrder),
                  id: id, actor: actor, expectedRevision: expectedRevision)
    }

    /// The edit inside the store's transaction: reads the entry as the store has it (another
    /// node may have changed it), checks the revision, writes what differs, one audit record per
    /// field that changed.
    static func apply(_ edit: Edit, id: String, actor: String, expectedRevision: Int64?,
                      in transaction: any SettingsTransaction) throws -> PXESetting {
        guard var setting = try transaction.setting(id) else { throw CatalogStoreError.unknownEntry(id) }
        if let expectedRevision, setting.revision != expectedRevision {
            throw CatalogStoreError.revisionMismatch(id: id, current: setting.revision)
        }
        let before = setting
        var changes: [(field: String, old: String?, new: String?)] = []
        func change(_ field: String, _ old: String?, _ new: String?) { if old != new { changes.append((field, old, new)) } }
        var bootOrder: Int?
        switch edit {
        case let .enabled(flag):
            setting.enabled = flag
            change("enabled", String(before.enabled), String(flag))
        case let .menu(name, description, commandLine, order):
            if case let .some(text) = Self.newValue(name) { setting.menuName = text }
            if case let .some(text) = Self.newValue(description) { setting.menuDescription = text }
            if case let .some(text) = Self.newValue(commandLine) { setting.commandLine = text }
            change("name", before.menuName, setting.menuName)
            change("description", before.menuDescription, setting.menuDescription)
            change("cmdline", before.commandLine, setting.commandLine)
            bootOrder = order
        }
        if let bootOrder {
            // Moving shifts others: done on every row, in this transaction, so that concurrent
            // moves on several nodes leave the orders dense and unique.
            let stored = try transaction.allSettings()
            var updated = stored
            updated[id] = setting
            updated.move(id, to: bootOrder)
            setting = updated[id]!
            change("boot_order", String(before.bootOrder), String(setting.bootOrder))
            guard !changes.isEmpty else { return before }
            try transaction.replace(stored, with: updated)
        } else {
            guard !changes.isEmpty else { return before }
            try transaction.save(id, setting)
        }
        for change in changes { try transaction.record(actor: actor, entry: id, field: change.field, old: change.old, new: change.new) }
        return setting
    }

    /// The new value of a text field (`.some(nil)`: back to the container's), or nil to keep it.
    private static func newValue(_ change: FieldChange<String>) -> String?? {
        switch change {
        case .keep: return .none
        case let .set(text): return .some(text)
        case .reset: return .some(nil)
        }
    }
}
