import BackgroundServices
import Foundation
import Locking
import PixelRTS

/// Prepares every valid entry's boot parts in the background: decodes and verifies the payload,
/// cuts it into the parts its plan names (kernel, initrd, disk image) and puts them in the boot
/// cache, where nginx serves them. One thread, at the scans' low priority; never a request
/// thread, and a scan never waits for it. Results are kept per file version, so an unchanged
/// file is never prepared twice, and on disk by content, so a restart decodes nothing again.
package final class BootPreparer: BackgroundService, Sendable {
    package struct Settings: Sendable {
        package var directory: String
        /// Bytes the cache may take; 0: no limit.
        package var budgetBytes: Int64
        package var decoderLimits = PayloadDecoder.Limits()
        /// After a failure of the disk (full, I/O), how long before trying again.
        package var storageRetry: Duration = .seconds(60)
        /// SAN boot of a disk smaller than a BIOS cylinder fails; such images are extended (sparsely) to this.
        package var minimumDiskBytes: Int64 = 16 << 20
        /// While settings keep changing, the preparing order follows them at most this often.
        package var orderFollowInterval: Duration = .seconds(1)
        /// One line per prepared entry; the flag says whether it is a problem worth a warning.
        package var log: @Sendable (Bool, String) -> Void = { _, _ in }
        /// Runs after a payload is decoded, before it is kept (tests replace the file right there).
        package var afterDecode: (@Sendable () -> Void)?
        /// Describes each container's picture (catalog.analyzer); nil: no analysis.
        package var analyzer: ContainerAnalyzer?

        package init(directory: String, budgetBytes: Int64) {
            self.directory = directory
            self.budgetBytes = budgetBytes
        }
    }

    /// A file as one scan saw it: a changed file is a new version, prepared again.
    struct FileVersion: Hashable, Sendable {
        var realPath: String
        var identity: FileIdentity
    }

    enum Outcome: Sendable, Equatable {
        case ready(key: String)
        case failed(String)
        /// Not in the cache for a reason that may pass (budget, disk); `retryAt` nil: on the next change.
        case notPrepared(String, retryAt: ContinuousClock.Instant?)
        /// The file changed or vanished since the scan: nothing to do until a scan sees it again.
        case stale
    }

    /// A thumbnail made (the file's content hash names it) or why there is none.
    enum ThumbnailOutcome: Sendable, Equatable {
        case ready(hash: String)
        case none(String)
    }

    struct State: Sendable {
        var snapshot: CatalogSnapshot = .empty
        var manifests = ManifestTable()
        var outcomes: [FileVersion: Outcome] = [:]
        var thumbnails: [FileVersion: ThumbnailOutcome] = [:]
        /// SHA-256 of each file version read so far: preparing and the thumbnail read a file once.
        var fileHashes: [FileVersion: String] = [:]
        /// Analyses by the file's content hash (what names its thumbnail).
        var analyses: [String: ContainerAnalyzer.Result] = [:]
        var preparing: FileVersion?
        var stopping = false
        var started = false
        /// Entries' statuses as last published.
        var statuses: [String: BootStatus] = [:]
        /// A snapshot the catalog published that the preparing thread has not taken yet.
        var arrivedSnapshot: CatalogSnapshot?
        var dirty = false
        var lastPublished = ContinuousClock.now
        var order = WorkOrder()
    }

    /// The cache's manifests by key, with their total size kept as they come and go (the budget
    /// check runs for every new payload, `/status` and `/metrics` on every request).
    struct ManifestTable: Sendable {
        private(set) var byKey: [String: BootCacheDirectory.Manifest] = [:]
        private(set) var totalBytes: Int64 = 0

        init(_ byKey: [String: BootCacheDirectory.Manifest] = [:]) {
            for (key, manifest) in byKey { self[key] = manifest }
        }

        subscript(key: String) -> BootCacheDirectory.Manifest? {
            get { byKey[key] }
            set {
                if let old = byKey[key] { totalBytes -= old.cacheBytes }
                if let newValue { totalBytes += newValue.cacheBytes }
                byKey[key] = newValue
            }
        }

        var keys: Dictionary<String, BootCacheDirectory.Manifest>.Keys { byKey.keys }
    }

    package let settings: Settings
    let cache: BootCacheDirectory
    private let store: CatalogStore
    let state = Locked(State())
    let wake = DispatchSemaphore(value: 0)
    let analyzerWake = DispatchSemaphore(value: 0)
    /// The preparer's thread and the analyzer's, once started.
    private let threads = Locked<[ServiceThread]>([])

    package init(store: CatalogStore, settings: Settings) {
        self.store = store
        self.settings = settings
        cache = BootCacheDirectory(path: settings.directory)
    }

    /// Loads what the cache holds (removing leftovers of a crash) and starts the thread.
    package func start() throws {
        try cache.create()
        let manifests = cache.load(cleaning: true)
        state.withLock {
            $0.manifests = ManifestTable(manifests)
            $0.started = true
        }
        store.observeSnapshots { [weak self] snapshot in self?.catalogChanged(snapshot) }
        catalogChanged(store.current.snapshot)
        var started = [ServiceThread(name: "boot-preparer", stackSize: 8 << 20) { [self] in
            BackgroundWork.lowerCurrentThread()
            run()
        }]
        if let analyzer = settings.analyzer {
            started.append(ServiceThread(name: "container-analyzer") { [self] in
                BackgroundWork.idleCurrentThread()
                runAnalyzer(analyzer)
            })
        }
        threads.withLock { $0 = started }
    }

    /// Stops preparing (an entry being prepared is abandoned, its temporary files removed; a
    /// running analyzer command is killed) and waits for the threads until `deadline`.
    package func stop(deadline: ContinuousClock.Instant) -> Bool {
        state.withLock { $0.stopping = true }
        wake.signal()
        analyzerWake.signal()
        return threads.withLock { $0 }.allSatisfy { $0.waitUntilFinished(deadline: deadline) }
    }

    /// `stop(deadline:)` with 5 seconds.
    package func stop() { _ = stop(deadline: .now + .seconds(5)) }

    package var name: String { "boot-preparer" }

    /// Counts for `/status` and `/metrics`.
    package struct Counts: Sendable, Equatable {
        package var byState: [BootStatus.State: Int]
        package var cacheBytes: Int64
        package var budgetBytes: Int64
    }

    package var counts: Counts {
        state.withLock { state in
            var byState: [BootStatus.State: Int] = [:]
            for status in state.statuses.values { byState[status.state, default: 0] += 1 }
            return Counts(byState: byState, cacheBytes: state.manifests.totalBytes, budgetBytes: settings.budgetBytes)
        }
    }

    /// Hands a new snapshot to the preparing thread, which takes it at its next turn: the
    /// refresh that published it (10,000 new files: about 10 ms of filtering) does not wait.
    func catalogChanged(_ snapshot: CatalogSnapshot) {
        state.withLock { $0.arrivedSnapshot = snapshot }
        wake.signal()
    }

    /// Takes the snapshot `catalogChanged` handed over, if any.
    private func takeArrivedSnapshot() {
        state.withLock { state in
            guard let snapshot = state.arrivedSnapshot else { return }
            state.arrivedSnapshot = nil
            state.snapshot = snapshot
            // Results of file versions that left the catalog are of no more use.
            let versions = Set(snapshot.entries.map { FileVersion(realPath: $0.realPath, identity: $0.fileIdentity) })
            state.outcomes = state.outcomes.filter { versions.contains($0.key) }
            state.thumbnails = state.thumbnails.filter { versions.contains($0.key) }
            state.fileHashes = state.fileHashes.filter { versions.contains($0.key) }
            state.statuses = Self.statuses(state)
            state.dirty = true
        }
    }

    // MARK: The thread

    private func run() {
        while true {
            takeArrivedSnapshot()
            publishIfDue(force: false)
            let current = store.current
            let (settings, settingsRevision) = (current.settings, current.settingsRevision)
            let next = state.withLock { state -> (CatalogEntry, FileVersion)? in
                guard !state.stopping else { return nil }
                return self.nextEntry(&state, settings: settings, settingsRevision: settingsRevision)
            }
            if state.withLock({ $0.stopping }) { return }
            guard let (entry, version) = next else {
                // Thumbnails after every boot part: booting matters more than the console's pictures.
                if let (entry, version) = state.withLock({ self.nextThumbnail(&$0, settings: settings, settingsRevision: settingsRevision) }) {
                    makeThumbnail(entry, version: version)
                    continue
                }
                removeUnreferenced()
                publishIfDue(force: true)
                BackgroundWork.returnFreedMemory()
                let retry = state.withLock { state in
                    state.outcomes.values.compactMap { outcome -> ContinuousClock.Instant? in
                        if case let .notPrepared(_, retryAt?) = outcome { return retryAt }
                        return nil
                    }.min()
                }
                if let retry {
                    let wait = max(retry - .now, .milliseconds(10))
                    _ = wake.wait(timeout: .now() + .nanoseconds(Int(wait.components.seconds * 1_000_000_000 + wait.components.attoseconds / 1_000_000_000)))
                    if ContinuousClock.now >= retry { state.withLock { Self.rewindForRetries(&$0) } }
                } else {
                    wake.wait()
                }
                continue
            }
            state.withLock { state in
                state.preparing = version
                Self.updateStatuses(of: version, &state)
                state.dirty = true
            }
            publishIfDue(force: true)
            let started = ContinuousClock.now
            let (outcome, decoded) = prepare(entry, version: version)
            report(entry, outcome, decoded: decoded, after: ContinuousClock.now - started)
            state.withLock { state in
                state.preparing = nil
                if let outcome { state.outcomes[version] = outcome }
                Self.updateStatuses(of: version, &state)
                state.dirty = true
            }
        }
    }

    private func report(_ entry: CatalogEntry, _ outcome: Outcome?, decoded: Bool, after duration: Duration) {
        let name = entry.relativePath
        switch outcome {
        case .ready(let key)?:
            let manifest = state.withLock { $0.manifests[key] }
            let parts = manifest?.parts.keys.map(\.rawValue).sorted().joined(separator: ", ") ?? ""
            if decoded {
                settings.log(false, "prepared \(name): \(manifest?.kind.rawValue ?? "?") (\(parts)), verified, in \(duration)")
            } else {
                settings.log(false, "boot parts of \(name) are already in the cache: \(manifest?.kind.rawValue ?? "?") (\(parts))")
            }
        case .failed(let reason)?:
            settings.log(true, "cannot open container \(name): \(reason)")
        case .notPrepared(let reason, _)?:
            settings.log(true, "container \(name) is not prepared: \(reason)")
        case .stale?:
            settings.log(false, "container \(name) changed while it was prepared; it is prepared again after the next scan")
        case nil:
            break
        }
    }

    /// Whether the scan saw PixelRTS v2 metadata with a payload (others are not opened at all).
    static func hasPayloadMetadata(_ entry: CatalogEntry) -> Bool {
        entry.metadata.dataHash != nil || entry.metadata.dataSize != nil
    }

    static func statuses(_ state: State) -> [String: BootStatus] {
        var result: [String: BootStatus] = [:]
        result.reserveCapacity(state.snapshot.entries.count)
        for entry in state.snapshot.entries { result[entry.id] = status(of: entry, state) }
        return result
    }

    /// One entry's status: its boot parts' outcome and its thumbnail's.
    static func status(of entry: CatalogEntry, _ state: State) -> BootStatus {
        guard entry.isValid else {
            var status = BootStatus(state: .failed, kind: BootPlan.Kind.none, problem: "the file is not a valid PNG: \(entry.problem ?? "")")
            status.thumbnailProblem = "the file is not a valid PNG"
            return status
        }
        let version = FileVersion(realPath: entry.realPath, identity: entry.fileIdentity)
        var status: BootStatus
        if !hasPayloadMetadata(entry) {
            status = BootStatus(state: .failed, kind: BootPlan.Kind.none, problem: "the file has no PixelRTS v2 metadata with a payload (data_size and data_hash)")
        } else if state.preparing == version {
            status = BootStatus(state: .preparing)
        } else {
            switch state.outcomes[version] {
            case nil:
                status = .pending
            case let .ready(key):
                if let manifest = state.manifests[key] {
                    status = BootStatus(state: .ready, kind: manifest.kind, problem: manifest.reason, parts: manifest.parts,
                                        commandLine: nil, cacheKey: key)
                    status.kernelSignature = manifest.kernelSignature
                } else {
                    status = .pending
                }
            case let .failed(reason):
                status = BootStatus(state: .failed, problem: reason)
            case let .notPrepared(reason, _):
                status = BootStatus(state: .notPrepared, problem: reason)
            case .stale:
                status = BootStatus(state: .pending, problem: "the file changed while it was read; it is prepared again after the next scan")
            }
        }
        switch state.thumbnails[version] {
        case let .ready(hash)?:
            status.thumbnail = hash
            status.analysis = state.analyses[hash]
        case let .none(reason)?: status.thumbnailProblem = reason
        case nil: break
        }
        return status
    }

    /// Publishes the statuses at most four times a second while work goes on.
    private func publishIfDue(force: Bool) {
        let statuses = state.withLock { state -> [String: BootStatus]? in
            guard state.dirty, force || ContinuousClock.now - state.lastPublished >= .milliseconds(250) else { return nil }
            state.dirty = false
            state.lastPublished = .now
            return state.statuses
        }
        if let statuses { store.publishBoot(statuses) }
    }

    /// Removes cache directories no entry refers to any more (their containers left or changed).
    private func removeUnreferenced() {
        // Before the first scan nothing is referenced yet: the worker starts the preparer before it
        // scans, and removing then would throw away the whole cache at every restart.
        guard state.withLock({ $0.snapshot.generation > 0 }) else { return }
        let unreferenced = state.withLock { state -> [String] in
            let referenced = Set(state.outcomes.values.compactMap { outcome -> String? in
                if case let .ready(key) = outcome { return key }
                return nil
            })
            let gone = state.manifests.keys.filter { !referenced.contains($0) }
            for key in gone { state.manifests[key] = nil }
            return gone
        }
        for key in unreferenced { cache.remove(key: key) }
        let thumbnails = state.withLock { state in
            Set(state.thumbnails.values.compactMap { outcome -> String? in
                if case let .ready(hash) = outcome { return hash }
                return nil
            })
        }
        cache.removeThumbnails(except: thumbnails)
        cache.removeAnalyses(except: thumbnails)
        state.withLock { state in state.analyses = state.analyses.filter { thumbnails.contains($0.key) } }
    }

    // MARK: Thumbnails

    /// Renders the entry's thumbnail unless the cache has it (by the file's content); records
    /// the outcome and publishes it with the statuses.
    private func makeThumbnail(_ entry: CatalogEntry, version: FileVersion) {
        let stopping = { [self] in state.withLock { $0.stopping } }
        let outcome: ThumbnailOutcome
        if let source = FileByteSource(path: entry.realPath, readingHead: false), FileIdentity(status: source.status) == entry.fileIdentity,
           let hash = state.withLock({ $0.fileHashes[version] }) ?? Self.contentHash(source, shouldStop: stopping) {
            state.withLock { $0.fileHashes[version] = hash }
            if cache.hasThumbnail(hash) {
                outcome = .ready(hash: hash)
            } else {
                do {
                    let png = try Thumbnail.render(source, shouldStop: stopping)
                    try cache.storeThumbnail(png, hash: hash)
                    outcome = .ready(hash: hash)
                } catch {
                    if error.kind == .stopped { return }
                    if error.kind == .storage { settings.log(true, "no thumbnail for \(entry.relativePath): \(error.description)") }
                    outcome = .none(error.description)
                }
            }
        } else if stopping() {
            return
        } else {
            // Changed or gone since the scan: the next scan brings a new version to draw.
            outcome = .none("the file changed while its thumbnail was made")
        }
        state.withLock { state in
            state.thumbnails[version] = outcome
            Self.updateStatuses(of: version, &state)
            state.dirty = true
        }
        if case .ready = outcome { analyzerWake.signal() }
    }

    // MARK: Preparing one entry

    /// The outcome (nil when stopped) and whether the payload was decoded for it.
    private func prepare(_ entry: CatalogEntry, version: FileVersion) -> (Outcome?, Bool) {
        let outcome = decodeIfNeeded(entry)
        return (outcome.0, outcome.1)
    }

    private func decodeIfNeeded(_ entry: CatalogEntry) -> (Outcome?, Bool) {
        guard let source = FileByteSource(path: entry.realPath, readingHead: false) else { return (.stale, false) }
        guard FileIdentity(status: source.status) == entry.fileIdentity else { return (.stale, false) }
        let decoder = PayloadDecoder(limits: settings.decoderLimits)
        let layout: PixelRTSLayout
        do {
            layout = try decoder.readLayout(source)
        } catch {
            return (.failed(error.description), false)
        }
        guard let key = BootCacheDirectory.key(for: layout) else {
            return (.failed("the metadata has no data_hash, so the payload cannot be verified"), false)
        }
        let stopping = { [self] in state.withLock { $0.stopping } }
        let version = FileVersion(realPath: entry.realPath, identity: entry.fileIdentity)
        guard let fileHash = state.withLock({ $0.fileHashes[version] }) ?? Self.contentHash(source, shouldStop: stopping) else {
            return (stopping() ? nil : .stale, false)
        }
        state.withLock { $0.fileHashes[version] = fileHash }
        let known = state.withLock { $0.manifests[key] }
        if let known, known.verifiedContainers.contains(fileHash) { return (.ready(key: key), false) }
        if known == nil, let refusal = makeRoom(for: layout) { return (.notPrepared(refusal, retryAt: nil), false) }

        var temporary: String?
        defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
        do {
            let directory = try cache.makeTemporary()
            temporary = directory
            let result = try decoder.decode(source, to: directory + "/payload", shouldStop: stopping)
            settings.afterDecode?()
            // A container replaced while it was read: what was verified is the old one.
            guard CatalogScanner.identity(of: entry.realPath) == entry.fileIdentity else { return (.stale, true) }
            if var manifest = state.withLock({ $0.manifests[key] }) {
                // The same payload is in the cache already: this file now vouches for it too.
                manifest.verifiedContainers = Array((manifest.verifiedContainers + [fileHash]).suffix(BootCacheDirectory.Manifest.maximumVerifiedContainers))
                try cache.replaceManifest(manifest, key: key)
                state.withLock { $0.manifests[key] = manifest }
                return (.ready(key: key), true)
            }
            var manifest = try assembleParts(result, in: directory)
            manifest.verifiedContainers = [fileHash]
            try BootCacheDirectory.writeManifest(manifest, to: directory + "/" + BootCacheDirectory.manifestName)
            cache.syncDirectory(directory)
            if try !cache.publish(directory, key: key) {
                // Published by someone else meanwhile (another worker on the same cache).
                temporary = nil
                return (.notPrepared("the boot cache changed while this entry was prepared", retryAt: .now), true)
            }
            temporary = nil
            state.withLock { $0.manifests[key] = manifest }
            return (.ready(key: key), true)
        } catch {
            switch error.kind {
            case .content: return (.failed(error.description), true)
            case .storage: return (.notPrepared("the boot cache could not be written (\(error.description)); trying again in \(settings.storageRetry)",
                                                retryAt: .now + settings.storageRetry), true)
            case .stopped: return (nil, false)
            }
        }
    }

    /// The parts of a verified payload: the payload itself, and what its plan cuts out of it.
    /// Parts that are the whole payload are hard links to it.
    private func assembleParts(_ result: PayloadDecoder.Result, in directory: String) throws(DecodeError) -> BootCacheDirectory.Manifest {
        let payload = directory + "/payload"
        var parts: [BootPart: Int64] = [.payload: result.payloadSize]
        func place(_ part: BootPart, _ range: Range<Int64>, minimum: Int64 = 0) throws(DecodeError) {
            let target = directory + "/" + part.fileName
            if range == 0..<result.payloadSize && minimum <= result.payloadSize {
                guard link(payload, target) == 0 else { throw DecodeError.storage("cannot link a part in the boot cache", code: errno) }
            } else {
                try OutputFiles.copy(payload, range: range, to: target, paddedTo: minimum)
            }
            parts[part] = max(Int64(range.count), minimum)
        }
        let plan = result.plan
        if let kernel = plan.kernel { try place(.kernel, kernel) }
        if let initrd = plan.initrd { try place(.initrd, initrd) }
        if let disk = plan.disk { try place(.disk, disk, minimum: settings.minimumDiskBytes) }
        var manifest = BootCacheDirectory.Manifest(kind: plan.kind, parts: parts, dataHash: result.sha256, reason: plan.reason,
                                                   transposed: result.transposed, preparedAt: Int64(Date().timeIntervalSince1970),
                                                   verifiedContainers: [])
        if plan.kind == .linux, parts[.kernel] != nil {
            manifest.kernelSignature = KernelSignature.read(path: directory + "/" + BootPart.kernel.fileName)
        }
        return manifest
    }

    /// SHA-256 of the whole container file (what a manifest lists as verified); nil when stopped
    /// or unreadable.
    static func contentHash(_ source: FileByteSource, shouldStop: () -> Bool) -> String? {
        let digest = Digest(.sha256)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while offset < source.size {
            if shouldStop() { return nil }
            let count = Int(min(Int64(buffer.count), source.size - offset))
            guard source.read(at: offset, into: &buffer, count: count) else { return nil }
            buffer.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            offset += Int64(count)
        }
        return digest.finalizeHex()
    }

    /// Keeps the cache under its budget for a payload of this layout: removes unreferenced
    /// directories, oldest first. Returns why it does not fit, or nil.
    private func makeRoom(for layout: PixelRTSLayout) -> String? {
        guard settings.budgetBytes > 0 else { return nil }
        // The payload, the parts cut out of it, and the pixel stream while decoding.
        let needed = 2 * layout.dataSize + layout.streamLength
        let (evicted, refusal) = state.withLock { state -> ([String], String?) in
            var used = state.manifests.totalBytes
            guard used + needed > settings.budgetBytes else { return ([], nil) }
            let referenced = Set(state.outcomes.values.compactMap { outcome -> String? in
                if case let .ready(key) = outcome { return key }
                return nil
            })
            var evicted: [String] = []
            let candidates = state.manifests.byKey.filter { !referenced.contains($0.key) }.sorted { $0.value.preparedAt < $1.value.preparedAt }
            for (key, manifest) in candidates where used + needed > settings.budgetBytes {
                used -= manifest.cacheBytes
                state.manifests[key] = nil
                evicted.append(key)
            }
            guard used + needed > settings.budgetBytes else { return (evicted, nil) }
            let text = ByteCount.text
            return (evicted, "its parts need about \(text(needed)) but the boot cache has \(text(max(0, settings.budgetBytes - used))) left of its budget of \(text(settings.budgetBytes)) (boot.cache_max_bytes)")
        }
        for key in evicted { cache.remove(key: key) }
        return refusal
    }
}
