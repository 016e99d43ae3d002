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

/// Owns the catalog: its snapshot and the boot statuses, with the settings read from the
/// `SettingsReplica` beside them (the replica owns those and every change of them). Readers
/// take the state under short locks (a copy of a few references). A refresh scans without
/// holding either; refreshes run one at a time and concurrent ones share scans
/// (`RefreshCoalescer`). After each scan the catalog gives new entries their default settings,
/// applies the menu file to them, and hands the replica the rules edits are checked against.
package final class CatalogStore: Sendable {
    /// The catalog's own part of `CatalogState`.
    private struct Catalog: Sendable {
        var snapshot: CatalogSnapshot = .empty
        var boot: [String: BootStatus] = [:]
        var bootRevision = 0
    }

    private let state = Locked(Catalog())
    private let refreshes = RefreshCoalescer<Duration?, RefreshSummary>()
    /// The settings of the entries (and every change of them).
    package let settings: SettingsReplica
    private let scannerBox: Locked<CatalogScanner>
    /// Seconds an entry may be missing before its settings are forgotten; nil keeps them forever.
    private let forgetMissingAfter: Int64?
    let now: @Sendable () -> Date
    /// Files with a recent mtime as the latest settle-aware scan saw them (see `CatalogScanner.SettleCheck`).
    private let observations = Locked<[String: CatalogScanner.SettleCheck.Observation]>([:])
    /// The menu file in force (see CatalogStore+MenuFile).
    let desiredMenuBox = Locked<DesiredMenu?>(nil)

    /// `settings` and `revision`: what `settingsStore` held when it was loaded (or the local
    /// copy of it, while the database is unreachable). `forgetMissingAfter`: seconds after which
    /// the settings of an entry that left the catalog are dropped (nil: kept forever); `now` is
    /// the clock for it (tests move it).
    package init(scanner: CatalogScanner, settingsStore: any SettingsStore = MemorySettingsStore(),
                settings: PXESettings = PXESettings(), revision: Int64 = 0,
                forgetMissingAfter: Int64? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        scannerBox = Locked(scanner)
        self.settings = SettingsReplica(store: settingsStore, settings: settings, revision: revision)
        self.forgetMissingAfter = forgetMissingAfter
        self.now = now
        self.settings.afterResynchronising { [weak self] writer in
            guard let self else { return }
            _ = self.reconcile(with: self.state.withLock { $0.snapshot }, writer: writer)
        }
    }

    /// The store the settings are kept in.
    package var settingsStore: any SettingsStore { settings.store }

    package var current: CatalogState {
        let catalog = state.withLock { $0 }
        let replica = settings.current
        var current = CatalogState(snapshot: catalog.snapshot, settings: replica.settings, settingsRevision: replica.revision,
                                   boot: catalog.boot, bootRevision: catalog.bootRevision)
        current.storeRevision = replica.storeRevision
        return current
    }

    /// The current state's cache key alone: three integers, no references to retain (cache
    /// hits of the boot menu need nothing else).
    package var revision: CatalogRevision {
        let (generation, bootRevision) = state.withLock { ($0.snapshot.generation, $0.bootRevision) }
        return CatalogRevision(generation: generation, settingsRevision: settings.revision, bootRevision: bootRevision)
    }

    package var scanner: CatalogScanner { scannerBox.withLock { $0 } }

    /// Takes effect at the next refresh (configuration reload).
    package func replaceScanner(_ scanner: CatalogScanner) { scannerBox.withLock { $0 = scanner } }

    /// Settings write failures since start, for metrics.
    package var settingsWriteFailures: Int { settings.writeFailures }

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
        settings.exclusively { writer in
            outcome = reconcile(with: snapshot, writer: writer)
            state.withLock { $0.snapshot = snapshot }
            writer.replaceRules(editRules(snapshot: snapshot, menu: desiredMenu))
            // New entries get the menu file's settings (those the API may override included);
            // the ones it owns are enforced on every entry it lists.
            if let menu = desiredMenu, snapshot.entries.contains(where: { !oldIDs.contains($0.id) }) {
                do throws(SettingsChangeError) {
                    _ = try applyMenu(menu, actor: "menu file", writer: writer, setsOverridable: { !oldIDs.contains($0) })
                } catch {
                    if outcome.error == nil, case let .settingsNotSaved(storeError) = error { outcome.error = storeError }
                }
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
    /// served from memory. Runs under the settings' write gate.
    private func reconcile(with snapshot: CatalogSnapshot, writer: SettingsWriter) -> (error: SettingsStoreError?, forgotten: Int) {
        let ids = snapshot.entries.map(\.id)
        let present = Set(ids)
        let moment = Int64(now().timeIntervalSince1970)
        let forgetAfter = forgetMissingAfter
        // Whether the store needs a write, without copying the settings when it does (a copy
        // of every entry's settings is what the first one of 10,000 new files would cost).
        var probe = writer.current.settings
        let needed = probe.lacksAny(of: ids) || probe.noteMissing(present: present, now: moment, forgetAfter: forgetAfter).changed
        guard needed else { return (nil, 0) }
        do {
            let forgotten = try writer.commit { transaction in
                let stored = try transaction.allSettings()
                var updated = stored
                let added = updated.adopt(ids)
                if let first = added.first, let firstBootOrder = updated[first]?.bootOrder {
                    try transaction.addDefaults(added, firstBootOrder: firstBootOrder, actor: "catalog")
                }
                // What is saved now; noting the missing changes only a few of them (the storage
                // is copied then, not before).
                let adopted = updated
                let missing = updated.noteMissing(present: present, now: moment, forgetAfter: forgetAfter)
                try transaction.replace(adopted, with: updated)
                for id in missing.forgotten {
                    try transaction.record(actor: "catalog", entry: id, field: "forgotten", old: "missing since \(stored[id]?.missingSince ?? 0)", new: nil)
                }
                return missing.forgotten.count
            }
            return (nil, forgotten)
        } catch {
            writer.serveFromMemory { $0.adopt(ids) }
            if case let .settingsNotSaved(storeError) = error { return (storeError, 0) }
            return (SettingsStoreError(.failed, error.description), 0)
        }
    }

    /// What edits may touch after this snapshot: its entries, minus what `menu` owns.
    func editRules(snapshot: CatalogSnapshot, menu: DesiredMenu?) -> EditRules {
        guard let menu else { return EditRules(isKnown: { snapshot.entry(id: $0) != nil }) }
        return EditRules(isKnown: { snapshot.entry(id: $0) != nil }, menuFile: menu.fileName,
                         ownedFields: { id in snapshot.entry(id: id).map(menu.ownedFields) ?? [] })
    }

    // MARK: Changes from elsewhere

    /// What the settings store reports: another node's commit, a lost or regained database.
    package func handle(_ event: SettingsStoreEvent) { settings.handle(event) }
}
