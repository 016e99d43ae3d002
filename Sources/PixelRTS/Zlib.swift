import CDeflate
import CZlib

/// Thin wrappers over the zlib calls the format needs: CRC-32, bounded inflate, deflate, and
/// streaming inflate/deflate for image data and payloads too large to hold in memory.
public enum Zlib {
    /// PNG's CRC-32 (the same polynomial as zlib's), computed by libdeflate: it checks every
    /// IDAT byte of a container, about three times as fast as zlib's (0.04 s against 0.14 s
    /// for 256 MiB here).
    public static func crc32(_ bytes: some Collection<UInt8>, initial: UInt32 = 0) -> UInt32 {
        let array = Array(bytes)
        return array.withUnsafeBytes { crc32($0, initial: initial) }
    }

    /// Continues a CRC-32 over raw memory (IDAT chunks are checked as they stream by).
    public static func crc32(_ bytes: UnsafeRawBufferPointer, initial: UInt32) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return initial }
        return libdeflate_crc32(initial, base, bytes.count)
    }

    public enum InflateError: Error, Equatable, CustomStringConvertible {
        case tooLarge(limit: Int)
        case corrupt
        case truncated

        public var description: String {
            switch self {
            case let .tooLarge(limit): return "decompressed text exceeds \(limit) bytes"
            case .corrupt: return "compressed text is corrupt"
            case .truncated: return "compressed text is truncated"
            }
        }
    }

    /// Inflates a zlib stream, refusing to produce more than `limit` bytes (decompression bombs).
    public static func inflate(_ input: [UInt8], limit: Int) throws(InflateError) -> [UInt8] {
        let inflater = Inflater()
        var output: [UInt8] = []
        var outcome: InflateError?
        let finished = input.withUnsafeBytes { raw in
            inflater.feed(raw) { produced in
                if output.count + produced.count > limit {
                    outcome = .tooLarge(limit: limit)
                    return false
                }
                output.append(contentsOf: produced)
                return true
            }
        }
        if let outcome { throw outcome }
        switch finished {
        case .ended: return output
        case .needsInput: throw .truncated
        case .corrupt, .stopped: throw .corrupt
        }
    }

    public static func deflate(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var destinationLength = compressBound(UInt(input.count))
        var output = [UInt8](repeating: 0, count: Int(destinationLength))
        let status = output.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { inp in
                compress2(out.baseAddress, &destinationLength, inp.baseAddress, UInt(inp.count), level)
            }
        }
        precondition(status == Z_OK, "compress2 failed with status \(status)")
        return Array(output[0..<Int(destinationLength)])
    }
}

/// A zlib (RFC 1950) decompressor fed piece by piece; output goes to a callback in pieces of at
/// most 64 KiB, so nothing of the stream is held beyond that. Wraps `inflateInit_`/`inflate`.
public final class Inflater {
    public enum State: Equatable {
        /// All input consumed, the stream goes on.
        case needsInput
        /// The stream's end was reached (input after it is ignored).
        case ended
        case corrupt
        /// The consumer returned false.
        case stopped
    }

    private var stream = z_stream()
    private var output = [UInt8](repeating: 0, count: 64 * 1024)
    private var done: State?
    /// Without the checksum: the two header bytes still to be read and checked here.
    private var header: [UInt8]?

    /// `checkingAdler32` false: the stream's Adler-32 is neither computed nor checked, for data
    /// another check covers (image data under chunk CRCs and the payload's SHA-256: Adler-32
    /// took a sixth of the time to open a container). The header is still checked.
    public init(checkingAdler32: Bool = true) {
        let status: Int32
        if checkingAdler32 {
            status = inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        } else {
            header = []
            status = inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))   // raw deflate
        }
        precondition(status == Z_OK, "inflateInit failed with status \(status)")
    }

    deinit { inflateEnd(&stream) }

    /// RFC 1950's two header bytes: deflate, a window of at most 32 KiB, a valid check.
    static func isZlibHeader(_ first: UInt8, _ second: UInt8) -> Bool {
        first & 0x0F == 8 && first >> 4 <= 7 && (UInt16(first) << 8 | UInt16(second)) % 31 == 0
    }

    /// Inflates `input`; `consume` gets each piece of output and returns false to stop.
    public func feed(_ input: UnsafeRawBufferPointer, consume: (UnsafeRawBufferPointer) -> Bool) -> State {
        output.withUnsafeMutableBytes { buffer in
            feed(input, into: { buffer }, filled: { count in consume(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) })
        }
    }

    /// Inflates `input` straight into the caller's memory: `nextOutput` hands out where the next
    /// bytes go (never empty), `filled` learns how many went there and returns false to stop.
    /// One copy less than `feed(_:consume:)` for a caller that assembles rows.
    public func feed(_ input: UnsafeRawBufferPointer, into nextOutput: () -> UnsafeMutableRawBufferPointer,
                     filled: (Int) -> Bool) -> State {
        if let done { return done }
        var input = input
        if var header, header.count < 2 {
            let taken = min(2 - header.count, input.count)
            header += input.prefix(taken)
            input = UnsafeRawBufferPointer(rebasing: input[taken...])
            self.header = header
            if header.count == 2, !Self.isZlibHeader(header[0], header[1]) || header[1] & 0x20 != 0 {   // no preset dictionary either
                done = .corrupt
                return .corrupt
            }
        }
        guard let base = input.baseAddress, input.count > 0 else { return .needsInput }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        while true {
            let target = nextOutput()
            stream.next_out = target.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(target.count)
            let status = CZlib.inflate(&stream, Z_NO_FLUSH)
            let produced = target.count - Int(stream.avail_out)
            if produced > 0, !filled(produced) {
                done = .stopped
                return .stopped
            }
            switch status {
            case Z_STREAM_END:
                done = .ended
                return .ended
            case Z_OK:
                if stream.avail_in == 0 && stream.avail_out > 0 { return .needsInput }
            case Z_BUF_ERROR:
                return .needsInput
            default:
                done = .corrupt
                return .corrupt
            }
        }
    }
}

/// A zlib compressor fed piece by piece (`pack`, and the image data of containers it writes).
/// Wraps `deflateInit_`/`deflate`.
public final class Deflater {
    private var stream = z_stream()
    private var output = [UInt8](repeating: 0, count: 256 * 1024)

    public init(level: Int32 = 6) {
        let status = deflateInit_(&stream, level, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "deflateInit failed with status \(status)")
    }

    deinit { deflateEnd(&stream) }

    /// Compresses `input` (`finish`: and ends the stream), handing the output to `emit`.
    public func feed(_ input: UnsafeRawBufferPointer, finish: Bool = false, emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        stream.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: UInt8.self)) }
        stream.avail_in = UInt32(input.count)
        while true {
            let status: Int32 = output.withUnsafeMutableBufferPointer { buffer in
                stream.next_out = buffer.baseAddress
                stream.avail_out = UInt32(buffer.count)
                return CZlib.deflate(&stream, finish ? Z_FINISH : Z_NO_FLUSH)
            }
            let produced = output.count - Int(stream.avail_out)
            if produced > 0 { try output.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
            if finish {
                if status == Z_STREAM_END { return }
            } else if stream.avail_in == 0 && stream.avail_out > 0 {
                return
            }
            precondition(status == Z_OK || status == Z_BUF_ERROR, "deflate failed with status \(status)")
        }
    }
}
