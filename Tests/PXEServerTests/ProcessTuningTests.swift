import Foundation
@testable import PXEServer
import Testing

/// What the worker does to its own memory (`ProcessTuning`).
@Suite(.serialized) struct ProcessTuningTests {
    /// Resident kilobytes of this process's executable, file-backed mappings (`r-xp`), from
    /// /proc/self/smaps.
    static func residentCodeKilobytes() -> Int {
        guard let smaps = ProcessTuning.procFile("/proc/self/smaps") else { return 0 }
        var total = 0
        var inCode = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), fields.count >= 5, first.first?.isHexDigit == true {
                inCode = fields[1] == "r-xp" && fields[4] != "0"
            } else if inCode, fields.first == "Rss:", fields.count >= 2 {
                total += Int(fields[1]) ?? 0
            }
        }
        return total
    }

    /// The code mapped while starting is unmapped (it stays in the page cache and maps back on
    /// use): the resident code drops at once, and this process goes on running.
    @Test func releasingCodePagesUnmapsTheCodeRunSoFar() {
        let before = Self.residentCodeKilobytes()
        #expect(before > 2048, "a test process has megabytes of code mapped (\(before) KB)")
        ProcessTuning.releaseCodePages()
        let after = Self.residentCodeKilobytes()
        #expect(after < before / 2, "resident code went from \(before) KB to \(after) KB")
        // Code runs again after it: a Foundation call and a catalog-sized computation.
        #expect(String(format: "%05d", 42) == "00042")
        let squares: [Int] = (1...1000).map { $0 * $0 }
        #expect(squares.reduce(0, +) == 333_833_500)
    }

    /// /proc files report a size of 0; they are read to their end (Foundation's whole-file read
    /// stopped after the first 4 KiB of /proc/self/maps, and most mappings were never released).
    @Test func procFilesAreReadToTheirEnd() throws {
        let maps = try #require(ProcessTuning.procFile("/proc/self/maps"))
        #expect(maps.utf8.count > 4096, "a test process has more than 4 KiB of mappings")
        #expect(maps.contains("[stack]"), "the last mappings are there too")
        #expect(maps.hasSuffix("\n"))
    }
}
