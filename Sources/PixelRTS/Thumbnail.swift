/// A small picture of a container's image, for the console: the image reduced by a box filter
/// (each thumbnail pixel is the rounded mean of a square block of image pixels) and written as
/// an opaque RGB PNG. The alpha channel of a PixelRTS image carries payload bytes, not
/// transparency, so it is left out.
///
/// Streaming: rows arrive in bands from the image reader and are summed into one row of
/// accumulators, so memory is a band (at most 4 MiB) and the thumbnail, whatever the image size.
/// Time is bounded by `maximumImageSide`: larger images get no thumbnail.
public enum Thumbnail {
    public static let defaultSide = 128
    /// 16384 x 16384 pixels is a 1 GiB payload; inflating it takes a few seconds.
    public static let defaultMaximumImageSide = 16384

    /// The thumbnail of the PNG in `source`, `side` pixels square (or the image's own side when it
    /// is smaller). `side` must be a power of two. `shouldStop` is asked between bands.
    public static func render(_ source: any ByteSource, side: Int = defaultSide, maximumImageSide: Int = defaultMaximumImageSide,
                              shouldStop: () -> Bool = { false }) throws(DecodeError) -> [UInt8] {
        precondition(side > 0 && side & (side - 1) == 0, "a thumbnail's side is a power of two")
        let reader = try PNGImageReader(source: source)
        let imageSide = reader.header.width
        guard imageSide <= maximumImageSide else {
            throw DecodeError("the image is \(imageSide)x\(imageSide) pixels; thumbnails are made of images up to \(maximumImageSide)x\(maximumImageSide)")
        }
        // Both are powers of two: every block is whole.
        let outputSide = min(side, imageSide)
        let block = imageSide / outputSide
        let rowBytes = imageSide * 4
        let bandRows = max(1, min(block, (4 << 20) / rowBytes))
        var sums = [UInt64](repeating: 0, count: outputSide * 3)
        var pixels = [UInt8](repeating: 0, count: outputSide * outputSide * 3)
        var rowsSummed = 0
        var outputRow = 0
        let blockPixels = UInt64(block * block)

        try reader.readBands(bandRows: bandRows, rowsWanted: imageSide) { _, band throws(DecodeError) -> Bool in
            if shouldStop() { throw DecodeError(stopped: ()) }
            let rows = band.count / rowBytes
            let bytes = band.baseAddress!.assumingMemoryBound(to: UInt8.self)
            sums.withUnsafeMutableBufferPointer { sum in
                for row in 0..<rows {
                    let line = bytes + row * rowBytes
                    var x = 0
                    for column in 0..<outputSide {
                        var red: UInt64 = 0, green: UInt64 = 0, blue: UInt64 = 0
                        for _ in 0..<block {
                            let pixel = line + x * 4
                            red += UInt64(pixel[0])
                            green += UInt64(pixel[1])
                            blue += UInt64(pixel[2])
                            x += 1
                        }
                        sum[column * 3] += red
                        sum[column * 3 + 1] += green
                        sum[column * 3 + 2] += blue
                    }
                    rowsSummed += 1
                    if rowsSummed == block {
                        // Rounded to nearest, halves up: (sum + n/2) / n.
                        for index in 0..<(outputSide * 3) {
                            pixels[outputRow * outputSide * 3 + index] = UInt8((sum[index] + blockPixels / 2) / blockPixels)
                            sum[index] = 0
                        }
                        rowsSummed = 0
                        outputRow += 1
                    }
                }
            }
            return true
        }
        return encodePNG(rgb: pixels, side: outputSide)
    }

    /// An RGB 8-bit PNG of `side` x `side` pixels, every row unfiltered, zlib level 9: the same
    /// pixels give the same bytes.
    static func encodePNG(rgb pixels: [UInt8], side: Int) -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity(side * (side * 3 + 1))
        for row in 0..<side {
            raw.append(0)
            raw.append(contentsOf: pixels[(row * side * 3)..<((row + 1) * side * 3)])
        }
        let header = PNGChunk.bigEndian(UInt32(side)) + PNGChunk.bigEndian(UInt32(side)) + [8, 2, 0, 0, 0]
        return PNGMetadataReader.signature + PNGChunk.make("IHDR", header) + PNGChunk.make("IDAT", Zlib.deflate(raw, level: 9))
            + PNGChunk.make("IEND", [])
    }
}
