import Foundation
import StrictJSON

/// Makes PixelRTS v2 containers (`pxe-catalog pack`): the payload packed 4 bytes per pixel along
/// the Hilbert curve on the smallest power-of-two square that holds it, with the metadata the
/// format's reference decoder reads (`PixelRTS` text chunk with the magic and compact JSON:
/// format, grid_size, encoding, segments/offsets/hashes, data_size, data_hash, compression).
///
/// Streaming: the payload is read where each run of the curve comes from (a band of image rows
/// at a time), so a multi-gigabyte disk image costs one band of memory.
public struct ContainerEncoder {
    public enum Compression: String, Sendable, CaseIterable {
        case zlib
        case zstd
    }

    /// A named part of the payload, in payload order.
    public struct Part {
        public var name: String
        public var source: any ByteSource
        public init(name: String, source: any ByteSource) {
            self.name = name
            self.source = source
        }
    }

    /// Text chunks besides the metadata (plain keys other producers write).
    public struct ExtraText: Sendable {
        public enum Encoding: Sendable { case tEXt, zTXt, iTXt }
        public var keyword: String
        public var value: String
        public var encoding: Encoding
        public var afterImageData: Bool
        public init(_ keyword: String, _ value: String, encoding: Encoding = .tEXt, afterImageData: Bool = false) {
            self.keyword = keyword
            self.value = value
            self.encoding = encoding
            self.afterImageData = afterImageData
        }
    }

    /// The parts, back to back; one part named `payload` is the whole payload with no segments.
    public var parts: [Part]
    /// User keys added to the metadata (`type`, `name`, `kernel_cmdline`, ...).
    public var fields: [(String, JSONValue)]
    public var compression: Compression?
    public var extraTexts: [ExtraText] = []
    /// zlib level of the image data: containers hold already-compressed kernels and images, on
    /// which higher levels only cost time.
    public var imageCompressionLevel: Int32 = 1
    /// Writes the old transposed layout (x and y swapped) of files made before 2026-02-09; for tests.
    public var transposed = false
    /// false: a plain PNG of the pixels with only `extraTexts` (how other producers' files look).
    public var writesMetadata = true

    public init(parts: [Part], fields: [(String, JSONValue)] = [], compression: Compression? = nil) {
        self.parts = parts
        self.fields = fields
        self.compression = compression
    }

    public struct Summary: Sendable, Equatable {
        public var side: Int
        public var dataSize: Int64
        public var dataHash: String
        public var encodedSize: Int64?
    }

    /// Writes the container to `path` (through a temporary file renamed into place).
    @discardableResult
    public func write(to path: String) throws -> Summary {
        let temporary = path + ".tmp-\(getpid())"
        defer { unlink(temporary) }
        let output = try OutputFile(path: temporary)
        let summary = try encode { bytes, offset in try output.write(bytes, at: offset) }
        try output.finish()
        guard rename(temporary, path) == 0 else { throw DecodeError(storage: "cannot rename the container into place", code: errno) }
        return summary
    }

    /// The container in memory (small payloads: demos, tests).
    public func encoded() throws -> [UInt8] {
        var out: [UInt8] = []
        _ = try encode { bytes, offset in
            precondition(Int(offset) == out.count)
            out.append(contentsOf: bytes)
        }
        return out
    }

