import CZlib

/// Thin wrappers over the zlib calls the PNG code needs: CRC-32, bounded inflate, deflate.
public enum Zlib {
    public static func crc32(_ bytes: some Collection<UInt8>, initial: UInt32 = 0) -> UInt32 {
        let array = Array(bytes)
        return array.withUnsafeBufferPointer { buffer in
            UInt32(CZlib.crc32(UInt(initial), buffer.baseAddress, UInt32(buffer.count)))
        }
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
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw .corrupt }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        var input = input
        var outcome: Result<Void, InflateError> = .success(())
        input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = UInt32(inBuffer.count)
            while true {
                let status: Int32 = chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = UInt32(outBuffer.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                if output.count + produced > limit { outcome = .failure(.tooLarge(limit: limit)); return }
                output.append(contentsOf: chunk[0..<produced])
                if status == Z_STREAM_END { return }
                if status == Z_BUF_ERROR || (status == Z_OK && stream.avail_in == 0 && produced == 0) {
                    outcome = .failure(.truncated); return
                }
                if status != Z_OK { outcome = .failure(.corrupt); return }
            }
        }
        try outcome.get()
        return output
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
