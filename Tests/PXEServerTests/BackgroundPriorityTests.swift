import Foundation
import PXECatalog
@testable import PXEServer
import TestSupport
import Testing

/// The worker's hooks (`ProcessTuning`) applied to the catalog's background work.
@Suite struct BackgroundPriorityTests {
    init() { BackgroundWork.install(ProcessTuning.backgroundHooks) }

    static func niceness() -> Int32 { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }

    /// Scans run on a lowered thread; the caller (a request thread) keeps its priority, since
    /// without privileges it could never raise it again.
    @Test func scanWorkRunsLoweredAndTheCallerIsUntouched() {
        let before = Self.niceness()
        let inside = BackgroundWork.run { Self.niceness() }
        #expect(inside == max(before, ProcessTuning.backgroundNiceness))
        #expect(Self.niceness() == before)
    }

    /// The parallel walk and parse also run on the caller's thread inside `concurrentPerform`;
    /// a scan must therefore never lower the thread that asked for it.
    @Test func aScanFindsEverythingAndLeavesTheCallingThreadAsItWas() throws {
        let root = TemporaryDirectory()
        for index in 0..<40 { root.write(PNGFixtures.named("n\(index)"), to: "d\(index % 4)/c\(index).rts.png") }
        let before = Self.niceness()
        let result = CatalogScanner(roots: [root.path]).scan()
        #expect(result.entries.count == 40)
        #expect(Self.niceness() == before)
    }

    /// A refresh (scan, snapshot, id sets) runs lowered too, and reports what it found.
    @Test func aRefreshLeavesTheCallingThreadAsItWas() {
        let root = TemporaryDirectory()
        for index in 0..<12 { root.write(PNGFixtures.named("r\(index)"), to: "d\(index % 3)/c\(index).rts.png") }
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]))
        let before = Self.niceness()
        let summary = store.refresh()
        #expect(summary.count == 12 && summary.added == 12)
        #expect(Self.niceness() == before)
    }
}
