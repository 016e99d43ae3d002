import Foundation
import PXECatalog
import PixelRTS
import PXESettings
import StrictJSON
import TestSupport
import Testing

/// The boot cache: every valid container prepared once per file version, in the background.
@Suite struct BootPreparerTests {
    let catalog = TemporaryDirectory()
    let state = TemporaryDirectory()
    var cachePath: String { state.path + "/boot-cache" }

    func makeStore() -> CatalogStore { CatalogStore(scanner: CatalogScanner(roots: [catalog.path])) }

    func start(_ store: CatalogStore, budget: Int64 = 0, configure: (inout BootPreparer.Settings) -> Void = { _ in }) throws -> BootPreparer {
        var settings = BootPreparer.Settings(directory: cachePath, budgetBytes: budget)
        configure(&settings)
        let preparer = BootPreparer(store: store, settings: settings)
        try preparer.start()
        return preparer
    }

    /// Waits until no entry is pending or being prepared; returns the statuses by file name.
    func settled(_ store: CatalogStore) -> [String: BootStatus] {
        _ = TestServer.waitFor(seconds: 60) {
            let state = store.current
            return !state.snapshot.entries.isEmpty && state.snapshot.entries.allSatisfy { [.ready, .failed, .notPrepared].contains(state.bootStatus($0.id).state) }
        }
        let state = store.current
        return Dictionary(uniqueKeysWithValues: state.snapshot.entries.map { ($0.fileName, state.bootStatus($0.id)) })
    }

    static let kernel = PixelRTSFixtures.noise(count: 90_000, seed: 11)
    static let initrd = PixelRTSFixtures.noise(count: 40_000, seed: 12)
    static func linux(cmdline: String = "console=ttyS0") -> [UInt8] {
        PNGFixtures.pixelRTS(parts: [("kernel", kernel), ("initrd", initrd)], fields: [("kernel_cmdline", .string(cmdline))])
    }

    static func diskImage() -> [UInt8] {
        var disk = [UInt8](repeating: 0, count: 4096)
        disk[510] = 0x55
        disk[511] = 0xAA
        return disk
    }

