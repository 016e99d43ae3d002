/// One text chunk (`tEXt`, `zTXt` or `iTXt`), decoded.
public struct PNGTextChunk: Sendable, Equatable {
    public var chunkType: String
    public var keyword: String
    public var text: String

    public init(chunkType: String, keyword: String, text: String) {
        self.chunkType = chunkType
        self.keyword = keyword
        self.text = text
    }
}

/// What a walk over a PNG's chunk headers found.
public struct PNGInspection: Sendable, Equatable {
    public var width: UInt32?
    public var height: UInt32?
    public var textChunks: [PNGTextChunk] = []
    /// Why the file is not a valid PNG, if it is not.
    public var problem: String?
}

/// Reads PNG text metadata by walking chunk headers. Pixel data (IDAT) is skipped by offset and
/// never read; only IHDR and text chunks are read, with their CRCs checked, within fixed limits.
public struct PNGMetadataReader: Sendable {
    public struct Limits: Sendable {
        /// Text chunks larger than this are skipped unread.
        public var maximumTextChunkBytes = 16 << 20
        /// Decompressed text larger than this marks the file invalid (decompression bomb).
        public var maximumInflatedBytes = 16 << 20
        /// Text chunks beyond this count are skipped.
        public var maximumTextChunks = 256
        /// Walking stops with a problem after this many chunks.
        public var maximumChunks = 4_000_000

        public init() {}
    }

    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    static let textChunkTypes: Set<String> = ["tEXt", "zTXt", "iTXt"]

    public var limits: Limits

    public init(limits: Limits = Limits()) { self.limits = limits }

    public func inspect(_ source: some ByteSource) -> PNGInspection {
        var result = PNGInspection()
        guard source.size >= 8, source.read(at: 0, count: 8) == Self.signature else {
            result.problem = "not a PNG file (missing PNG signature)"
            return result
        }
        var offset: Int64 = 8
        var chunkCount = 0
        var sawImageData = false
        while true {
            guard offset + 12 <= source.size, let header = source.read(at: offset, count: 8) else {
                result.problem = "truncated: the file ends at byte \(source.size) without an IEND chunk"
                return result
            }
            let length = Int64(UInt32(header[0]) << 24 | UInt32(header[1]) << 16 | UInt32(header[2]) << 8 | UInt32(header[3]))
            let typeBytes = Array(header[4..<8])
            guard typeBytes.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                result.problem = "invalid chunk type at byte \(offset)"
                return result
            }
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard length <= 0x7FFF_FFFF else {
                result.problem = "chunk \(type) at byte \(offset) declares length \(length), more than PNG allows"
                return result
            }
            guard offset + 12 + length <= source.size else {
                result.problem = "truncated: chunk \(type) at byte \(offset) runs past the end of the file"
                return result
            }
            chunkCount += 1
            if chunkCount == 1 && (type != "IHDR" || length != 13) {
                result.problem = "the first chunk is not a 13-byte IHDR"
                return result
            }
            if chunkCount > 1 && type == "IHDR" {
                result.problem = "a second IHDR chunk at byte \(offset)"
                return result
            }
            if chunkCount > limits.maximumChunks {
                result.problem = "more than \(limits.maximumChunks) chunks"
                return result
            }

            let isText = Self.textChunkTypes.contains(type)
            let wanted = type == "IHDR" || type == "IEND"
                || (isText && length <= limits.maximumTextChunkBytes && result.textChunks.count < limits.maximumTextChunks)
            if wanted {
                guard let body = source.read(at: offset + 4, count: Int(length) + 8) else {
                    result.problem = "truncated: chunk \(type) at byte \(offset) could not be read"
                    return result
                }
                let data = Array(body[4..<4 + Int(length)])
                let storedCRC = body[(4 + Int(length))...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                guard Zlib.crc32(body[0..<4 + Int(length)]) == storedCRC else {
                    result.problem = "CRC mismatch in chunk \(type) at byte \(offset)"
                    return result
                }
                switch type {
                case "IHDR":
                    result.width = data[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    result.height = data[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    guard result.width != 0, result.height != 0 else {
                        result.problem = "IHDR declares an empty image"
                        return result
                    }
                case "IEND":
                    if !sawImageData { result.problem = "no IDAT chunk before IEND" }
                    return result
                default:
                    do {
                        result.textChunks.append(try decodeText(type: type, data: data))
                    } catch {
                        result.problem = "\(type) chunk at byte \(offset): \(error)"
                        return result
                    }
                }
            }
            if type == "IDAT" { sawImageData = true }
            offset += 12 + length
        }
    }

    struct TextError: Error, CustomStringConvertible {
        let description: String
    }

    func decodeText(type: String, data: [UInt8]) throws -> PNGTextChunk {
        guard let nul = data.firstIndex(of: 0) else { throw TextError(description: "keyword is not NUL-terminated") }
        guard nul >= 1, nul <= 79 else { throw TextError(description: "keyword length \(nul) is outside 1...79") }
        let keyword = Self.latin1(data[0..<nul])
        var rest = data[(nul + 1)...]
        switch type {
        case "tEXt":
            return PNGTextChunk(chunkType: type, keyword: keyword, text: Self.latin1(rest))
        case "zTXt":
            guard let method = rest.first else { throw TextError(description: "missing compression method") }
            guard method == 0 else { throw TextError(description: "unknown compression method \(method)") }
            let inflated = try Zlib.inflate(Array(rest.dropFirst()), limit: limits.maximumInflatedBytes)
            return PNGTextChunk(chunkType: type, keyword: keyword, text: Self.latin1(inflated[...]))
        default: // iTXt
            guard rest.count >= 2 else { throw TextError(description: "missing compression flag") }
            let compressed = rest[rest.startIndex]
            let method = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
            guard let languageEnd = rest.firstIndex(of: 0) else { throw TextError(description: "language tag is not NUL-terminated") }
            rest = rest[(languageEnd + 1)...]
            guard let translatedEnd = rest.firstIndex(of: 0) else { throw TextError(description: "translated keyword is not NUL-terminated") }
            rest = rest[(translatedEnd + 1)...]
            var textBytes = Array(rest)
            if compressed == 1 {
                guard method == 0 else { throw TextError(description: "unknown compression method \(method)") }
                textBytes = try Zlib.inflate(textBytes, limit: limits.maximumInflatedBytes)
            } else if compressed != 0 {
                throw TextError(description: "invalid compression flag \(compressed)")
            }
            return PNGTextChunk(chunkType: type, keyword: keyword, text: String(decoding: textBytes, as: UTF8.self))
        }
    }

    static func latin1(_ bytes: ArraySlice<UInt8>) -> String {
        // ASCII (nearly all metadata) is the same bytes in UTF-8: one copy, no per-scalar work.
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: bytes.map { Unicode.Scalar($0) })
        return String(scalars)
    }
}
