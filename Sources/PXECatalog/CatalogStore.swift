import Foundation
import Synchronization

/// The catalog snapshot and the PXE settings, read together so a request sees a consistent pair.
public struct CatalogState: Sendable {
    public var snapshot: CatalogSnapshot
    public var settings: PXESettings

    public init(snapshot: CatalogSnapshot, settings: PXESettings) {
        self.snapshot = snapshot
        self.settings = settings
    }
}

/// What a refresh changed.
public struct RefreshSummary: Sendable, Equatable {
    public var count: Int
    public var added: Int
    public var removed: Int
    public var invalid: Int
    public var parsed: Int
    public var reused: Int
    public var rootProblems: [String]
    public var duration: Duration
}

public enum CatalogStoreError: Error, Equatable, CustomStringConvertible {
    case unknownEntry(String)

    public var description: String {
        switch self {
        case let .unknownEntry(id): return "No container with id \(id) is in the catalog."
        }
    }
}

/// Owns the current catalog state. Readers take the state under a short lock (a copy of two
/// references); a refresh scans without holding it and swaps the result in. Refreshes are
/// serialised so the scan never runs twice at once.
public final class CatalogStore: Sendable {
    private let state: Mutex<CatalogState>
    private let refreshGate = Mutex<Void>(())
    private let scanner: CatalogScanner

    public init(scanner: CatalogScanner, settings: PXESettings = PXESettings()) {
        self.scanner = scanner
        state = Mutex(CatalogState(snapshot: .empty, settings: settings))
    }

    public var current: CatalogState { state.withLock { $0 } }

    public var scannerRoots: [String] { scanner.roots }

    /// Rescans the roots and swaps in the new snapshot.
    @discardableResult
    public func refresh() -> RefreshSummary {
        refreshGate.withLock { _ in
            let started = ContinuousClock.now
            let previous = current.snapshot
            let result = scanner.scan(previous: previous)
            let duration = ContinuousClock.now - started
            let snapshot = CatalogSnapshot(entries: result.entries, generation: previous.generation + 1,
                                           scannedAt: Date(), scanDuration: duration)
            state.withLock { state in
                state.settings.adopt(snapshot.entries.map(\.id))
                state.snapshot = snapshot
            }
            let oldIDs = Set(previous.entries.map(\.id))
            let newIDs = Set(snapshot.entries.map(\.id))
            return RefreshSummary(count: snapshot.entries.count, added: newIDs.subtracting(oldIDs).count,
                                  removed: oldIDs.subtracting(newIDs).count, invalid: snapshot.invalidCount,
                                  parsed: result.parsedCount, reused: result.reusedCount,
                                  rootProblems: result.rootProblems, duration: duration)
        }
    }

    /// Sets an entry's PXE flag. Only ids in the current snapshot can be changed.
    public func setEnabled(_ enabled: Bool, id: String) throws(CatalogStoreError) -> PXESetting {
        try state.withLock { (state) throws(CatalogStoreError) -> PXESetting in
            guard state.snapshot.entry(id: id) != nil, var setting = state.settings[id] else {
                throw .unknownEntry(id)
            }
            setting.enabled = enabled
            state.settings[id] = setting
            return setting
        }
    }
}
