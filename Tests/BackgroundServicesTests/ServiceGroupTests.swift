import BackgroundServices
import Foundation
import Locking
import Testing

/// Services that note what happens to them in one shared journal. Each one's thread is busy
/// (blocked) until it is let go: by `stop` for a service that ends when asked, by the test itself
/// (`finishWork`) for a slow one, so that "did not end by the deadline" never depends on timing.
final class JournalingService: BackgroundService, @unchecked Sendable {
    let name: String
    private let journal: Locked<[String]>
    private let failsToStart: Bool
    private let endsWhenAsked: Bool
    private let letGo = DispatchSemaphore(value: 0)
    private var thread: ServiceThread?

    init(_ name: String, journal: Locked<[String]>, failsToStart: Bool = false, endsWhenAsked: Bool = true) {
        self.name = name
        self.journal = journal
        self.failsToStart = failsToStart
        self.endsWhenAsked = endsWhenAsked
    }

    struct Refusal: Error, CustomStringConvertible { var description: String { "the port is taken" } }

    func start() throws {
        if failsToStart { throw Refusal() }
        journal.withLock { $0.append("start \(name)") }
        let letGo = self.letGo
        thread = ServiceThread(name: name) { letGo.wait() }
    }

    func stop(deadline: ContinuousClock.Instant) -> Bool {
        if endsWhenAsked { letGo.signal() }
        let ended = thread?.waitUntilFinished(deadline: deadline) ?? true
        journal.withLock { $0.append("stop \(name)") }
        return ended
    }

    /// Lets a slow service's thread end (after the test saw it overrun).
    func finishWork() { letGo.signal() }
}

@Suite struct ServiceGroupTests {
    @Test func servicesStartInOrderAndStopInReverseWhileBusy() throws {
        let journal = Locked<[String]>([])
        let group = ServiceGroup(["store", "preparer", "transport"].map { JournalingService($0, journal: journal) })
        try group.start()
        #expect(group.stop(within: .seconds(10)).isEmpty, "every busy service noticed and ended")
        #expect(journal.withLock { $0 } == ["start store", "start preparer", "start transport", "stop transport", "stop preparer", "stop store"])
        #expect(group.stop(within: .seconds(1)).isEmpty, "a second stop has nothing left to stop")
        #expect(journal.withLock { $0 }.count == 6)
    }

    @Test func aServiceThatCannotStartStopsTheOnesBeforeItAndIsNamed() {
        let journal = Locked<[String]>([])
        let group = ServiceGroup([JournalingService("store", journal: journal), JournalingService("preparer", journal: journal),
                                  JournalingService("transport", journal: journal, failsToStart: true), JournalingService("watcher", journal: journal)])
        #expect { try group.start() } throws: { error in
            (error as? ServiceGroup.StartError)?.description == "transport could not start: the port is taken"
        }
        #expect(journal.withLock { $0 } == ["start store", "start preparer", "stop preparer", "stop store"], "the watcher never started")
    }

    @Test func aServiceThatDoesNotEndByTheDeadlineIsReportedAndTheRestStillStop() throws {
        let journal = Locked<[String]>([])
        let events = Locked<[ServiceGroup.Event]>([])
        let slow = JournalingService("slow", journal: journal, endsWhenAsked: false)
        let group = ServiceGroup([JournalingService("store", journal: journal), slow],
                                 log: { event in events.withLock { $0.append(event) } })
        try group.start()
        #expect(group.stop(within: .milliseconds(300)) == ["slow"], "the store still stopped after it")
        #expect(journal.withLock { $0 } == ["start store", "start slow", "stop slow", "stop store"])
        #expect(events.withLock { $0 }.contains(.stopTimedOut("slow")))
        #expect(events.withLock { $0 }.contains { if case .stopped("store", _) = $0 { return true } else { return false } })
        slow.finishWork()
    }
}
