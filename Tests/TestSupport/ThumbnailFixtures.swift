import PixelRTS
import Testing

/// Small PNGs written pixel by pixel, and a reader of the RGB PNGs thumbnails are, for checking
/// what a viewer would show.
public enum ThumbnailFixtures {
    /// A PNG of `side` x `side` pixels (colour type `colourType`, 8 bits), every row unfiltered.
    public static func png(side: Int, colourType: UInt8 = 6, pixel: (Int, Int) -> [UInt8]) -> [UInt8] {
        var raw: [UInt8] = []
        for y in 0..<side {
            raw.append(0)
            for x in 0..<side { raw += pixel(x, y) }
        }
        let header = PNGChunk.bigEndian(UInt32(side)) + PNGChunk.bigEndian(UInt32(side)) + [8, colourType, 0, 0, 0]
        return PNGMetadataReader.signature + PNGChunk.make("IHDR", header) + PNGChunk.make("IDAT", Zlib.deflate(raw)) + PNGChunk.make("IEND", [])
    }

    /// A grey-blue RGB (colour type 2) PNG: valid, but not what PixelRTS images are.
    public static func rgbPNG(side: Int) -> [UInt8] { png(side: side, colourType: 2) { _, _ in [90, 100, 110] } }

    /// An RGB PNG with unfiltered rows read back: its side, colour type and pixel rows.
    public static func readRGB(_ png: [UInt8]) throws -> (side: Int, colourType: UInt8, rows: [[UInt8]]) {
        var offset = 8
        var side = 0, colourType: UInt8 = 0
        var data: [UInt8] = []
        while offset + 12 <= png.count {
            let length = Int(UInt32(png[offset]) << 24 | UInt32(png[offset + 1]) << 16 | UInt32(png[offset + 2]) << 8 | UInt32(png[offset + 3]))
            let type = String(decoding: png[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let body = Array(png[(offset + 8)..<(offset + 8 + length)])
            if type == "IHDR" {
                side = Int(UInt32(body[0]) << 24 | UInt32(body[1]) << 16 | UInt32(body[2]) << 8 | UInt32(body[3]))
                colourType = body[9]
            }
            if type == "IDAT" { data += body }
            offset += 12 + length
        }
        let raw = try Zlib.inflate(data, limit: 1 << 24)
        var rows: [[UInt8]] = []
        for y in 0..<side {
            let start = y * (side * 3 + 1)
            #expect(raw[start] == 0, "row \(y) is unfiltered")
            rows.append(Array(raw[(start + 1)..<(start + 1 + side * 3)]))
        }
        return (side, colourType, rows)
    }
}
