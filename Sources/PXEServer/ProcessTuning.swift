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
        returnFreedMemory: { malloc_trim(0) },
        idleCurrentThread: {
            // Nice +19 and SCHED_IDLE (policy and nice are per thread on Linux, inherited by the
            // processes it starts): analysis is optional, so it runs only on CPU time nobody else
            // wants. At nice +10 alone, a tesseract per worker took a tenth of a boot storm's CPU.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            var noPriority = sched_param(sched_priority: 0)
            _ = sched_setscheduler(0, idleSchedulingPolicy, &noPriority)
        })

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

    private static func statusField(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
