import PixelRTS
import TestSupport
import Testing

@Suite struct ThumbnailTests {
    @Test func eachPixelIsTheRoundedMeanOfItsBlockAndAlphaIsIgnored() throws {
        // 256 px: 2x2 blocks. Block (bx, by) is (bx, by, 200) everywhere but in three blocks whose
        // red channel holds 0,1,1,1 (mean 0.75 -> 1), 0,0,1,1 (0.5 -> 1, halves up), 0,0,0,1 (0.25 -> 0).
        let special: [Int: [UInt8]] = [0: [0, 1, 1, 1], 1: [0, 0, 1, 1], 2: [0, 0, 0, 1]]
        let image = ThumbnailFixtures.png(side: 256) { x, y in
            let bx = x / 2, by = y / 2
            let alpha = UInt8((x * 37 + y * 11) & 0xFF)   // payload bytes, not transparency
            if by == 100, let reds = special[bx] { return [reds[(y % 2) * 2 + x % 2], 50, 60, alpha] }
            return [UInt8(bx), UInt8(by), 200, alpha]
        }
        let thumbnail = try Thumbnail.render(MemoryByteSource(image))
        let (side, colourType, rows) = try ThumbnailFixtures.readRGB(thumbnail)
        #expect(side == 128)
        #expect(colourType == 2, "opaque RGB")
        #expect(Array(rows[0][0..<6]) == [0, 0, 200, 1, 0, 200])
        #expect(Array(rows[7][(5 * 3)..<(5 * 3 + 3)]) == [5, 7, 200])
        #expect(Array(rows[127][(127 * 3)..<(128 * 3)]) == [127, 127, 200])
        #expect(Array(rows[100][0..<9]) == [1, 50, 60, 1, 50, 60, 0, 50, 60])
    }

    @Test func theSameImageGivesTheSameBytes() throws {
        let image = ThumbnailFixtures.png(side: 512) { x, y in [UInt8(x & 0xFF), UInt8(y & 0xFF), UInt8((x ^ y) & 0xFF), 255] }
        let first = try Thumbnail.render(MemoryByteSource(image))
        let second = try Thumbnail.render(MemoryByteSource(image))
        #expect(first == second)
        // A fixed vector: zlib level 9 of unfiltered rows is stable, so a change here is a change of format.
        #expect(Digest.hex(.sha256, of: first) == "94af353ea2b7f8323f15f3e3cb00ffccd39cffa7dc9062c4d68db3d83ed36bb0")
    }

    @Test func aSmallImageKeepsItsSideAndPixels() throws {
        let image = ThumbnailFixtures.png(side: 4) { x, y in [UInt8(x * 60), UInt8(y * 60), 7, 0] }
        let (side, _, rows) = try ThumbnailFixtures.readRGB(Thumbnail.render(MemoryByteSource(image)))
        #expect(side == 4)
        #expect(rows[3] == [0, 180, 7, 60, 180, 7, 120, 180, 7, 180, 180, 7])
    }

    @Test func aTooLargeImageIsRefusedBeforeItsDataIsRead() throws {
        // IHDR of a 32768 px image and no image data at all: refused on the header alone.
        let header = PNGChunk.bigEndian(32768) + PNGChunk.bigEndian(32768) + [8, 6, 0, 0, 0]
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + PNGChunk.make("IHDR", header) + PNGChunk.make("IEND", [])
        #expect(throws: DecodeError("the image is 32768x32768 pixels; thumbnails are made of images up to 16384x16384")) {
            try Thumbnail.render(MemoryByteSource(png))
        }
    }

    @Test func anImageThatIsNotRGBAIsRefusedWithItsColourType() throws {
        let image = ThumbnailFixtures.png(side: 8, colourType: 2) { _, _ in [1, 2, 3] }
        #expect(throws: DecodeError("the image has colour type 2 with 8-bit samples; PixelRTS v2 needs RGBA with 8 bits per channel (colour type 6)")) {
            try Thumbnail.render(MemoryByteSource(image))
        }
    }

    @Test func stoppingBetweenBandsAbandonsTheWork() throws {
        let image = ThumbnailFixtures.png(side: 256) { _, _ in [1, 2, 3, 4] }
        #expect(throws: DecodeError(stopped: ())) { try Thumbnail.render(MemoryByteSource(image), shouldStop: { true }) }
    }
}
