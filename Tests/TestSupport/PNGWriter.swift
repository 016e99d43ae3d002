import PixelRTS


/// Writes small PNG files in memory for test fixtures: RGBA 8-bit images with text chunks of
/// every kind placed before and/or after the image data, and raw chunks for malformed files.
/// (Containers are made with the real encoder, `ContainerEncoder`.)
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
    /// PNG filter type of each row (cycled): 0 none, 1 sub, 2 up, 3 average, 4 Paeth.
    public var filters: [UInt8] = [0]
    /// IHDR fields other than the size, for malformed images: bit depth, colour type, interlace.
    public var bitDepth: UInt8 = 8
    public var colorType: UInt8 = 6
    public var interlace: UInt8 = 0
    /// Image data is split into IDAT chunks of at most this many bytes.
    public var idatChunkBytes = Int.max

    public init(width: Int, height: Int, pixels: [UInt8] = [], texts: [Text] = []) {
        self.width = width
        self.height = height
        self.pixels = pixels
        self.texts = texts
    }

    /// The filtered scanlines (filter byte + row), as the image data stores them before deflate.
    public func scanlines() -> [UInt8] {
        let rowBytes = width * 4
        var raw: [UInt8] = []
        raw.reserveCapacity(height * (rowBytes + 1))
        var previous = [UInt8](repeating: 0, count: rowBytes)
        for row in 0..<height {
            let line = (0..<rowBytes).map { column -> UInt8 in
                let index = row * rowBytes + column
                return index < pixels.count ? pixels[index] : 0
            }
            let filter = filters[row % filters.count]
            raw.append(filter)
            for i in 0..<rowBytes {
                let a = i >= 4 ? Int(line[i - 4]) : 0, b = Int(previous[i]), c = i >= 4 ? Int(previous[i - 4]) : 0
                let predictor: Int
                switch filter {
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: predictor = 0
                }
                raw.append(UInt8(truncatingIfNeeded: Int(line[i]) - predictor))
            }
            previous = line
        }
        return raw
    }

    public func encode() -> [UInt8] {
        var out = PNGMetadataReader.signature
        var header: [UInt8] = []
        header += Self.bigEndian(UInt32(width)) + Self.bigEndian(UInt32(height))
        header += [bitDepth, colorType, 0, 0, interlace]   // deflate, adaptive filtering
        out += Self.chunk("IHDR", header)
        for text in texts where !text.afterImageData { out += Self.textChunk(text) }
        let data = Zlib.deflate(scanlines())
        for start in stride(from: 0, to: max(data.count, 1), by: min(idatChunkBytes, max(data.count, 1))) {
            out += Self.chunk("IDAT", Array(data[start..<min(data.count, start + idatChunkBytes)]))
        }
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
