import CZstd

/// A zstd decompressor fed piece by piece, with a bounded window so that a hostile frame cannot
/// make it allocate more than `maximumWindowLog` asks. Wraps `ZSTD_createDCtx` and
/// `ZSTD_decompressStream`.
public final class ZstdDecompressor {
    /// 32 MiB: more than any standard level (≤ 8 MiB) uses; `--long` frames beyond it are refused.
    public static let maximumWindowLog: Int32 = 25

    public enum State: Equatable {
        case needsInput
        /// A frame ended (more frames may follow in the input).
        case frameEnded
        case failed(String)
        case stopped
    }

    private let context: OpaquePointer
    private var output = [UInt8](repeating: 0, count: 128 * 1024)

    public init() {
        guard let context = ZSTD_createDCtx() else { fatalError("ZSTD_createDCtx failed: out of memory") }
        _ = ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Self.maximumWindowLog)
        self.context = context
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses `input`; `consume` gets each piece of output and returns false to stop.
    public func feed(_ input: UnsafeRawBufferPointer, consume: (UnsafeRawBufferPointer) -> Bool) -> State {
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            let (result, produced): (Int, Int) = output.withUnsafeMutableBytes { buffer in
                var target = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                let result = ZSTD_decompressStream(context, &target, &source)
                return (result, target.pos)
            }
            if ZSTD_isError(result) != 0 { return .failed(String(cString: ZSTD_getErrorName(result))) }
            if produced > 0, !output.withUnsafeBytes({ consume(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }) { return .stopped }
            // Output filled to the brim: more may be buffered inside the context.
            if produced == output.count { continue }
            if source.pos >= source.size { return result == 0 ? .frameEnded : .needsInput }
        }
    }
}

/// A zstd compressor fed piece by piece (`pack --compress zstd`). Wraps `ZSTD_compressStream2`.
public final class ZstdCompressor {
    private let context: OpaquePointer
    private var output = [UInt8](repeating: 0, count: 256 * 1024)

    /// `contentSize`: the input's length, written into the frame header: decoders that
    /// decompress in one call (python-zstandard, the format's reference decoder) need it.
    public init(level: Int32 = 3, contentSize: Int64? = nil) {
        guard let context = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx failed: out of memory") }
        _ = ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        _ = ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
        if let contentSize { _ = ZSTD_CCtx_setPledgedSrcSize(context, UInt64(contentSize)) }
        self.context = context
    }

    deinit { ZSTD_freeCCtx(context) }

    public func feed(_ input: UnsafeRawBufferPointer, finish: Bool = false, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            let (remaining, produced): (Int, Int) = output.withUnsafeMutableBytes { buffer in
                var target = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                let remaining = ZSTD_compressStream2(context, &target, &source, finish ? ZSTD_e_end : ZSTD_e_continue)
                return (remaining, target.pos)
            }
            precondition(ZSTD_isError(remaining) == 0, "ZSTD_compressStream2 failed: \(String(cString: ZSTD_getErrorName(remaining)))")
            if produced > 0 { try output.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
            if finish ? remaining == 0 : source.pos == source.size { return }
        }
    }
}
