import Foundation
@testable import PXEServer
import Testing

/// What the worker does to its own memory (`ProcessTuning`).
@Suite(.serialized) struct ProcessTuningTests {
    /// Resident kilobytes of the mapping that starts at `address`, from /proc/self/smaps.
    static func residentKilobytes(ofMappingAt address: UnsafeRawPointer) -> Int? {
        guard let smaps = ProcessTuning.procFile("/proc/self/smaps") else { return nil }
        let start = String(UInt(bitPattern: address), radix: 16)
        var inMapping = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), first.first?.isHexDigit == true {
                inMapping = first.split(separator: "-").first.map(String.init) == start
            } else if inMapping, fields.first == "Rss:", fields.count >= 2 {
                return Int(fields[1])
            }
        }
        return nil
    }

    /// Code mapped from a file is unmapped (it stays in the page cache and maps back on use):
    /// measured on a code mapping of the test's own, which no other test's thread runs (the
    /// process's total resident code also moves with whatever runs beside this test).
    @Test func releasingCodePagesUnmapsTheCodeRunSoFar() throws {
        let path = "/usr/bin/env"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        var info = stat()
        try #require(fstat(fd, &info) == 0 && info.st_size > 16384)
        let size = Int(info.st_size)
        let mapped = mmap(nil, size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0)
        let base = try #require(mapped == MAP_FAILED ? nil : mapped)
        defer { munmap(base, size) }
        // Fault every page in, as running the code would.
        var sum = 0
        for offset in stride(from: 0, to: size, by: 4096) { sum &+= Int(base.load(fromByteOffset: offset, as: UInt8.self)) }
        let before = try #require(Self.residentKilobytes(ofMappingAt: base))
        #expect(before >= size / 1024 - 4, "every page is resident (\(before) KB of \(size / 1024) KB, checksum \(sum))")

        ProcessTuning.releaseCodePages()
        let after = try #require(Self.residentKilobytes(ofMappingAt: base))
        #expect(after == 0, "resident code of the mapping went from \(before) KB to \(after) KB")
        // The pages come back on use, with the same bytes; and code runs on: a Foundation call
        // and a catalog-sized computation.
        var again = 0
        for offset in stride(from: 0, to: size, by: 4096) { again &+= Int(base.load(fromByteOffset: offset, as: UInt8.self)) }
        #expect(again == sum)
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
