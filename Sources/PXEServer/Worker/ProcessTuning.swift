import CMalloc
import Foundation
import PXECatalog

/// Process-level tuning and measurements, in one place: the domain never tunes the process.
package enum ProcessTuning {
    /// CPU niceness of the threads that scan the catalog and prepare payloads.
    static let backgroundNiceness: Int32 = 10

    /// Called first thing by the executable.
    package static func apply() {
        // One malloc arena for the whole process: with glibc's default of one per thread, the
        // scan's threads leave the catalog spread over arenas that cannot be trimmed (measured
        // 98 MB instead of 69 MB RSS at 100,000 entries). Per-thread caches keep the request
        // path off the arena lock (no change in req/s measured).
        mallopt(M_ARENA_MAX, 1)
        BackgroundWork.install(backgroundHooks)
    }

    /// Background work at nice +10, so that a refresh of a large catalog or a payload being
    /// decoded yields the cores to the request threads and nginx while a boot storm is on; idle
    /// cores still run it at full speed. After it, freed pages go back to the system (tens of MB
    /// after a scan of 100,000 entries).
    static let backgroundHooks = BackgroundWork.Hooks(
        lowerCurrentThread: {
            if !isCurrentThreadLowered() { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, backgroundNiceness) }
        },
        isCurrentThreadLowered: isCurrentThreadLowered,
        returnFreedMemory: {
            malloc_trim(0)
            releaseCodePages()
        },
        idleCurrentThread: {
            // Nice +19 and SCHED_IDLE (policy and nice are per thread on Linux, inherited by the
            // processes it starts): analysis is optional, so it runs only on CPU time nobody else
            // wants. At nice +10 alone, a tesseract per worker took a tenth of a boot storm's CPU.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            var noPriority = sched_param(sched_priority: 0)
            _ = sched_setscheduler(0, idleSchedulingPolicy, &noPriority)
        })

    /// Unmaps the executable code mapped so far, the binary's and its libraries'. A statically
    /// linked Swift binary runs scattered code while it starts (the runtime, Foundation, the
    /// command line, the configuration, the first scan), and the kernel maps the 64 KiB around
    /// every page of code it faults in: about 12 of an idle worker's 27 MB of RSS were code it
    /// would not run again. MADV_DONTNEED on a private file mapping that was never written drops
    /// only the page-table entries: the pages stay in the page cache and a minor fault maps each
    /// back when its code runs. Only `r-xp` mappings: a written private page (relocated data in
    /// `r--p` or `rw-p`) would be lost.
    static func releaseCodePages() {
        guard let maps = procFile("/proc/self/maps") else { return }
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            // start-end perms offset device inode [path]; inode 0: anonymous ([vdso], JIT-less).
            guard fields.count >= 6, fields[1] == "r-xp", fields[4] != "0" else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), end > start,
                  let address = UnsafeMutableRawPointer(bitPattern: start) else { continue }
            _ = madvise(address, Int(end - start), MADV_DONTNEED)
        }
    }

    /// Linux's SCHED_IDLE (sched.h defines it only for _GNU_SOURCE, which Swift's Glibc lacks).
    static let idleSchedulingPolicy: Int32 = 5

    /// Whether the calling thread runs at `backgroundNiceness` or lower priority. `who` 0 is the
    /// calling thread: on Linux the nice value is per thread.
    @Sendable static func isCurrentThreadLowered() -> Bool {
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        return errno == 0 && current >= backgroundNiceness
    }

    /// VmRSS from /proc/self/status, in bytes.
    static func residentSetBytes() -> Int { statusField("VmRSS:") }

    /// VmHWM (the peak of VmRSS) from /proc/self/status, in bytes.
    static func peakResidentSetBytes() -> Int { statusField("VmHWM:") }

    /// A file of /proc, read to its end: they report a size of 0, and Foundation's whole-file
    /// read stops after its first read of one.
    static func procFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func statusField(_ name: String) -> Int {
        guard let status = procFile("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
