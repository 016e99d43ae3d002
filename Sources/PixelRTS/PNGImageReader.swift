/// The image header of a PNG (IHDR).
public struct PNGImageHeader: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var bitDepth: UInt8
    public var colorType: UInt8
    public var interlace: UInt8
}

/// Streams the pixel rows of an RGBA 8-bit, non-interlaced PNG: IDAT chunks are read in pieces
/// (CRC-checked as they pass), inflated and unfiltered (all five filter types) row by row, and
/// handed over a band of rows at a time. Memory: the band and one raw row, never the image.
struct PNGImageReader {
    static let readPiece = 1 << 20

    let source: any ByteSource
    let header: PNGImageHeader
    /// Byte offset of the first chunk after IHDR.
    private let firstChunk: Int64
    /// Where the chunks after IHDR start (IHDR is checked to be the first chunk).
    static let firstChunkOffset: Int64 = 33

    /// Reads and checks IHDR: PixelRTS v2 images are RGBA with 8 bits per channel, square, with a
    /// power-of-two side, and not interlaced.
    init(source: any ByteSource) throws(DecodeError) {
        self.source = source
        guard source.size >= 33, source.read(at: 0, count: 8) == PNGMetadataReader.signature,
              let ihdr = source.read(at: 8, count: 25), ihdr[0..<8] == [0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52] else {
            throw DecodeError("the file is not a PNG image with an IHDR chunk")
        }
        guard Zlib.crc32(ihdr[4..<21]) == UInt32(bigEndian: ihdr[21..<25]) else { throw DecodeError("CRC mismatch in the IHDR chunk") }
        let width = Int(UInt32(bigEndian: ihdr[8..<12])), height = Int(UInt32(bigEndian: ihdr[12..<16]))
        header = PNGImageHeader(width: width, height: height, bitDepth: ihdr[16], colorType: ihdr[17], interlace: ihdr[20])
        guard header.colorType == 6, header.bitDepth == 8 else {
            throw DecodeError("the image has colour type \(header.colorType) with \(header.bitDepth)-bit samples; PixelRTS v2 needs RGBA with 8 bits per channel (colour type 6)")
        }
        guard header.interlace == 0 else { throw DecodeError("the image is interlaced; PixelRTS v2 images are not") }
        guard width == height else { throw DecodeError("the image is \(width)x\(height); PixelRTS v2 images are square") }
        guard width > 0, width & (width - 1) == 0, width <= 1 << 20 else {
            throw DecodeError("the image side \(width) is not a power of two up to 1048576")
        }
        firstChunk = Self.firstChunkOffset
    }

