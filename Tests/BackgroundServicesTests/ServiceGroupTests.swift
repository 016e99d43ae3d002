import BackgroundServices
import Foundation
import Locking
import Testing

/// Services that note what happens to them in one shared journal.
final class JournalingService: BackgroundService, @unchecked Sendable {
    let name: String
    private let journal: Locked<[String]>
    private let failsToStart: Bool
    /// Whether the service ends as soon as it is asked to stop; a slow one finishes its work
    /// first (two seconds), past a short deadline.
    private let busyUntilStopped: Bool
    private let stopping = Locked(false)
    private var thread: ServiceThread?

    init(_ name: String, journal: Locked<[String]>, failsToStart: Bool = false, busyUntilStopped: Bool = true) {
        self.name = name
        self.journal = journal
        self.failsToStart = failsToStart
        self.busyUntilStopped = busyUntilStopped
    }

    struct Refusal: Error, CustomStringConvertible { var description: String { "the port is taken" } }

    func start() throws {
        if failsToStart { throw Refusal() }
        journal.withLock { $0.append("start \(name)") }
        let stopping = self.stopping
        let busy = busyUntilStopped
        thread = ServiceThread(name: name) {
            // Busy: a loop that ends when asked (a slow service: two seconds after it started).
            let started = ContinuousClock.now
            while !(stopping.withLock { $0 } && (busy || ContinuousClock.now - started > .seconds(2))) { usleep(1_000) }
        }
    }

    func stop(deadline: ContinuousClock.Instant) -> Bool {
        stopping.withLock { $0 = true }
        let ended = thread?.waitUntilFinished(deadline: deadline) ?? true
        journal.withLock { $0.append("stop \(name)") }
        return ended
    }
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
        let group = ServiceGroup([JournalingService("store", journal: journal), JournalingService("slow", journal: journal, busyUntilStopped: false)],
                                 log: { event in events.withLock { $0.append(event) } })
        try group.start()
        #expect(group.stop(within: .milliseconds(300)) == ["slow"])
        #expect(journal.withLock { $0 } == ["start store", "start slow", "stop slow", "stop store"])
        #expect(events.withLock { $0 }.contains(.stopTimedOut("slow")))
    }
}
