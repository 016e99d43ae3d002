import Foundation
import PXECatalog
import PixelRTS
import TestSupport
import Testing

/// A generated corpus of broken PNGs never crashes or hangs the scanner; each bad file gets a
/// problem and good files next to them are unaffected.
@Suite struct MalformedCorpusTests {
    static func corpus() -> [(name: String, bytes: [UInt8])] {
        let good = PNGFixtures.png([.init("name", "x"), .init("distro", "z", encoding: .zTXt),
                                    .init("arch", "y", encoding: .iTXt(compressed: true), afterImageData: true)])
        let chunks = PNGFixtures.chunks(of: good)
        var files: [(String, [UInt8])] = []
        // Truncated at every chunk boundary, and one byte inside each chunk.
        var offset = 8
        for (index, chunk) in chunks.enumerated() {
            files.append(("cut-at-\(index)", Array(good.prefix(offset))))
            files.append(("cut-inside-\(index)", Array(good.prefix(offset + chunk.bytes.count / 2))))
            offset += chunk.bytes.count
        }
        // A bad CRC in each chunk that is read (IHDR, text chunks, IEND).
        for (index, chunk) in chunks.enumerated() where chunk.type != "IDAT" {
            var parts = chunks.map(\.bytes)
            parts[index][parts[index].count - 1] ^= 0x55
            files.append(("bad-crc-\(chunk.type)-\(index)", PNGFixtures.assemble(parts)))
        }
        // Length fields near and beyond 2^31.
        for length: UInt32 in [0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x7FFF_FFF0] {
            var parts = chunks.map(\.bytes)
            parts.insert(PNGWriter.bigEndian(length) + Array("tEXt".utf8) + [1, 2, 3, 4], at: 1)
            files.append(("length-\(length)", PNGFixtures.assemble(parts)))
        }
        // Decompression bombs: 64 MiB of zeros deflate to ~64 KiB.
        let bomb = Zlib.deflate([UInt8](repeating: 0, count: 64 << 20), level: 9)
        var parts = chunks.map(\.bytes)
        parts.insert(PNGWriter.chunk("zTXt", Array("bomb".utf8) + [0, 0] + bomb), at: 1)
        files.append(("bomb-ztxt", PNGFixtures.assemble(parts)))
        parts = chunks.map(\.bytes)
        parts.insert(PNGWriter.chunk("iTXt", Array("bomb".utf8) + [0, 1, 0, 0, 0] + bomb), at: 1)
        files.append(("bomb-itxt", PNGFixtures.assemble(parts)))
        // Keywords without NUL, garbage compressed data, wrong chunk types.
        for type in ["tEXt", "zTXt", "iTXt"] {
            parts = chunks.map(\.bytes)
            parts.insert(PNGWriter.chunk(type, Array("no terminator here".utf8)), at: 1)
            files.append(("no-nul-\(type)", PNGFixtures.assemble(parts)))
        }
        parts = chunks.map(\.bytes)
        parts.insert(PNGWriter.chunk("zTXt", Array("k".utf8) + [0, 0, 1, 2, 3, 4, 5]), at: 1)
        files.append(("garbage-zlib", PNGFixtures.assemble(parts)))
        parts = chunks.map(\.bytes)
        parts.insert(Array(PNGWriter.chunk("tEXt", Array("k\0v".utf8)).enumerated().map { $0.offset == 5 ? 0x01 : $0.element }), at: 1)
        files.append(("bad-type-byte", PNGFixtures.assemble(parts)))
        files.append(("empty", []))
        files.append(("signature-only", PNGMetadataReader.signature))
        return files
    }

    @Test func everyBrokenFileGetsAProblemAndGoodFilesAreUnaffected() {
        let root = TemporaryDirectory()
        let files = Self.corpus()
        for (name, bytes) in files { root.write(bytes, to: "bad/\(name).rts.png") }
        let good = PNGFixtures.named("still good")
        root.write(good, to: "good.rts.png")
        let started = ContinuousClock.now
        let entries = CatalogScanner(roots: [root.path]).scan().entries
        #expect(ContinuousClock.now - started < .seconds(60), "the scan must not hang")
        #expect(entries.count == files.count + 1)
        for entry in entries where entry.relativePath.hasPrefix("bad/") {
            #expect(entry.problem != nil, "\(entry.relativePath) was accepted")
        }
        let goodEntry = entries.first { $0.relativePath == "good.rts.png" }
        #expect(goodEntry?.isValid == true)
        #expect(goodEntry?.displayName == "still good")
    }

    /// Files change between the walk that found them and the read: some vanish, some grow,
    /// some are replaced by a directory or a symlink out of the root. The hook runs at exactly
    /// that moment, so the overlap is certain. None of it breaks the scan or the other files.
    @Test func filesThatChangeBetweenTheWalkAndTheReadDoNotBreakTheScan() {
        let root = TemporaryDirectory()
        let outside = TemporaryDirectory()
        let secret = outside.write(PNGFixtures.named("outside"), to: "secret.rts.png")
        for i in 0..<40 { root.write(PNGFixtures.named("n\(i)"), to: "f\(i).rts.png") }
        let stable = root.write(PNGFixtures.named("stable"), to: "stable/keep.rts.png")
        var scanner = CatalogScanner(roots: [root.path])
        let path = root.path
        scanner.afterWalk = {
            for i in 0..<40 {
                let file = "\(path)/f\(i).rts.png"
                switch i % 4 {
                case 0:
                    unlink(file)
                case 1:
                    let handle = FileHandle(forWritingAtPath: file)!
                    handle.seekToEndOfFile()
                    handle.write(Data(repeating: 0xAB, count: 4096))
                    try? handle.close()
                case 2:
                    unlink(file)
                    mkdir(file, 0o755)
                default:
                    unlink(file)
                    symlink(secret, file)
                }
            }
        }
        let result = scanner.scan()
        #expect(result.entries.contains { $0.realPath == stable && $0.isValid })
        // Vanished files, directories and symlinks out of the root are not listed; grown files
        // are read as they are now (the appended bytes follow IEND).
        let grown = (0..<40).filter { $0 % 4 == 1 }
        #expect(Set(result.entries.map(\.relativePath)) == Set(grown.map { "f\($0).rts.png" } + ["stable/keep.rts.png"]))
        for i in grown {
            let entry = result.entries.first { $0.relativePath == "f\(i).rts.png" }
            #expect(entry?.isValid == true && entry?.metadata.name == "n\(i)")
            #expect(entry?.size == Int64(PNGFixtures.named("n\(i)").count + 4096))
        }
        #expect(!result.entries.contains { $0.metadata.name == "outside" })
    }
}
