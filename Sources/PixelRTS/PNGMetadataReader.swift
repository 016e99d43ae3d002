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
    /// Text that was left unread because of the limits (the file stays valid).
    public var warnings: [String] = []
}

/// Reads PNG text metadata by walking chunk headers. Pixel data (IDAT) is skipped by offset and
/// never read; only IHDR and text chunks are read, with their CRCs checked, within fixed limits.
public struct PNGMetadataReader: Sendable {
    /// What one file may cost. The catalog keeps a few short fields of each file; these bound the
    /// work and memory a hostile file can ask for while it is read.
    public struct Limits: Sendable {
        /// Text chunks larger than this are skipped unread (with a warning).
        public var maximumTextChunkBytes = 4 << 20
        /// Decompressed text larger than this marks the file invalid (decompression bomb).
        public var maximumInflatedBytes = 4 << 20
        /// Decoded text of all chunks of one file together; chunks beyond it are skipped (with a warning).
        public var maximumTextBytesPerFile = 4 << 20
        /// Text chunks beyond this count are skipped (with a warning).
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
        var textBytes = 0
        var skippedText = 0
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

            if type == "IEND" && length != 0 {
                result.problem = "the IEND chunk at byte \(offset) declares length \(length); it must be 0"
                return result
            }
            let isText = Self.textChunkTypes.contains(type)
            var wanted = type == "IHDR" || type == "IEND"
            if isText {
                wanted = length <= limits.maximumTextChunkBytes && result.textChunks.count < limits.maximumTextChunks
                    && textBytes < limits.maximumTextBytesPerFile && Int(length) <= limits.maximumTextBytesPerFile - textBytes
                if !wanted { skippedText += 1 }
            }
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
                    if skippedText > 0 {
                        result.warnings.append("\(skippedText) text chunk(s) were not read: a file may hold at most \(limits.maximumTextChunks) text chunks, each of at most \(limits.maximumTextChunkBytes) bytes and \(limits.maximumTextBytesPerFile) bytes in all")
                    }
                    return result
                default:
                    do {
                        let chunk = try decodeText(type: type, data: data, budget: limits.maximumTextBytesPerFile - textBytes)
                        textBytes += chunk.text.utf8.count
                        result.textChunks.append(chunk)
                    } catch TextError.overBudget {
                        skippedText += 1
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

    enum TextError: Error, CustomStringConvertible {
        case malformed(String)
        /// Decompressed, the text would exceed what is left of the file's text budget.
        case overBudget

        var description: String {
            switch self {
            case let .malformed(reason): return reason
            case .overBudget: return "text beyond the file's budget"
            }
        }
    }

    /// `budget`: decoded bytes this chunk may still produce for its file.
    func decodeText(type: String, data: [UInt8], budget: Int) throws(TextError) -> PNGTextChunk {
        func inflate(_ bytes: [UInt8]) throws(TextError) -> [UInt8] {
            let limit = min(limits.maximumInflatedBytes, budget)
            do {
                return try Zlib.inflate(bytes, limit: limit)
            } catch .tooLarge where limit < limits.maximumInflatedBytes {
                throw .overBudget
            } catch {
                throw .malformed(error.description)
            }
        }
        guard let nul = data.firstIndex(of: 0) else { throw .malformed("keyword is not NUL-terminated") }
        guard nul >= 1, nul <= 79 else { throw .malformed("keyword length \(nul) is outside 1...79") }
        let keyword = Self.latin1(data[0..<nul])
        var rest = data[(nul + 1)...]
        switch type {
        case "tEXt":
            return PNGTextChunk(chunkType: type, keyword: keyword, text: Self.latin1(rest))
        case "zTXt":
            guard let method = rest.first else { throw .malformed("missing compression method") }
            guard method == 0 else { throw .malformed("unknown compression method \(method)") }
            let inflated = try inflate(Array(rest.dropFirst()))
            return PNGTextChunk(chunkType: type, keyword: keyword, text: Self.latin1(inflated[...]))
        default: // iTXt
            guard rest.count >= 2 else { throw .malformed("missing compression flag") }
            let compressed = rest[rest.startIndex]
            let method = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
            guard let languageEnd = rest.firstIndex(of: 0) else { throw .malformed("language tag is not NUL-terminated") }
            rest = rest[(languageEnd + 1)...]
            guard let translatedEnd = rest.firstIndex(of: 0) else { throw .malformed("translated keyword is not NUL-terminated") }
            rest = rest[(translatedEnd + 1)...]
            var textBytes = Array(rest)
            if compressed == 1 {
                guard method == 0 else { throw .malformed("unknown compression method \(method)") }
                textBytes = try inflate(textBytes)
            } else if compressed != 0 {
                throw .malformed("invalid compression flag \(compressed)")
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