    @Test func preparesEachKindAndSaysWhyOthersDoNotBoot() throws {
        catalog.write(Self.linux(), to: "linux.rts.png")
        catalog.write(PNGFixtures.pixelRTS(payload: Self.diskImage()), to: "disk.rts.png")
        catalog.write(PNGFixtures.pixelRTS(payload: PixelRTSFixtures.noise(count: 3000)), to: "data.rts.png")
        var tampered = PixelRTSFixtures.writer(stream: PixelRTSFixtures.noise(count: 3000))
        tampered.pixels[1] ^= 0x80   // the first pixel of the curve: payload byte 1
        catalog.write(tampered.encode(), to: "tampered.rts.png")
        catalog.write(PNGFixtures.named("plain"), to: "plain.rts.png")
        catalog.write(Array("junk".utf8), to: "junk.rts.png")
        let store = makeStore()
        store.refresh()
        let preparer = try start(store)
        defer { preparer.stop() }
        let statuses = settled(store)

        let linux = try #require(statuses["linux.rts.png"])
        #expect(linux.state == .ready && linux.kind == .linux && linux.bootable)
        #expect(linux.parts == [.payload: 130_000, .kernel: 90_000, .initrd: 40_000])
        let key = try #require(linux.cacheKey)
        #expect(FileManager.default.contents(atPath: "\(cachePath)/\(key)/kernel").map([UInt8].init) == Self.kernel)
        #expect(FileManager.default.contents(atPath: "\(cachePath)/\(key)/initrd").map([UInt8].init) == Self.initrd)

        let disk = try #require(statuses["disk.rts.png"])
        #expect(disk.state == .ready && disk.kind == .disk)
        // Smaller than a BIOS cylinder: extended (sparsely) so that SAN boot works.
        #expect(disk.parts[.disk] == 16 << 20)
        let diskFile = "\(cachePath)/\(disk.cacheKey!)/disk.img"
        #expect(FileManager.default.contents(atPath: diskFile).map { Array($0.prefix(4096)) } == Self.diskImage())

        var data = statuses["data.rts.png"]
        data?.thumbnail = nil   // made after the parts, maybe not yet
        data?.thumbnailProblem = nil
        #expect(data == BootStatus(state: .ready, kind: BootPlan.Kind.none,
                                                        problem: "the payload is 3.0 KB of data with no kernel segment and no boot sector",
                                                        parts: [.payload: 3000], cacheKey: statuses["data.rts.png"]!.cacheKey))
        let bad = try #require(statuses["tampered.rts.png"])
        #expect(bad.state == .failed && bad.verified == false && bad.problem?.hasPrefix("the payload's SHA-256 is ") == true)
        #expect(statuses["plain.rts.png"]?.problem == "the file has no PixelRTS v2 metadata with a payload (data_size and data_hash)")
        #expect(statuses["junk.rts.png"]?.state == .failed)
        #expect(preparer.counts.byState[.ready] == 3)
        // Apparent sizes (the padded disk image is sparse on disk): linux 130,000 + 90,000 +
        // 40,000; disk 4,096 + 16 MiB; data 3,000.
        #expect(preparer.counts.cacheBytes == 260_000 + 4096 + (16 << 20) + 3000)
    }

    @Test func identicalContainersShareOneCacheDirectoryAndARestartDecodesNothing() throws {
        catalog.write(Self.linux(), to: "a.rts.png")
        catalog.write(Self.linux(), to: "copy/b.rts.png")
        var store = makeStore()
        store.refresh()
        var preparer = try start(store)
        var statuses = settled(store)
        preparer.stop()
        let key = try #require(statuses["a.rts.png"]?.cacheKey)
        #expect(statuses["b.rts.png"]?.cacheKey == key)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cachePath).filter { $0 != "thumbnails" } == [key])
        let manifest = try String(contentsOfFile: "\(cachePath)/\(key)/manifest.json", encoding: .utf8)

        // A new worker on the same cache: ready again, from the manifest, without writing anything.
        let logged = LockedBox<[String]>([])
        store = makeStore()
        store.refresh()
        preparer = try start(store) { $0.log = { _, line in logged.update { $0.append(line) } } }
        defer { preparer.stop() }
        statuses = settled(store)
        #expect(statuses["a.rts.png"]?.state == .ready && statuses["a.rts.png"]?.cacheKey == key)
        #expect(try String(contentsOfFile: "\(cachePath)/\(key)/manifest.json", encoding: .utf8) == manifest)
        #expect(logged.value.count == 2 && logged.value.allSatisfy { $0.contains("are already in the cache") }, "nothing was decoded: \(logged.value)")
    }

    /// Waits until every valid entry has a thumbnail or a reason for none; statuses by file name.
    func thumbnailsSettled(_ store: CatalogStore) -> [String: BootStatus] {
        _ = TestServer.waitFor(seconds: 60) {
            let state = store.current
            return !state.snapshot.entries.isEmpty && state.snapshot.entries.allSatisfy {
                state.bootStatus($0.id).thumbnail != nil || state.bootStatus($0.id).thumbnailProblem != nil
            }
        }
        let state = store.current
        return Dictionary(uniqueKeysWithValues: state.snapshot.entries.map { ($0.fileName, state.bootStatus($0.id)) })
    }

    @Test func everyValidImageGetsOneThumbnailByContentKeptAcrossRestartsAndGoneWithTheFile() throws {
        catalog.write(Self.linux(), to: "a.rts.png")
        catalog.write(Self.linux(), to: "copy/b.rts.png")
        catalog.write(PNGFixtures.named("plain"), to: "plain.rts.png")   // no payload: a thumbnail all the same
        catalog.write(ThumbnailFixtures.rgbPNG(side: 8), to: "rgb.rts.png")
        catalog.write(Array("junk".utf8), to: "junk.rts.png")
        var store = makeStore()
        store.refresh()
        var preparer = try start(store)
        var statuses = thumbnailsSettled(store)
        preparer.stop()
        // Named by the file's SHA-256: the identical copy shares it.
        let linuxHash = Digest.hex(.sha256, of: Self.linux()), plainHash = Digest.hex(.sha256, of: PNGFixtures.named("plain"))
        #expect(statuses["a.rts.png"]?.thumbnail == linuxHash)
        #expect(statuses["b.rts.png"]?.thumbnail == linuxHash)
        #expect(statuses["plain.rts.png"]?.thumbnail == plainHash)
        #expect(statuses["rgb.rts.png"]?.thumbnail == nil)
        #expect(statuses["rgb.rts.png"]?.thumbnailProblem?.hasPrefix("the image has colour type 2") == true)
        #expect(statuses["junk.rts.png"]?.thumbnailProblem == "the file is not a valid PNG")
        let thumbnails = cachePath + "/thumbnails"
        #expect(try Set(FileManager.default.contentsOfDirectory(atPath: thumbnails)) == [linuxHash + ".png", plainHash + ".png"])
        // The 4 px image of 0x5A bytes is its own thumbnail, opaque.
        let plain = try ThumbnailFixtures.readRGB([UInt8](Data(contentsOf: URL(fileURLWithPath: "\(thumbnails)/\(plainHash).png"))))
        #expect(plain.side == 4 && plain.rows.allSatisfy { $0 == [UInt8](repeating: 0x5A, count: 12) })

        // A new worker on the same cache finds them without drawing again (the files stay the same inodes).
        func inode(_ hash: String) -> UInt64 {
            var status = stat()
            return stat("\(thumbnails)/\(hash).png", &status) == 0 ? UInt64(status.st_ino) : 0
        }
        let inodes = [inode(linuxHash), inode(plainHash)]
        store = makeStore()
        store.refresh()
        preparer = try start(store)
        defer { preparer.stop() }
        statuses = thumbnailsSettled(store)
        #expect(statuses["a.rts.png"]?.thumbnail == linuxHash)
        #expect([inode(linuxHash), inode(plainHash)] == inodes)

        // The plain image leaves the catalog: its thumbnail leaves the cache; the shared one stays.
        try FileManager.default.removeItem(atPath: catalog.path + "/plain.rts.png")
        store.refresh()
        #expect(TestServer.waitFor(seconds: 30) { (try? FileManager.default.contentsOfDirectory(atPath: thumbnails)) == [linuxHash + ".png"] })
    }

    /// The worker starts the preparer before its first scan: an empty catalog then is "not
    /// scanned yet", not "nothing is referenced" (the whole cache was removed at every restart).
    @Test func aPreparerStartedBeforeTheFirstScanKeepsTheCache() throws {
        catalog.write(Self.linux(), to: "a.rts.png")
        var store = makeStore()
        store.refresh()
        var preparer = try start(store)
        let key = try #require(settled(store)["a.rts.png"]?.cacheKey)
        _ = thumbnailsSettled(store)
        preparer.stop()

        let logged = LockedBox<[String]>([])
        store = makeStore()
        preparer = try start(store) { $0.log = { _, line in logged.update { $0.append(line) } } }
        defer { preparer.stop() }
        // The thread publishes its statuses when it goes idle, right after removing what is
        // unreferenced: wait for that on the empty, unscanned catalog.
        #expect(TestServer.waitFor(seconds: 60) { store.current.bootRevision > 0 }, "the preparer went idle once")
        #expect(FileManager.default.fileExists(atPath: "\(cachePath)/\(key)/manifest.json"))
        store.refresh()
        #expect(settled(store)["a.rts.png"]?.cacheKey == key)
        #expect(logged.value.allSatisfy { $0.contains("are already in the cache") }, "nothing was decoded again: \(logged.value)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cachePath + "/thumbnails").count == 1)
    }

    @Test func aChangedContainerIsPreparedAgainAndTheOldPartsGo() throws {
        let path = catalog.write(Self.linux(cmdline: "one"), to: "a.rts.png")
        let store = makeStore()
        store.refresh()
        let preparer = try start(store)
        defer { preparer.stop() }
        let first = try #require(settled(store)["a.rts.png"]?.cacheKey)
        // Different payload (a new initrd): a new file version, a new cache directory.
        let replacement = PNGFixtures.pixelRTS(parts: [("kernel", Self.kernel), ("initrd", PixelRTSFixtures.noise(count: 1000, seed: 99))])
        try Data(replacement).write(to: URL(fileURLWithPath: path + ".new"))
        rename(path + ".new", path)
        store.refresh()
        #expect(TestServer.waitFor(seconds: 60) { store.current.snapshot.entries.first.map { store.current.bootStatus($0.id).cacheKey } != first })
        let second = try #require(settled(store)["a.rts.png"]?.cacheKey)
        #expect(second != first)
        #expect(TestServer.waitFor(seconds: 30) { (try? FileManager.default.contentsOfDirectory(atPath: cachePath).filter { $0 != "thumbnails" }) == [second] })
    }

    @Test func anEntryThatDoesNotFitTheBudgetIsNotPreparedWithTheReason() throws {
        catalog.write(Self.linux(), to: "big.rts.png")
        let store = makeStore()
        store.refresh()
        let preparer = try start(store, budget: 100_000)
        defer { preparer.stop() }
        let status = try #require(settled(store)["big.rts.png"])
        #expect(status.state == .notPrepared)
        #expect(status.problem == "its parts need about 390.0 KB but the boot cache has 100.0 KB left of its budget of 100.0 KB (boot.cache_max_bytes)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cachePath).filter { $0 != "thumbnails" }.isEmpty)
    }

    @Test func leftoversOfACrashAreRemovedAtStart() throws {
        try FileManager.default.createDirectory(atPath: cachePath + "/.tmp-abcdef", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: cachePath + "/0123456789abcdef0123456789abcdef", withIntermediateDirectories: true)
        let store = makeStore()
        let preparer = try start(store)
        preparer.stop()
        #expect(try FileManager.default.contentsOfDirectory(atPath: cachePath).filter { $0 != "thumbnails" }.isEmpty, "a temporary and a manifest-less directory")
    }

    /// A container replaced while it was being prepared: what was decoded is of the old file and
    /// is not kept; the new file is prepared after the rescan that notices it.
    @Test func aContainerReplacedWhileItIsPreparedIsNotKeptAsTheOldOne() throws {
        let path = catalog.write(Self.linux(cmdline: "old"), to: "a.rts.png")
        let replacement = PNGFixtures.pixelRTS(parts: [("kernel", PixelRTSFixtures.noise(count: 5000, seed: 77))])
        let replaced = LockedBox(false)
        let store = makeStore()
        store.refresh()
        let preparer = try start(store) { settings in
            settings.afterDecode = {
                guard !replaced.value else { return }
                replaced.value = true
                try? Data(replacement).write(to: URL(fileURLWithPath: path + ".new"))
                rename(path + ".new", path)
            }
        }
        defer { preparer.stop() }
        #expect(TestServer.waitFor(seconds: 60) { replaced.value })
        // The old version's parts were dropped: nothing published, and the entry is not ready.
        #expect(TestServer.waitFor(seconds: 30) { store.current.snapshot.entries.first.map { store.current.bootStatus($0.id).state } == .pending })
        #expect(try FileManager.default.contentsOfDirectory(atPath: cachePath).filter { $0 != "thumbnails" }.isEmpty)
        store.refresh()
        let status = try #require(settled(store)["a.rts.png"])
        #expect(status.state == .ready && status.parts == [.payload: 5000, .kernel: 5000])
    }

    // MARK: Preparing order

    /// Writes containers with distinct payloads; returns the store, refreshed, and ids by file name.
    func catalogOf(_ names: [String]) -> (CatalogStore, [String: String]) {
        for (index, name) in names.enumerated() {
            catalog.write(PNGFixtures.pixelRTS(payload: PixelRTSFixtures.noise(count: 2000, seed: UInt64(100 + index))), to: name + ".rts.png")
        }
        let store = makeStore()
        store.refresh()
        let ids = Dictionary(uniqueKeysWithValues: store.current.snapshot.entries.map { (String($0.fileName.dropLast(8)), $0.id) })
        return (store, ids)
    }

    /// The names of the entries in the order they were prepared (from the log).
    func preparedOrder(_ logged: LockedBox<[String]>) -> [String] {
        logged.value.compactMap { line in
            guard line.hasPrefix("prepared ") else { return nil }
            return line.dropFirst("prepared ".count).split(separator: ".").first.map(String.init)
        }
    }

    /// The entries that boot are ready first: enabled ones in boot order, then the others.
    @Test func enabledEntriesArePreparedFirstInBootOrder() throws {
        let (store, ids) = catalogOf(["a", "b", "c", "d"])
        _ = try store.settings.setEnabled(false, id: try #require(ids["a"]))
        _ = try store.settings.updateMenu(id: try #require(ids["d"]), bootOrder: 0)
        let logged = LockedBox<[String]>([])
        let preparer = try start(store) { $0.log = { _, line in logged.update { $0.append(line) } } }
        defer { preparer.stop() }
        _ = settled(store)
        #expect(preparedOrder(logged) == ["d", "b", "c", "a"])
    }

    /// A change of the boot order while the catalog is being prepared reorders what is left.
    @Test func theOrderFollowsSettingsChangedWhilePreparing() throws {
        let (store, ids) = catalogOf(["a", "b", "c", "d"])
        let d = try #require(ids["d"])
        let moved = LockedBox(false)
        let logged = LockedBox<[String]>([])
        let preparer = try start(store) { settings in
            settings.log = { _, line in logged.update { $0.append(line) } }
            settings.orderFollowInterval = .zero
            settings.afterDecode = {
                // While the first entry is decoded, d moves to the top.
                guard !moved.value else { return }
                moved.update { $0 = true }
                _ = try? store.settings.updateMenu(id: d, bootOrder: 0)
            }
        }
        defer { preparer.stop() }
        _ = settled(store)
        #expect(preparedOrder(logged) == ["a", "d", "b", "c"])
    }
}