    private func encode(emit: (UnsafeRawBufferPointer, Int64) throws -> Void) throws -> Summary {
        // 1. Hash the payload and each part; segments are the parts' byte ranges.
        let payload = ConcatenatedSource(parts.map(\.source))
        let whole = Digest(.sha256)
        var segments: [(String, JSONValue)] = []
        var hashes: [(String, JSONValue)] = []
        var start: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for part in parts {
            let digest = Digest(.sha256)
            var offset: Int64 = 0
            while offset < part.source.size {
                let count = Int(min(Int64(buffer.count), part.source.size - offset))
                guard part.source.read(at: offset, into: &buffer, count: count) else { throw DecodeError("part \(part.name) could not be read") }
                buffer.withUnsafeBytes { raw in
                    let slice = UnsafeRawBufferPointer(rebasing: raw[0..<count])
                    digest.update(slice)
                    whole.update(slice)
                }
                offset += Int64(count)
            }
            let hash = digest.finalizeHex()
            let end = start + part.source.size
            if !(parts.count == 1 && part.name == "payload") {
                segments.append((part.name, .object([("start", .int(start)), ("end", .int(end)), ("size", .int(end - start)), ("sha256", .string(hash))])))
                hashes.append((part.name, .string(hash)))
            }
            start = end
        }
        let dataSize = payload.size
        let dataHash = whole.finalizeHex()

        // 2. Compress into a scratch file when asked: the pixels carry the compressed stream.
        var stream: any ByteSource = payload
        var scratch: String?
        defer { if let scratch { unlink(scratch) } }
        var compressionInfo: JSONValue?
        if let compression {
            let path = NSTemporaryDirectory() + "/pxe-catalog-pack-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            scratch = path
            let file = try OutputFile(path: path)
            var written: Int64 = 0
            let sink: (UnsafeRawBufferPointer) throws -> Void = { bytes in
                try file.write(bytes, at: written)
                written += Int64(bytes.count)
            }
            let zlib = compression == .zlib ? Deflater(level: 6) : nil
            let zstd = compression == .zstd ? ZstdCompressor(contentSize: dataSize) : nil
            var offset: Int64 = 0
            repeat {
                let count = Int(min(Int64(buffer.count), dataSize - offset))
                guard payload.read(at: offset, into: &buffer, count: count) else { throw DecodeError("the payload could not be read") }
                let last = offset + Int64(count) >= dataSize
                try buffer.withUnsafeBytes { raw in
                    let slice = UnsafeRawBufferPointer(rebasing: raw[0..<count])
                    if let zlib { try zlib.feed(slice, finish: last, emit: sink) }
                    if let zstd { try zstd.feed(slice, finish: last, emit: sink) }
                }
                offset += Int64(count)
            } while offset < dataSize
            guard let compressed = FileByteSource(path: path, readingHead: false) else { throw DecodeError("the compressed payload could not be read back") }
            stream = compressed
            compressionInfo = .object([
                ("type", .string(compression.rawValue)), ("original_size", .int(dataSize)), ("compressed_size", .int(compressed.size)),
                ("ratio", .double(dataSize > 0 ? Double(compressed.size) / Double(dataSize) : 1)),
            ])
        }
        let length = stream.size

        // 3. The grid: stream length rounded up to 64 bytes, in pixels, on a power-of-two square.
        let pixels = (length + 63) / 64 * 16
        var side = 1
        while Int64(side) * Int64(side) < pixels { side *= 2 }

        var metadata: [(String, JSONValue)] = [
            ("format", .string("PixelRTS-2.0")),
            ("format_version", .int(2)),
            ("grid_size", .int(Int64(side))),
            ("encoding", .object([("type", .string("RGBA-dense")), ("bytes_per_pixel", .int(4)),
                                  ("mapping", .string("Hilbert space-filling curve"))])),
            ("offsets", .object(segments)),
            ("hashes", .object(hashes)),
            ("encoding_mode", .string("RGBA-dense")),
        ]
        if !segments.isEmpty { metadata.append(("segments", .object(segments))) }
        metadata += fields.filter { key, _ in !["format", "format_version", "grid_size", "encoding", "offsets", "hashes", "segments",
                                                "data_hash", "data_size", "compression", "encoded_size"].contains(key) }
        metadata.append(("data_hash", .string(dataHash)))
        metadata.append(("data_size", .int(dataSize)))
        if let compressionInfo {
            metadata.append(("compression", compressionInfo))
            metadata.append(("encoded_size", .int(length)))
        }
        let json = JSONValue.object(metadata).serializedString()

        // 4. The PNG: header and text chunks, the image data a band at a time, IEND.
        var position: Int64 = 0
        func put(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { try emit($0, position) }
            position += Int64(bytes.count)
        }
        try put(PNGMetadataReader.signature)
        try put(PNGChunk.make("IHDR", PNGChunk.bigEndian(UInt32(side)) + PNGChunk.bigEndian(UInt32(side)) + [8, 6, 0, 0, 0]))
        if writesMetadata {
            try put(PNGChunk.text("PixelRTS", "PixelRTS" + json, json.utf8.allSatisfy { $0 < 0x80 } ? .tEXt : .iTXt))
        }
        for text in extraTexts where !text.afterImageData { try put(PNGChunk.text(text.keyword, text.value, text.encoding)) }

        let block = HilbertBands.blockSize(side: side)
        let bands = HilbertBands(side: side, block: block, transposed: transposed)
        let runBytes = block * block * 4
        let rowBytes = side * 4
        var band = [UInt8](repeating: 0, count: block * rowBytes)
        var run = [UInt8](repeating: 0, count: runBytes)
        var row = [UInt8](repeating: 0, count: rowBytes + 1)
        let deflater = Deflater(level: imageCompressionLevel)
        var idat: [UInt8] = []
        func flushIDAT(force: Bool) throws {
            guard idat.count >= 1 << 20 || (force && !idat.isEmpty) else { return }
            try put(PNGChunk.make("IDAT", idat))
            idat.removeAll(keepingCapacity: true)
        }
        for bandIndex in 0..<(side / block) {
            band.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
            for column in 0..<bands.blocksPerSide {
                let square = bandIndex * bands.blocksPerSide + column
                let runStart = Int64(bands.runIndex[square]) * Int64(runBytes)
                guard runStart < length else { continue }
                let count = Int(min(Int64(runBytes), length - runStart))
                guard stream.read(at: runStart, into: &run, count: count) else { throw DecodeError("the payload could not be read") }
                if count < runBytes { run.withUnsafeMutableBytes { _ = UnsafeMutableRawBufferPointer(rebasing: $0[count...]).initializeMemory(as: UInt8.self, repeating: 0) } }
                let offsets = bands.offsets[Int(bands.orientation[square])]
                let first = column * block
                band.withUnsafeMutableBytes { out in
                    let words = out.baseAddress!.assumingMemoryBound(to: UInt32.self)
                    run.withUnsafeBytes { source in
                        let pixels = source.baseAddress!.assumingMemoryBound(to: UInt32.self)
                        for i in 0..<offsets.count { words[Int(offsets[i]) + first] = pixels[i] }
                    }
                }
            }
            for rowIndex in 0..<block {
                row[0] = 0   // filter: none
                row.withUnsafeMutableBytes { target in
                    band.withUnsafeBytes { source in
                        UnsafeMutableRawBufferPointer(rebasing: target[1...]).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[(rowIndex * rowBytes)..<((rowIndex + 1) * rowBytes)]))
                    }
                }
                let last = bandIndex == side / block - 1 && rowIndex == block - 1
                row.withUnsafeBytes { raw in deflater.feed(raw, finish: last) { idat.append(contentsOf: $0) } }
                try flushIDAT(force: false)
            }
        }
        try flushIDAT(force: true)
        for text in extraTexts where text.afterImageData { try put(PNGChunk.text(text.keyword, text.value, text.encoding)) }
        try put(PNGChunk.make("IEND", []))
        return Summary(side: side, dataSize: dataSize, dataHash: dataHash, encodedSize: compression == nil ? nil : length)
    }
}

