import PXECatalog
import PixelRTS
import TestSupport
import Testing

@Suite struct PNGMetadataReaderTests {
    let reader = PNGMetadataReader()

    func inspect(_ bytes: [UInt8]) -> PNGInspection { reader.inspect(MemoryByteSource(bytes)) }

    @Test func readsTextChunksOfEveryKindBeforeAndAfterImageData() {
        let png = PNGFixtures.png([
            .init("name", "plain"),
            .init("distro", "zipped", encoding: .zTXt),
            .init("arch", "ünïcode ✓", encoding: .iTXt(compressed: false), afterImageData: true),
            .init("kernel", "squeezed ✓", encoding: .iTXt(compressed: true), afterImageData: true),
        ])
        let result = inspect(png)
        #expect(result.problem == nil)
        #expect(result.width == 4 && result.height == 4)
        #expect(result.textChunks == [
            PNGTextChunk(chunkType: "tEXt", keyword: "name", text: "plain"),
            PNGTextChunk(chunkType: "zTXt", keyword: "distro", text: "zipped"),
            PNGTextChunk(chunkType: "iTXt", keyword: "arch", text: "ünïcode ✓"),
            PNGTextChunk(chunkType: "iTXt", keyword: "kernel", text: "squeezed ✓"),
        ])
    }

    @Test func decodesLatin1InTextChunks() {
        let chunk = PNGWriter.chunk("tEXt", Array("name".utf8) + [0, 0x44, 0xE9, 0x62])
        var parts = PNGFixtures.chunks(of: PNGFixtures.png()).map(\.bytes)
        parts.insert(chunk, at: 1)
        #expect(inspect(PNGFixtures.assemble(parts)).textChunks.first?.text == "Déb")
    }

    @Test func neverReadsImageData() {
        // A source that fails any read inside the IDAT chunk's data.
        struct GuardedSource: ByteSource {
            let bytes: [UInt8]
            let forbidden: Range<Int64>
            var size: Int64 { Int64(bytes.count) }
            func read(at offset: Int64, count: Int) -> [UInt8]? {
                let range = offset..<(offset + Int64(count))
                if range.overlaps(forbidden) { Issue.record("read \(range) overlaps pixel data \(forbidden)") }
                return MemoryByteSource(bytes).read(at: offset, count: count)
            }
        }
        let png = PNGFixtures.png([.init("name", "after", afterImageData: true)], side: 64)
        var offset: Int64 = 8
        var idat: Range<Int64> = 0..<0
        for chunk in PNGFixtures.chunks(of: png) {
            if chunk.type == "IDAT" { idat = (offset + 8)..<(offset + 8 + Int64(chunk.bytes.count - 12)) }
            offset += Int64(chunk.bytes.count)
        }
        let result = reader.inspect(GuardedSource(bytes: png, forbidden: idat))
        #expect(result.problem == nil)
        #expect(result.textChunks.map(\.text) == ["after"])
    }

    @Test func reportsFilesThatAreNotPNG() {
        #expect(inspect(Array("hello, world".utf8)).problem == "not a PNG file (missing PNG signature)")
        #expect(inspect([]).problem == "not a PNG file (missing PNG signature)")
    }

    @Test func reportsTruncationAtEveryChunkBoundaryAndInside() {
        let png = PNGFixtures.png([.init("name", "x"), .init("distro", "y", afterImageData: true)])
        for length in stride(from: 8, to: png.count, by: 1) {
            let problem = inspect(Array(png.prefix(length))).problem
            #expect(problem?.hasPrefix("truncated") == true, "prefix of \(length) bytes gave \(problem ?? "no problem")")
        }
        #expect(inspect(png).problem == nil)
    }

    @Test func reportsBadCRCInAChunkItReads() {
        var parts = PNGFixtures.chunks(of: PNGFixtures.png([.init("name", "x")])).map(\.bytes)
        let textIndex = parts.firstIndex { String(decoding: $0[4..<8], as: UTF8.self) == "tEXt" }!
        parts[textIndex][parts[textIndex].count - 1] ^= 0xFF
        let problem = inspect(PNGFixtures.assemble(parts)).problem
        #expect(problem == "CRC mismatch in chunk tEXt at byte 33")
    }

    @Test func refusesLengthsBeyondWhatPNGAllows() {
        var parts = PNGFixtures.chunks(of: PNGFixtures.png()).map(\.bytes)
        parts.insert([0x80, 0x00, 0x00, 0x05] + Array("tEXt".utf8) + [0, 0, 0, 0], at: 1)
        #expect(inspect(PNGFixtures.assemble(parts)).problem == "chunk tEXt at byte 33 declares length 2147483653, more than PNG allows")
    }

    @Test func reportsLengthNear2To31AsTruncation() {
        var parts = PNGFixtures.chunks(of: PNGFixtures.png()).map(\.bytes)
        parts.insert([0x7F, 0xFF, 0xFF, 0xF0] + Array("zTXt".utf8) + [0, 0, 0, 0], at: 1)
        #expect(inspect(PNGFixtures.assemble(parts)).problem?.hasPrefix("truncated: chunk zTXt at byte 33") == true)
    }

    @Test func refusesDecompressionBombs() {
        var limits = PNGMetadataReader.Limits()
        limits.maximumInflatedBytes = 1 << 20
        let bomb = String(repeating: "A", count: 4 << 20)
        for encoding in [PNGWriter.TextEncoding.zTXt, .iTXt(compressed: true)] {
            let png = PNGFixtures.png([.init("description", bomb, encoding: encoding)])
            let problem = PNGMetadataReader(limits: limits).inspect(MemoryByteSource(png)).problem
            #expect(problem?.contains("decompressed text exceeds 1048576 bytes") == true)
        }
    }

    @Test func reportsTextKeywordWithoutNUL() {
        var parts = PNGFixtures.chunks(of: PNGFixtures.png()).map(\.bytes)
        parts.insert(PNGWriter.chunk("tEXt", Array("namewithoutterminator".utf8)), at: 1)
        #expect(inspect(PNGFixtures.assemble(parts)).problem == "tEXt chunk at byte 33: keyword is not NUL-terminated")
    }

    @Test func requiresIHDRFirstAndImageData() {
        let parts = PNGFixtures.chunks(of: PNGFixtures.png())
        let withoutIHDR = PNGFixtures.assemble(parts.filter { $0.type != "IHDR" }.map(\.bytes))
        #expect(inspect(withoutIHDR).problem == "the first chunk is not a 13-byte IHDR")
        let withoutIDAT = PNGFixtures.assemble(parts.filter { $0.type != "IDAT" }.map(\.bytes))
        #expect(inspect(withoutIDAT).problem == "no IDAT chunk before IEND")
    }

    /// Found by the fuzzer: a later, empty IHDR chunk with a valid CRC used to trap.
    @Test func reportsASecondIHDRChunk() {
        var parts = PNGFixtures.chunks(of: PNGFixtures.png()).map(\.bytes)
        parts.insert(PNGWriter.chunk("IHDR", []), at: 2)
        #expect(inspect(PNGFixtures.assemble(parts)).problem == "a second IHDR chunk at byte 60")
    }

    @Test func skipsOversizedTextChunksWithoutReadingThem() {
        var limits = PNGMetadataReader.Limits()
        limits.maximumTextChunkBytes = 100
        let png = PNGFixtures.png([.init("description", String(repeating: "x", count: 500)), .init("name", "kept")])
        let result = PNGMetadataReader(limits: limits).inspect(MemoryByteSource(png))
        #expect(result.problem == nil)
        #expect(result.textChunks.map(\.keyword) == ["name"])
    }

    /// IEND carries no data. A (sparse) file that declares 2 GiB of it must not be read.
    @Test func anIENDChunkWithALengthIsRefusedUnread() {
        struct SparseSource: ByteSource {
            let bytes: [UInt8]
            let size: Int64
            let largestRead = LockedBox(0)
            func read(at offset: Int64, count: Int) -> [UInt8]? {
                largestRead.update { $0 = max($0, count) }
                guard count <= 16 << 20, offset + Int64(count) <= size else { return nil }
                return (0..<count).map { i in offset + Int64(i) < Int64(bytes.count) ? bytes[Int(offset) + i] : 0 }
            }
        }
        var parts = PNGFixtures.chunks(of: PNGFixtures.png()).map(\.bytes)
        let iendOffset = 8 + parts.dropLast().reduce(0) { $0 + $1.count }
        parts[parts.count - 1] = [0x7F, 0xFF, 0xFF, 0xF0] + Array("IEND".utf8)
        let source = SparseSource(bytes: PNGFixtures.assemble(parts), size: Int64(iendOffset) + 12 + 0x7FFF_FFF0)
        let result = reader.inspect(source)
        #expect(result.problem == "the IEND chunk at byte \(iendOffset) declares length 2147483632; it must be 0")
        #expect(source.largestRead.value <= 64 * 1024)
    }

    @Test func textBeyondThePerFileBudgetIsSkippedWithAWarning() {
        var limits = PNGMetadataReader.Limits()
        limits.maximumTextBytesPerFile = 3000
        let big = String(repeating: "x", count: 1000)
        let png = PNGFixtures.png([.init("a", big), .init("b", big, encoding: .zTXt), .init("c", big), .init("name", "late"),
                                   .init("d", big, encoding: .iTXt(compressed: true))])
        let result = PNGMetadataReader(limits: limits).inspect(MemoryByteSource(png))
        #expect(result.problem == nil)
        #expect(result.textChunks.map(\.keyword) == ["a", "b", "name"])
        #expect(result.warnings == ["2 text chunk(s) were not read: a file may hold at most 256 text chunks, each of at most 4194304 bytes and 3000 bytes in all"])
    }

    @Test func textChunksBeyondTheCountAreSkippedWithAWarning() {
        let png = PNGFixtures.png((0..<300).map { .init("k\($0)", "v") })
        let result = inspect(png)
        #expect(result.textChunks.count == 256)
        #expect(result.warnings.first?.hasPrefix("44 text chunk(s) were not read") == true)
    }

    /// Fields a listing shows are cut to a few KiB, and the entry says so.
    @Test func overLongFieldsAreCutWithAWarning() {
        let json = #"{"format":"PixelRTS-2.0","description":"\#(String(repeating: "é", count: 3000))","name":"\#(String(repeating: "n", count: 5000))"}"#
        let metadata = ContainerMetadata.from(textChunks: [PNGTextChunk(chunkType: "iTXt", keyword: "PixelRTS", text: "PixelRTS" + json)])
        #expect(metadata.name == String(repeating: "n", count: 4096))
        #expect(metadata.description == String(repeating: "é", count: 2048))
        #expect(metadata.warnings == ["field 'name' was cut to 4096 bytes (it has 5000)", "field 'description' was cut to 4096 bytes (it has 6000)"])
    }

    @Test func warningsAreBoundedInNumberAndLength() {
        let chunks = (0..<40).map { PNGTextChunk(chunkType: "tEXt", keyword: "PixelRTS-\($0)", text: "PixelRTS-\($0){" + String(repeating: "x", count: 500)) }
        let metadata = ContainerMetadata.from(textChunks: chunks)
        #expect(metadata.warnings.count == 16)
        #expect(metadata.warnings.last == "25 more warnings")
        #expect(metadata.warnings.allSatisfy { $0.count <= 300 })
    }
}
