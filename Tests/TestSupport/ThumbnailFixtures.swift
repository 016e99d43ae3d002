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

    /// A 512 px white RGBA image with `text` (letters B, E, O, S, T and spaces) in black 5x7
    /// block letters 8 pixels a dot: what OCR reads reliably.
    public static func textImage(_ text: String) -> [UInt8] {
        let glyphs: [Character: [String]] = [
            "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
            "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
            "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
            "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
            "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
            " ": Array(repeating: "00000", count: 7),
        ]
        let scale = 8, left = 40, top = 200
        let letters = Array(text)
        return png(side: 512) { x, y in
            let column = (x - left) / scale, row = (y - top) / scale
            guard x >= left, y >= top, row < 7, column / 6 < letters.count, column % 6 < 5,
                  let glyph = glyphs[letters[column / 6]] else { return [255, 255, 255, 255] }
            let dot = Array(glyph[row])[column % 6] == "1"
            return dot ? [0, 0, 0, 255] : [255, 255, 255, 255]
        }
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
