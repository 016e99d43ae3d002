import Foundation
import PXECatalog
import PXESettings
import TestSupport
import Testing

/// Refreshes: shared scans, files that may still be being written, settings that are forgotten.
@Suite struct RefreshTests {
    /// Twenty refreshes at once: the first scan is held (after its walk) until the other
    /// nineteen are waiting, so they all arrived while it ran; they share one more scan.
    @Test func concurrentRefreshesShareOneScanThatStartedAfterThem() {
        let root = TemporaryDirectory()
        for i in 0..<5 { root.write(PNGFixtures.named("n\(i)"), to: "f\(i).rts.png") }
        let release = DispatchSemaphore(value: 0)
        let walks = LockedBox(0)
        var scanner = CatalogScanner(roots: [root.path])
        scanner.afterWalk = {
            walks.update { $0 += 1 }
            if walks.value == 1 { release.wait() }
        }
        let store = CatalogStore(scanner: scanner)
        let results = LockedBox<[RefreshSummary]>([])
        let threads = (0..<20).map { _ in Thread { let summary = store.refresh(); results.update { $0.append(summary) } } }
        threads[0].start()
        #expect(TestServer.waitFor(seconds: 30) { walks.value == 1 })
        threads.dropFirst().forEach { $0.start() }
        #expect(TestServer.waitFor(seconds: 30) { store.refreshesWaiting == 19 })
        release.signal()
        #expect(TestServer.waitFor(seconds: 30) { results.value.count == 20 })
        #expect(walks.value == 2, "twenty refreshes cost two scans")
        #expect(store.current.snapshot.generation == 2)
        let counts = Set(results.value.map(\.count))
        #expect(counts == [5])
    }

