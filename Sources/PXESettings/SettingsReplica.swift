import Foundation
import Locking
import Synchronization

/// This process's copy of the settings and the one way to change them. Readers take the copy
/// under a short lock (the boot path never waits on a database). Changes are serialised by the
/// write gate, committed to the store before they become visible and dropped if that fails;
/// changes other processes or nodes commit arrive as the store's events and are applied the same
/// way, in revision order, with catch-up after a gap or a reconnect.
///
/// What an edit may touch is decided here too, from rules the catalog hands in as values
/// (`EditRules`: which entries exist, which fields the menu file owns), so that an API change
/// goes to this type and comes back, without a detour through the catalog.
package final class SettingsReplica: Sendable {
    /// The settings as this process serves them.
    package struct State: Sendable {
        package var settings: PXESettings
        /// Bumped on every published change; caches of rendered responses key on it.
        package var revision: Int = 0
        /// The store's revision these settings are at (every commit up to it is applied).
        package var storeRevision: Int64
    }

    package let store: any SettingsStore
    private let state: Locked<State>
    private let gate = Lock()
    private let rulesBox = Locked(EditRules.none)
    private let failures = Atomic<Int>(0)
    /// Told under the gate, before another node's change is published (see `followRemoteChanges`).
    private let remoteFollowers = Locked<[@Sendable () -> Void]>([])
    /// Told under the gate after a resynchronisation (see `afterResynchronising`).
    private let resynchronisedFollowers = Locked<[@Sendable (SettingsWriter) -> Void]>([])
    /// Told after each published change (see `observe`).
    private let observers = Locked<[@Sendable () -> Void]>([])

    /// `settings` and `revision`: what `store` held when it was loaded (or a fleet node's local
    /// copy of it, while the database is unreachable).
    package init(store: any SettingsStore = MemorySettingsStore(), settings: PXESettings = PXESettings(), revision: Int64 = 0) {
        self.store = store
        state = Locked(State(settings: settings, storeRevision: revision))
    }

    package var current: State { state.withLock { $0 } }

    /// The published revision alone (caches compare it on every request).
    package var revision: Int { state.withLock { $0.revision } }

    /// Writes that could not be made durable since start, for metrics.
    package var writeFailures: Int { failures.load(ordering: .relaxed) }

    /// What edits may touch now; replaced by the catalog with each snapshot and menu file.
    package var rules: EditRules { rulesBox.withLock { $0 } }

    // MARK: Writing

    /// Runs `body` holding the write gate: one writer at a time in this process (the store
    /// serialises writers across processes and nodes). `body` commits through the writer.
    package func exclusively<Result, Failure: Error>(_ body: (SettingsWriter) throws(Failure) -> Result) throws(Failure) -> Result {
        try gate.withLock { () throws(Failure) -> Result in try body(SettingsWriter(replica: self)) }
    }

    /// Replaces the rules edits are checked against. Under the gate, so that an edit checked
    /// against the old rules has committed before.
    package func replaceRules(_ rules: EditRules) {
        gate.withLock { replaceRulesHoldingGate(rules) }
    }

    fileprivate func replaceRulesHoldingGate(_ rules: EditRules) {
        rulesBox.withLock { $0 = rules }
    }

    /// Commits `edit` of entry `id` (made by `actor`, checked against `expectedRevision` when
    /// given) and publishes it. Only entries the rules know can change, and not in fields the
    /// menu file owns. Returns the settings as this change left them.
    @discardableResult
    package func apply(_ edit: SettingsEdit, id: String, actor: String = "admin", expectedRevision: Int64? = nil) throws(SettingsChangeError) -> PXESetting {
        try exclusively { writer throws(SettingsChangeError) -> PXESetting in
            let rules = self.rules
            guard rules.isKnown(id) else { throw .unknownEntry(id) }
            if let menuFile = rules.menuFile, let field = edit.fields.first(where: rules.ownedFields(id).contains) {
                throw .ownedByMenuFile(id: id, field: field.rawValue, file: menuFile, overridable: field != .bootOrder)
            }
            let (setting, commit) = try writer.commitReturningCommit { transaction in
                try edit.apply(to: id, actor: actor, expectedRevision: expectedRevision, in: transaction)
            }
            return commit.saved[id] ?? setting
        }
    }

    /// Sets an entry's PXE flag.
    @discardableResult
    package func setEnabled(_ enabled: Bool, id: String, actor: String = "admin", expectedRevision: Int64? = nil) throws(SettingsChangeError) -> PXESetting {
        try apply(.enabled(enabled), id: id, actor: actor, expectedRevision: expectedRevision)
    }

    /// Changes an entry's menu name, description, command line and/or position in the boot order.
    @discardableResult
    package func updateMenu(id: String, name: FieldChange<String> = .keep, description: FieldChange<String> = .keep,
                            commandLine: FieldChange<String> = .keep, bootOrder: Int? = nil,
                            actor: String = "admin", expectedRevision: Int64? = nil) throws(SettingsChangeError) -> PXESetting {
        try apply(.menu(name: name, description: description, commandLine: commandLine, bootOrder: bootOrder),
                  id: id, actor: actor, expectedRevision: expectedRevision)
    }

    // MARK: Following

    /// `reload` runs under the gate before another process's or node's change (or everything,
    /// after a reconnect) is published: state kept beside the settings (next boots, host rules)
    /// is read again first, so that caches keyed on `revision` never pair the new revision with
    /// the old state.
    package func followRemoteChanges(_ reload: @escaping @Sendable () -> Void) {
        remoteFollowers.withLock { $0.append(reload) }
    }

    /// `follow` runs under the gate after the settings were reloaded whole (after a reconnect):
    /// the catalog saves the defaults of entries the store does not know yet.
    package func afterResynchronising(_ follow: @escaping @Sendable (SettingsWriter) -> Void) {
        resynchronisedFollowers.withLock { $0.append(follow) }
    }

    /// `observer` runs after each published change (a fleet node's local copy is written from
    /// here, reading `current`). It gets no settings value: one held past the call would make
    /// the next change copy the whole dictionary.
    package func observe(_ observer: @escaping @Sendable () -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// What the store reports: another node's commit, a lost or regained database.
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
        gate.withLock {
            let held = current.storeRevision
            guard let commit = try? store.changes(since: held), !commit.isEmpty || commit.revision > held else { return }
            for reload in remoteFollowers.withLock({ $0 }) { reload() }
            publish(commit)
        }
    }

    /// Replaces the settings with everything the store holds (after a reconnect, changes may
    /// have been missed), then lets the catalog save the defaults of entries it does not know.
    package func resynchronise() {
        gate.withLock {
            guard let (settings, revision) = try? store.load() else { return }
            for reload in remoteFollowers.withLock({ $0 }) { reload() }
            state.withLock { state in
                state.settings = settings
                state.storeRevision = revision
                state.revision += 1
            }
            for observer in observers.withLock({ $0 }) { observer() }
            let writer = SettingsWriter(replica: self)
            for follow in resynchronisedFollowers.withLock({ $0 }) { follow(writer) }
        }
    }

    // MARK: Publishing (under the gate)

    /// Publishes a commit this process made. Revisions are dense (each commit takes the next
    /// one under the store's lock), so a gap between the revision held and this commit means
    /// other nodes committed meanwhile and their notifications may not have been handled yet:
    /// taking this commit's revision alone would make them look applied, and their rows would
    /// be missed for good. Then everything since the held revision is fetched instead (it
    /// includes this commit).
    fileprivate func publishLocal(_ commit: SettingsCommit) {
        let held = current.storeRevision
        let missed = commit.isEmpty ? commit.revision > held : commit.revision > held + 1
        guard missed else {
            if !commit.isEmpty { publish(commit) }
            return
        }
        if let everything = try? store.changes(since: held), everything.revision >= commit.revision {
            publish(everything)
        } else if !commit.isEmpty {
            // The store went away just now: serve this commit's rows, keep the held revision so
            // the resynchronisation after the reconnect (or the next notification) fills the gap.
            publish(commit, advancing: false)
        }
    }

    /// Applies what a commit wrote to the settings in memory: rows at least as new as the ones
    /// held replace them.
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
            state.revision += 1
        }
        for observer in observers.withLock({ $0 }) { observer() }
    }

    /// Changes the settings in memory only (the store failed; see `SettingsWriter.serveFromMemory`).
    fileprivate func changeInMemory(_ change: (inout PXESettings) -> Void) {
        state.withLock { state in
            change(&state.settings)
            state.revision += 1
        }
    }

    fileprivate func countFailure() { failures.add(1, ordering: .relaxed) }
}

