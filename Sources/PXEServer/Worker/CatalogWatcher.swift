import BackgroundServices
import Foundation
import Locking
import Logging
import PXECatalog
import Synchronization

/// Rescans the catalog by itself: on inotify events (after a quiet period, so a file being
/// copied is read once, complete) and every `rescanInterval` seconds as a safety net, which is
/// also the fallback when inotify is unavailable or runs out of watches.
final class CatalogWatcher: BackgroundService, Sendable {
    let name = "catalog-watcher"
    enum Mode: String, Sendable { case inotify, periodic, off }

    private let store: CatalogStore
    private let watch: Bool
    private let settle: Duration
    private let rescanInterval: Duration?
    private let logger: Logger
    private let onRefresh: @Sendable (RefreshSummary, String) -> Void
    private let modeBox = Locked(Mode.off)
    private let stopPipe: (read: Int32, write: Int32)
    private let thread = Locked<ServiceThread?>(nil)

    static let eventMask: UInt32 = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
                                          | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

    init(store: CatalogStore, watch: Bool, settleMilliseconds: Int, rescanIntervalSeconds: Int, logger: Logger,
         onRefresh: @escaping @Sendable (RefreshSummary, String) -> Void) {
        self.store = store
        self.watch = watch
        settle = .milliseconds(settleMilliseconds)
        rescanInterval = rescanIntervalSeconds > 0 ? .seconds(rescanIntervalSeconds) : nil
        self.logger = logger
        self.onRefresh = onRefresh
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        stopPipe = (fds[0], fds[1])
    }

    deinit {
        close(stopPipe.read)
        close(stopPipe.write)
    }

    var mode: Mode { modeBox.withLock { $0 } }

    func start() {
        thread.withLock { $0 = ServiceThread(name: name) { [self] in run() } }
    }

    /// Stops the thread (a refresh under way finishes first) and waits for it until `deadline`.
    func stop(deadline: ContinuousClock.Instant) -> Bool {
        var byte: UInt8 = 1
        _ = write(stopPipe.write, &byte, 1)
        return thread.withLock { $0 }?.waitUntilFinished(deadline: deadline) ?? true
    }

    private func run() {
        var inotifyFD: Int32 = -1
        var watched: [Int32: String] = [:]
        if watch {
            inotifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            if inotifyFD < 0 {
                logger.warning("inotify is unavailable (\(String(cString: strerror(errno)))); rescanning every \(intervalText) instead")
            } else if !addWatches(inotifyFD, &watched) {
                close(inotifyFD)
                inotifyFD = -1
            }
        }
        defer { if inotifyFD >= 0 { close(inotifyFD) } }
        let mode: Mode = inotifyFD >= 0 ? .inotify : (rescanInterval != nil ? .periodic : .off)
        modeBox.withLock { $0 = mode }
        logger.info("catalog watch: \(mode.rawValue)\(rescanInterval.map { ", periodic rescan every \($0)" } ?? "")")

        let clock = ContinuousClock()
        var dirtySince: ContinuousClock.Instant?
        var lastEvent = clock.now
        var nextPeriodic = rescanInterval.map { clock.now + $0 }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            var deadlines: [ContinuousClock.Instant] = []
            if dirtySince != nil { deadlines.append(lastEvent + settle) }
            if let nextPeriodic { deadlines.append(nextPeriodic) }
            let timeout: Int32 = deadlines.min().map { deadline in
                let remaining = deadline - clock.now
                return remaining <= .zero ? 0 : Int32(min(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1, 3_600_000))
            } ?? -1
            var fds = [pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0)]
            if inotifyFD >= 0 { fds.append(pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR { logger.error("poll failed in the catalog watcher: \(String(cString: strerror(errno)))"); return }
            if fds[0].revents != 0 { return }
            if fds.count > 1, fds[1].revents != 0 {
                if readEvents(inotifyFD, &buffer, &watched) {
                    dirtySince = dirtySince ?? clock.now
                    lastEvent = clock.now
                }
            }
            let now = clock.now
            if dirtySince != nil, now >= lastEvent + settle {
                let summary = store.refresh(settle: settle)
                onRefresh(summary, "files changed")
                dirtySince = nil
                if summary.deferred > 0 {
                    // Some files may still be being written: look again once they could have
                    // settled (counted from the end of this scan, when they were last seen).
                    dirtySince = clock.now
                    lastEvent = clock.now
                }
                if inotifyFD >= 0 { _ = addWatches(inotifyFD, &watched) }
            }
            if let due = nextPeriodic, now >= due, let rescanInterval {
                let summary = store.refresh(settle: settle)
                if summary.added + summary.removed > 0 || summary.parsed > 0 { onRefresh(summary, "periodic rescan") }
                nextPeriodic = now + rescanInterval
            }
        }
    }

    private var intervalText: String { rescanInterval.map { "\($0)" } ?? "never (catalog.rescan_interval is 0)" }

    /// Watches every directory under the roots (not following symlinks, skipping hidden ones).
    /// Returns false when the kernel's watch limit is reached: the caller falls back to polling.
    private func addWatches(_ fd: Int32, _ watched: inout [Int32: String]) -> Bool {
        var pending = store.scanner.roots.compactMap(CatalogScanner.realPath)
        let known = Set(watched.values)
        while let directory = pending.popLast() {
            if !known.contains(directory) {
                let wd = inotify_add_watch(fd, directory, Self.eventMask | UInt32(IN_ONLYDIR | IN_DONT_FOLLOW))
                if wd < 0 {
                    if errno == ENOSPC {
                        logger.warning("inotify watches exhausted (fs.inotify.max_user_watches); rescanning every \(intervalText) instead")
                        modeBox.withLock { $0 = rescanInterval != nil ? .periodic : .off }
                        return false
                    }
                    continue
                }
                watched[wd] = directory
            }
            guard let handle = opendir(directory) else { continue }
            let directoryFD = dirfd(handle)
            while let entry = readdir(handle) {
                let name: String? = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                    let cName = raw.bindMemory(to: CChar.self).baseAddress!
                    var info = stat()
                    guard cName[0] != 0x2E,   // hidden, `.` and `..`: the scanner skips them too
                          CatalogScanner.isSubdirectory(type: Int32(entry.pointee.d_type), name: cName, in: directoryFD, status: &info) else { return nil }
                    return String(cString: cName)
                }
                if let name { pending.append(directory + "/" + name) }
            }
            closedir(handle)
        }
        return true
    }

    /// Drains the inotify queue; true when something relevant to the catalog changed.
    private func readEvents(_ fd: Int32, _ buffer: inout [UInt8], _ watched: inout [Int32: String]) -> Bool {
        var relevant = false
        let scanner = store.scanner
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let (wd, mask, length) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, Int(event.len))
                }
                let nameStart = offset + MemoryLayout<inotify_event>.size
                let name = length > 0 ? buffer.withUnsafeBytes { raw in
                    String(cString: raw.baseAddress!.advanced(by: nameStart).assumingMemoryBound(to: CChar.self))
                } : ""
                offset = nameStart + length
                if mask & UInt32(IN_IGNORED) != 0 { watched[wd] = nil; continue }
                let isDirectory = mask & UInt32(IN_ISDIR) != 0
                if mask & UInt32(IN_Q_OVERFLOW) != 0 || isDirectory || name.isEmpty || scanner.matches(fileName: name) {
                    relevant = true
                }
            }
        }
        return relevant
    }
}