    /// A refresh asked for after a scan started does not get that scan's (older) view.
    @Test func aRefreshAskedForDuringAScanSeesFilesAddedBeforeItAsked() {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.named("first"), to: "a.rts.png")
        let release = DispatchSemaphore(value: 0)
        let walks = LockedBox(0)
        var scanner = CatalogScanner(roots: [root.path])
        scanner.afterWalk = {
            walks.update { $0 += 1 }
            if walks.value == 1 { release.wait() }
        }
        let store = CatalogStore(scanner: scanner)
        let first = LockedBox<RefreshSummary?>(nil)
        let second = LockedBox<RefreshSummary?>(nil)
        Thread { first.value = store.refresh() }.start()
        #expect(TestServer.waitFor(seconds: 30) { walks.value == 1 })
        root.write(PNGFixtures.named("second"), to: "b.rts.png")
        Thread { second.value = store.refresh() }.start()
        #expect(TestServer.waitFor(seconds: 30) { store.refreshesWaiting == 1 })
        release.signal()
        #expect(TestServer.waitFor(seconds: 30) { first.value != nil && second.value != nil })
        #expect(first.value?.count == 1)
        #expect(second.value?.count == 2)
    }

    /// "Still being written" comes from what changed between two looks, not from the clock:
    /// a file dated a year ahead is deferred once, then listed, and no longer deferred.
    @Test func aFileDatedInTheFutureIsListedAfterOneSettleInterval() throws {
        let root = TemporaryDirectory()
        try setModificationTime(root.write(PNGFixtures.named("old"), to: "old.rts.png"), secondsFromNow: -3600)
        let future = root.write(PNGFixtures.named("future"), to: "future.rts.png")
        try setModificationTime(future, secondsFromNow: 365 * 86_400)
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]))
        let settle = Duration.milliseconds(200)
        let first = store.refresh(settle: settle)
        #expect(first.deferred == 1)
        #expect(store.current.snapshot.entries.map(\.fileName) == ["old.rts.png"])
        usleep(250_000)   // the settle interval itself: what is being measured
        let second = store.refresh(settle: settle)
        #expect(second.deferred == 0)
        #expect(Set(store.current.snapshot.entries.map(\.fileName)) == ["old.rts.png", "future.rts.png"])
        #expect(store.refresh(settle: settle).deferred == 0)
    }

    @Test func aFileThatKeepsChangingStaysDeferred() throws {
        let root = TemporaryDirectory()
        let growing = root.write(PNGFixtures.named("growing"), to: "growing.rts.png")
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]))
        let settle = Duration.milliseconds(100)
        for round in 0..<3 {
            let handle = try #require(FileHandle(forWritingAtPath: growing))
            handle.seekToEndOfFile()
            handle.write(Data(repeating: UInt8(round), count: 1000))
            try handle.close()
            #expect(store.refresh(settle: settle).deferred == 1)
            #expect(store.current.snapshot.entries.isEmpty)
            usleep(150_000)
        }
        // Without a settle time (an admin's refresh) every file is read at once.
        #expect(store.refresh().count == 1)
    }

    /// Settings of an entry that left the catalog come back when it returns within the
    /// retention, and are forgotten (saved without them) after it.
    @Test func settingsOfEntriesGoneLongerThanTheRetentionAreForgotten() throws {
        let root = TemporaryDirectory()
        for name in ["a", "b", "c"] { root.write(PNGFixtures.named(name), to: "\(name).rts.png") }
        let clock = LockedBox(Date(timeIntervalSince1970: 1_800_000_000))
        let saved = MemorySettingsStore()
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]), settingsStore: saved,
                                 forgetMissingAfter: 30 * 86_400, now: { clock.value })
        store.refresh()
        let b = CatalogEntry.id(forRealPath: root.path + "/b.rts.png")
        let c = CatalogEntry.id(forRealPath: root.path + "/c.rts.png")
        try store.settings.updateMenu(id: b, name: .set("Rescue"))
        root.remove("b.rts.png")
        store.refresh()
        #expect(store.current.settings[b]?.missingSince == 1_800_000_000)
        #expect(try saved.load().settings[b]?.missingSince == 1_800_000_000, "the date is saved")

        clock.value = clock.value.addingTimeInterval(29 * 86_400)
        store.refresh()
        #expect(store.current.settings[b]?.menuName == "Rescue", "kept within the retention")

        clock.value = clock.value.addingTimeInterval(2 * 86_400)
        let summary = store.refresh()
        #expect(summary.forgotten == 1)
        #expect(store.current.settings[b] == nil)
        #expect(try saved.load().settings[b] == nil)
        #expect(try saved.audit(AuditQuery()).first { $0.field == "forgotten" }?.entry == b, "the audit log says so")
        #expect(store.current.settings.byID.values.map(\.bootOrder).sorted() == [0, 1], "orders stay dense")
        #expect(store.current.settings[c]?.bootOrder == 1)

        root.write(PNGFixtures.named("b"), to: "b.rts.png")
        store.refresh()
        #expect(store.current.settings[b]?.menuName == nil, "a file that returns after the retention starts afresh")
        #expect(store.current.settings[b]?.missingSince == nil)
    }

    @Test func withoutARetentionSettingsAreKeptForever() throws {
        let root = TemporaryDirectory()
        root.write(PNGFixtures.named("a"), to: "a.rts.png")
        let clock = LockedBox(Date(timeIntervalSince1970: 1_800_000_000))
        let store = CatalogStore(scanner: CatalogScanner(roots: [root.path]), now: { clock.value })
        store.refresh()
        let a = CatalogEntry.id(forRealPath: root.path + "/a.rts.png")
        root.remove("a.rts.png")
        store.refresh()
        clock.value = clock.value.addingTimeInterval(10 * 365 * 86_400)
        #expect(store.refresh().forgotten == 0)
        #expect(store.current.settings[a] != nil)
    }

    func setModificationTime(_ path: String, secondsFromNow: Int) throws {
        var times = [timespec(tv_sec: time(nil) + secondsFromNow, tv_nsec: 0), timespec(tv_sec: time(nil) + secondsFromNow, tv_nsec: 0)]
        guard utimensat(AT_FDCWD, path, &times, 0) == 0 else { throw TestServerError(message: "utimensat failed on \(path)") }
    }
}

@Suite struct DirectoryRuleTests {
    /// Where the file system gives no type (DT_UNKNOWN) the scanner and the watcher stat the
    /// entry: directories are descended into, files and symlinks to directories are not.
    @Test func unknownEntryTypesAreResolvedWithoutFollowingSymlinks() {
        let root = TemporaryDirectory()
        root.subdirectory("dir")
        root.write([1], to: "file")
        symlink(root.path + "/dir", root.path + "/link")
        let fd = open(root.path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        var info = stat()
        #expect(CatalogScanner.isSubdirectory(type: Int32(DT_UNKNOWN), name: "dir", in: fd, status: &info))
        #expect(!CatalogScanner.isSubdirectory(type: Int32(DT_UNKNOWN), name: "file", in: fd, status: &info))
        #expect(!CatalogScanner.isSubdirectory(type: Int32(DT_UNKNOWN), name: "link", in: fd, status: &info))
        #expect(!CatalogScanner.isSubdirectory(type: Int32(DT_UNKNOWN), name: "missing", in: fd, status: &info))
        #expect(CatalogScanner.isSubdirectory(type: Int32(DT_DIR), name: "anything", in: fd, status: &info))
        #expect(!CatalogScanner.isSubdirectory(type: Int32(DT_LNK), name: "link", in: fd, status: &info))
    }
}
