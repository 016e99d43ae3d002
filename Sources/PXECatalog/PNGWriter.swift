/// Writes PNG files: used for the demo catalog and test fixtures. Produces RGBA 8-bit images
/// with text chunks placed before and/or after the image data.
public struct PNGWriter: Sendable {
    public enum TextEncoding: Sendable {
        case tEXt
        case zTXt
        case iTXt(compressed: Bool)
    }

    public struct Text: Sendable {
        public var keyword: String
        public var value: String
        public var encoding: TextEncoding
        public var afterImageData: Bool

        public init(_ keyword: String, _ value: String, encoding: TextEncoding = .tEXt, afterImageData: Bool = false) {
            self.keyword = keyword
            self.value = value
            self.encoding = encoding
            self.afterImageData = afterImageData
        }
    }

    public var width: Int
    public var height: Int
    /// RGBA pixels, row-major, `width * height * 4` bytes; zero-filled when shorter.
    public var pixels: [UInt8]
    public var texts: [Text]

    public init(width: Int, height: Int, pixels: [UInt8] = [], texts: [Text] = []) {
        self.width = width
        self.height = height
        self.pixels = pixels
        self.texts = texts
    }

    public func encode() -> [UInt8] {
        var out = PNGMetadataReader.signature
        var header: [UInt8] = []
        header += Self.bigEndian(UInt32(width)) + Self.bigEndian(UInt32(height))
        header += [8, 6, 0, 0, 0]   // 8-bit, RGBA, deflate, adaptive filtering, no interlace
        out += Self.chunk("IHDR", header)
        for text in texts where !text.afterImageData { out += Self.textChunk(text) }
        var raw: [UInt8] = []
        raw.reserveCapacity(height * (width * 4 + 1))
        for row in 0..<height {
            raw.append(0)
            for column in 0..<(width * 4) {
                let index = row * width * 4 + column
                raw.append(index < pixels.count ? pixels[index] : 0)
            }
        }
        out += Self.chunk("IDAT", Zlib.deflate(raw))
        for text in texts where text.afterImageData { out += Self.textChunk(text) }
        out += Self.chunk("IEND", [])
        return out
    }

    public static func textChunk(_ text: Text) -> [UInt8] {
        let keyword = latin1Bytes(text.keyword)
        switch text.encoding {
        case .tEXt:
            return chunk("tEXt", keyword + [0] + latin1Bytes(text.value))
        case .zTXt:
            return chunk("zTXt", keyword + [0, 0] + Zlib.deflate(latin1Bytes(text.value)))
        case let .iTXt(compressed):
            let body = Array(text.value.utf8)
            return chunk("iTXt", keyword + [0, compressed ? 1 : 0, 0, 0, 0] + (compressed ? Zlib.deflate(body) : body))
        }
    }

    /// A chunk with its length and CRC.
    public static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        return bigEndian(UInt32(data.count)) + typeBytes + data + bigEndian(Zlib.crc32(typeBytes + data))
    }

    public static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func latin1Bytes(_ string: String) -> [UInt8] {
        string.unicodeScalars.map { $0.value < 256 ? UInt8($0.value) : UInt8(ascii: "?") }
    }
}

extension PNGWriter {
    /// A PixelRTS v2 container: `payload` packed 4 bytes per pixel along a Hilbert curve on the
    /// smallest power-of-two square that holds it, with the `PixelRTS` metadata chunk.
    public static func pixelRTS(payload: [UInt8], fields: [(String, JSONValue)], sha256Hex: String) -> PNGWriter {
        let pixelsNeeded = max(1, (payload.count + 3) / 4)
        var side = 1
        while side * side < pixelsNeeded { side *= 2 }
        var pixels = [UInt8](repeating: 0, count: side * side * 4)
        for pixel in 0..<pixelsNeeded {
            let (x, y) = hilbertPoint(index: pixel, side: side)
            for byte in 0..<4 where pixel * 4 + byte < payload.count {
                pixels[(y * side + x) * 4 + byte] = payload[pixel * 4 + byte]
            }
        }
        var metadata: [(String, JSONValue)] = [
            ("format", .string("PixelRTS-2.0")),
            ("format_version", .int(2)),
            ("grid_size", .int(Int64(side))),
            ("encoding", .object([("type", .string("RGBA-dense")), ("bytes_per_pixel", .int(4)),
                                  ("mapping", .string("Hilbert space-filling curve"))])),
            ("data_hash", .string(sha256Hex)),
            ("data_size", .int(Int64(payload.count))),
        ]
        metadata += fields
        let json = JSONValue.object(metadata).serializedString()
        return PNGWriter(width: side, height: side, pixels: pixels, texts: [Text("PixelRTS", "PixelRTS" + json)])
    }

    /// Position of the `index`-th cell of a Hilbert curve over a `side` x `side` grid.
    static func hilbertPoint(index: Int, side: Int) -> (Int, Int) {
        var x = 0, y = 0, t = index, s = 1
        while s < side {
            let rx = 1 & (t / 2)
            let ry = 1 & (t ^ rx)
            if ry == 0 {
                if rx == 1 { x = s - 1 - x; y = s - 1 - y }
                swap(&x, &y)
            }
            x += s * rx
            y += s * ry
            t /= 4
            s *= 2
        }
        return (x, y)
    }
}