/// Chunk bytes: length, type, data, CRC.
public enum PNGChunk {
    public static func make(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        return bigEndian(UInt32(data.count)) + typeBytes + data + bigEndian(Zlib.crc32(typeBytes + data))
    }

    public static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// A text chunk; tEXt and zTXt carry Latin-1 (other characters become `?`), iTXt UTF-8.
    public static func text(_ keyword: String, _ value: String, _ encoding: ContainerEncoder.ExtraText.Encoding) -> [UInt8] {
        let key = latin1(keyword)
        switch encoding {
        case .tEXt: return make("tEXt", key + [0] + latin1(value))
        case .zTXt: return make("zTXt", key + [0, 0] + Zlib.deflate(latin1(value)))
        case .iTXt: return make("iTXt", key + [0, 0, 0, 0, 0] + Array(value.utf8))
        }
    }

    static func latin1(_ string: String) -> [UInt8] {
        string.unicodeScalars.map { $0.value < 256 ? UInt8($0.value) : UInt8(ascii: "?") }
    }
}

/// Several byte sources read as one (a kernel followed by an initrd).
public struct ConcatenatedSource: ByteSource {
    let parts: [any ByteSource]
    let starts: [Int64]
    public let size: Int64

    public init(_ parts: [any ByteSource]) {
        self.parts = parts
        var starts: [Int64] = []
        var total: Int64 = 0
        for part in parts {
            starts.append(total)
            total += part.size
        }
        self.starts = starts
        size = total
    }

    public func read(at offset: Int64, count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        return read(at: offset, into: &buffer, count: count) ? buffer : nil
    }

    public func read(at offset: Int64, into buffer: inout [UInt8], count: Int) -> Bool {
        guard offset >= 0, count >= 0, offset + Int64(count) <= size, count <= buffer.count else { return false }
        var done = 0
        var piece = [UInt8]()
        for (index, part) in parts.enumerated() where done < count {
            let position = offset + Int64(done)
            let start = starts[index]
            guard position < start + part.size, position >= start else { continue }
            let take = Int(min(Int64(count - done), start + part.size - position))
            if piece.count < take { piece = [UInt8](repeating: 0, count: take) }
            guard part.read(at: position - start, into: &piece, count: take) else { return false }
            buffer.withUnsafeMutableBytes { out in
                piece.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[done..<(done + take)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<take])) }
            }
            done += take
        }
        return done == count
    }
}