    /// Delivers the image in bands of `bandRows` rows (each row `width * 4` bytes, unfiltered,
    /// rows back to back) to `band(index, bytes)`, until `rowsWanted` rows are done (the rest of
    /// the image is padding nobody needs); `band` returns false to stop.
    /// `checkingCRCs` false: the caller checks the IDAT chunks' CRCs itself
    /// (`firstIDATChecksumProblem`, on another core).
    func readBands(bandRows: Int, rowsWanted: Int, checkingCRCs: Bool = true,
                   band: (Int, UnsafeRawBufferPointer) throws(DecodeError) -> Bool) throws(DecodeError) {
        let rowBytes = header.width * 4
        let rows = min(rowsWanted, header.height)
        guard rows > 0 else { return }
        var bandBuffer = [UInt8](repeating: 0, count: bandRows * rowBytes)
        // The row above the first one (zeros), and with one-row bands every row above, which the
        // row itself would overwrite; otherwise the row above is read from the band.
        var previous = [UInt8](repeating: 0, count: rowBytes)
        // Filter byte + row, inflated into in place.
        let current = UnsafeMutableRawBufferPointer.allocate(byteCount: rowBytes + 1, alignment: 16)
        defer { current.deallocate() }
        var filled = 0
        var rowsDone = 0
        var bandIndex = 0
        var failure: DecodeError?
        var stopped = false
        // The chunks' CRCs and the payload's SHA-256 cover the image data.
        let inflater = Inflater(checkingAdler32: false)

        // Where the inflater writes next: the rest of the current row.
        func rowSpace() -> UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: current[filled...]) }

        // `count` more bytes of the row arrived; a complete row is unfiltered into the band.
        func rowFilled(_ count: Int) -> Bool {
            filled += count
            guard filled == current.count else { return true }
            filled = 0
            let filter = current[0]
            let rowInBand = rowsDone % bandRows
            // The row above is in the band still (the previous band's last row, for the first
            // row of a band: a band is overwritten from its top), or zeros above the image.
            let ok: Bool = bandBuffer.withUnsafeMutableBytes { out in
                let target = out.baseAddress!.advanced(by: rowInBand * rowBytes).assumingMemoryBound(to: UInt8.self)
                let above = (rowInBand + bandRows - 1) % bandRows * rowBytes
                return previous.withUnsafeBytes { kept in
                    let up = bandRows == 1 || rowsDone == 0 ? kept.baseAddress! : UnsafeRawPointer(out.baseAddress!.advanced(by: above))
                    return Self.unfilter(filter, UnsafePointer(current.baseAddress!.advanced(by: 1).assumingMemoryBound(to: UInt8.self)),
                                         previous: up.assumingMemoryBound(to: UInt8.self), into: target, count: rowBytes)
                }
            }
            if bandRows == 1 { previous = Array(bandBuffer[0..<rowBytes]) }
            guard ok else {
                failure = DecodeError("row \(rowsDone) of the image has unknown filter type \(filter)")
                return false
            }
            rowsDone += 1
            if rowsDone % bandRows == 0 || rowsDone == rows {
                let used = (rowsDone - 1) % bandRows + 1
                do {
                    let more = try bandBuffer.withUnsafeBytes { try band(bandIndex, UnsafeRawBufferPointer(rebasing: $0[0..<(used * rowBytes)])) }
                    bandIndex += 1
                    if !more || rowsDone == rows { stopped = true; return false }
                } catch {
                    failure = (error as? DecodeError) ?? DecodeError("\(error)")
                    return false
                }
            }
            return true
        }

        var offset = firstChunk
        var sawImageData = false
        var piece = [UInt8](repeating: 0, count: Self.readPiece)
        while !stopped {
            guard offset + 12 <= source.size, let chunkHeader = source.read(at: offset, count: 8) else {
                throw DecodeError("the image data ends after \(rowsDone) of \(header.height) rows (the file is truncated)")
            }
            let length = Int64(UInt32(bigEndian: chunkHeader[0..<4]))
            let type = String(decoding: chunkHeader[4..<8], as: UTF8.self)
            guard length <= 0x7FFF_FFFF, offset + 12 + length <= source.size else {
                throw DecodeError("chunk \(type) at byte \(offset) runs past the end of the file")
            }
            if type == "IEND" {
                throw DecodeError(sawImageData ? "the image data ends after \(rowsDone) of \(header.height) rows" : "the image has no IDAT chunk")
            }
            if type == "IDAT" {
                sawImageData = true
                // A damaged chunk also makes its data corrupt: the CRC is what is said then.
                let chunkOffset = offset
                func failing(_ error: DecodeError) -> DecodeError {
                    guard checkingCRCs, error.kind == .content, !Self.crcMatches(source, chunkAt: chunkOffset, length: length) else { return error }
                    return DecodeError("CRC mismatch in the IDAT chunk at byte \(chunkOffset)")
                }
                var crc = Zlib.crc32(chunkHeader[4..<8])
                var done: Int64 = 0
                while done < length {
                    let count = Int(min(Int64(Self.readPiece), length - done))
                    guard source.read(at: offset + 8 + done, into: &piece, count: count) else {
                        throw DecodeError("the IDAT chunk at byte \(offset) could not be read")
                    }
                    // Once every row is in, the rest of this chunk is only checked, not inflated.
                    let checkingOnly = stopped
                    let state = piece.withUnsafeBytes { raw -> Inflater.State in
                        let slice = UnsafeRawBufferPointer(rebasing: raw[0..<count])
                        if checkingCRCs { crc = Zlib.crc32(slice, initial: crc) }
                        return checkingOnly ? .stopped : inflater.feed(slice, into: rowSpace, filled: rowFilled)
                    }
                    if let failure { throw failing(failure) }
                    done += Int64(count)
                    if stopped && rows < header.height { break }   // the rest is padding nobody reads
                    switch state {
                    case .corrupt: throw failing(DecodeError("the compressed image data is corrupt (IDAT chunk at byte \(offset))"))
                    case .ended where !stopped: throw failing(DecodeError("the compressed image data ends after \(rowsDone) of \(header.height) rows"))
                    case .needsInput, .stopped, .ended: break
                    }
                }
                if stopped && rows < header.height { break }
                if !checkingCRCs {
                    if stopped { break }
                    offset += 12 + length
                    continue
                }
                guard let stored = source.read(at: offset + 8 + length, count: 4), UInt32(bigEndian: stored[0..<4]) == crc else {
                    throw DecodeError("CRC mismatch in the IDAT chunk at byte \(offset)")
                }
                if stopped { break }
            }
            offset += 12 + length
        }
    }

    /// The CRC of every IDAT chunk, checked in one sequential read of the file; the first
    /// mismatch found, as the decoder would say it, or nil. Stops quietly at a malformed chunk
    /// (the decoder says what is wrong with it) or when `shouldStop` says so.
    static func firstIDATChecksumProblem(_ source: any ByteSource, from firstChunk: Int64, shouldStop: () -> Bool) -> String? {
        var offset = firstChunk
        var piece = [UInt8](repeating: 0, count: readPiece)
        while !shouldStop(), offset + 12 <= source.size, let chunkHeader = source.read(at: offset, count: 8) {
            let length = Int64(UInt32(bigEndian: chunkHeader[0..<4]))
            let type = chunkHeader[4..<8]
            guard length <= 0x7FFF_FFFF, offset + 12 + length <= source.size, !type.elementsEqual("IEND".utf8) else { return nil }
            if type.elementsEqual("IDAT".utf8), !crcMatches(source, chunkAt: offset, length: length, buffer: &piece, shouldStop: shouldStop) {
                return shouldStop() ? nil : "CRC mismatch in the IDAT chunk at byte \(offset)"
            }
            offset += 12 + length
        }
        return nil
    }

    /// Whether the chunk at `offset` (`length` data bytes) has the CRC it stores; false also
    /// when it cannot be read whole or `shouldStop` says so.
    static func crcMatches(_ source: any ByteSource, chunkAt offset: Int64, length: Int64, shouldStop: () -> Bool = { false }) -> Bool {
        var buffer = [UInt8](repeating: 0, count: Int(min(length, Int64(readPiece))))
        return crcMatches(source, chunkAt: offset, length: length, buffer: &buffer, shouldStop: shouldStop)
    }

    private static func crcMatches(_ source: any ByteSource, chunkAt offset: Int64, length: Int64, buffer: inout [UInt8], shouldStop: () -> Bool) -> Bool {
        guard let type = source.read(at: offset + 4, count: 4) else { return false }
        var crc = Zlib.crc32(type)
        var done: Int64 = 0
        while done < length {
            if shouldStop() { return false }
            let count = Int(min(Int64(buffer.count), length - done))
            guard source.read(at: offset + 8 + done, into: &buffer, count: count) else { return false }
            crc = buffer.withUnsafeBytes { Zlib.crc32(UnsafeRawBufferPointer(rebasing: $0[0..<count]), initial: crc) }
            done += Int64(count)
        }
        guard let stored = source.read(at: offset + 8 + length, count: 4) else { return false }
        return UInt32(bigEndian: stored[0..<4]) == crc
    }

    /// Reverses one PNG filter (bytes per pixel 4). Returns false for an unknown filter type.
    static func unfilter(_ filter: UInt8, _ raw: UnsafePointer<UInt8>, previous up: UnsafePointer<UInt8>,
                         into out: UnsafeMutablePointer<UInt8>, count: Int) -> Bool {
        switch filter {
        case 0:
            out.update(from: raw, count: count)
        case 1:
            for i in 0..<min(4, count) { out[i] = raw[i] }
            var i = 4
            while i < count { out[i] = raw[i] &+ out[i - 4]; i += 1 }
        case 2:
            for i in 0..<count { out[i] = raw[i] &+ up[i] }
        case 3:
            for i in 0..<min(4, count) { out[i] = raw[i] &+ up[i] >> 1 }
            var i = 4
            while i < count { out[i] = raw[i] &+ UInt8((UInt16(out[i - 4]) + UInt16(up[i])) >> 1); i += 1 }
        case 4:
            for i in 0..<min(4, count) { out[i] = raw[i] &+ up[i] }
            var i = 4
            while i < count {
                let a = Int16(out[i - 4]), b = Int16(up[i]), c = Int16(up[i - 4])
                let p = a + b - c
                let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                out[i] = raw[i] &+ UInt8(pa <= pb && pa <= pc ? a : (pb <= pc ? b : c))
                i += 1
            }
        default:
            return false
        }
        return true
    }
}

extension UInt32 {
    /// A big-endian 32-bit value from four bytes.
    init(bigEndian bytes: some Collection<UInt8>) {
        self = bytes.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }
}