/// The write gate, held: what a writer of the settings can do. Handed out by
/// `SettingsReplica.exclusively`; not to be kept past it.
package struct SettingsWriter {
    fileprivate let replica: SettingsReplica

    /// The settings as published now.
    package var current: SettingsReplica.State { replica.current }

    /// Runs `change` in one store transaction and publishes what it committed. A failure of
    /// the store is counted and answered as `settingsNotSaved`; a `SettingsChangeError` the
    /// change threw (a refusal, not a failure) is rethrown uncounted. `beforePublishing` runs
    /// once the commit is durable, before it is published (state kept beside the settings that
    /// caches keyed on the revision must see with it).
    package func commit<Result>(_ change: (any SettingsTransaction) throws -> Result,
                                beforePublishing: (Result) -> Void = { _ in }) throws(SettingsChangeError) -> Result {
        try commitReturningCommit(change, beforePublishing: beforePublishing).result
    }

    /// `commit`, with the commit (the rows as the store wrote them).
    package func commitReturningCommit<Result>(_ change: (any SettingsTransaction) throws -> Result,
                                               beforePublishing: (Result) -> Void = { _ in }) throws(SettingsChangeError) -> (result: Result, commit: SettingsCommit) {
        let written: (result: Result, commit: SettingsCommit)
        do {
            written = try replica.store.write(change)
        } catch let refusal as SettingsChangeError {
            throw refusal
        } catch {
            replica.countFailure()
            throw .settingsNotSaved(SettingsStoreError.wrapping(error))
        }
        beforePublishing(written.result)
        replica.publishLocal(written.commit)
        return written
    }

    /// Replaces the rules edits are checked against (the gate is held already).
    package func replaceRules(_ rules: EditRules) {
        replica.replaceRulesHoldingGate(rules)
    }

    /// Serves a change from memory because the store could not take it (a refresh's defaults
    /// for new entries: saved at the next refresh).
    package func serveFromMemory(_ change: (inout PXESettings) -> Void) {
        replica.changeInMemory(change)
    }
}

/// What an edit may touch: the entries that exist now, and the fields of each that the menu
/// file owns. Values from the catalog (its snapshot and menu file), replaced as they change.
package struct EditRules: Sendable {
    /// Whether entry `id` exists (only existing entries can be changed).
    package var isKnown: @Sendable (String) -> Bool
    /// The menu file in force, for the refusal's sentence (nil: none, nothing is owned).
    package var menuFile: String?
    /// The fields of entry `id` only the menu file may change.
    package var ownedFields: @Sendable (String) -> Set<SettingsField>

    package init(isKnown: @escaping @Sendable (String) -> Bool, menuFile: String? = nil,
                 ownedFields: @escaping @Sendable (String) -> Set<SettingsField> = { _ in [] }) {
        self.isKnown = isKnown
        self.menuFile = menuFile
        self.ownedFields = ownedFields
    }

    /// Before the first scan: nothing can be changed.
    package static let none = EditRules(isKnown: { _ in false })
}
