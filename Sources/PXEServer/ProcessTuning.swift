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
        returnFreedMemory: { malloc_trim(0) })

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
