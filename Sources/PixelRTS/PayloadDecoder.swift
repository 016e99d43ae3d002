import Foundation
import Synchronization
import StrictJSON

/// Opens a PixelRTS v2 container: reads its metadata, takes the payload out of the pixels (or out
/// of the base64 of code mode), decompresses it when the metadata says so, and checks it against
/// its own sizes and SHA-256 hashes. The payload goes straight to a file: the decoder holds one
/// band of image rows and a few buffers, never the image or the payload.
///
/// The pixel stream is written where each run of the curve belongs (`pwrite`), then read back in
/// order for hashing and decompression; written pages stay in the page cache, not in the
/// process's memory.
public struct PayloadDecoder: Sendable {
    public struct Limits: Sendable {
        /// Largest payload (stated size and what decompression may produce) accepted.
        public var maximumPayloadBytes: Int64 = 64 << 30
        /// Largest metadata text read (code mode carries its payload there, as base64).
        public var maximumMetadataBytes = 16 << 20
        /// Memory for one band of image rows.
        public var maximumBandBytes = 16 << 20
        public init() {}
    }

    /// A verified payload.
    public struct Result: Sendable, Equatable {
        public var layout: PixelRTSLayout
        public var payloadSize: Int64
        public var sha256: String
        /// Written in the transposed layout of files made before 2026-02-09 (told by `data_hash`).
        public var transposed: Bool
        public var plan: BootPlan
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Decodes the container `source` into a new file at `payloadPath` (its directory holds the
    /// temporary stream file too) and verifies it. `shouldStop` is asked between pieces of work;
    /// when it says so the decoder gives up with a `DecodeError` of kind `.stopped`.
    public func decode(_ source: any ByteSource, to payloadPath: String, shouldStop: () -> Bool = { false }) throws(DecodeError) -> Result {
        let layout = try readLayout(source)
        guard layout.dataSize <= limits.maximumPayloadBytes else {
            throw DecodeError("the payload's stated size of \(layout.dataSize) bytes exceeds the \(limits.maximumPayloadBytes) bytes this server accepts")
        }
        if layout.codeModeBase64 != nil {
            return try attempt(source, layout: layout, transposed: false, payloadPath: payloadPath, shouldStop: shouldStop)
        }
        do {
            return try attempt(source, layout: layout, transposed: false, payloadPath: payloadPath, shouldStop: shouldStop)
        } catch where error.kind == .content {
            // Files made before 2026-02-09 have x and y swapped; only their hash tells.
            if let result = try? attempt(source, layout: layout, transposed: true, payloadPath: payloadPath, shouldStop: shouldStop) {
                return result
            }
            throw error
        }
    }

    /// The layout from the container's metadata chunk.
    public func readLayout(_ source: any ByteSource) throws(DecodeError) -> PixelRTSLayout {
        var readerLimits = PNGMetadataReader.Limits()
        readerLimits.maximumTextChunkBytes = limits.maximumMetadataBytes
        readerLimits.maximumInflatedBytes = limits.maximumMetadataBytes
        readerLimits.maximumTextBytesPerFile = limits.maximumMetadataBytes
        let inspection = PNGMetadataReader(limits: readerLimits).inspect(source)
        if let problem = inspection.problem { throw DecodeError("the file is not a valid PNG: \(problem)") }
        guard let metadata = PixelRTSLayout.metadataObject(in: inspection.textChunks) else {
            throw DecodeError("the file has no PixelRTS v2 metadata (a text chunk holding PixelRTS and a JSON object)")
        }
        return try PixelRTSLayout(metadata: metadata)
    }

    private func attempt(_ source: any ByteSource, layout: PixelRTSLayout, transposed: Bool, payloadPath: String,
                         shouldStop: () -> Bool) throws(DecodeError) -> Result {
        let streamPath = payloadPath + ".stream"
        var succeeded = false
        defer {
            unlink(streamPath)
            // A refused container leaves nothing behind (the payload of a failed attempt included).
            if !succeeded { unlink(payloadPath) }
        }
        let stream = try OutputFile(path: streamPath)
        let verifier = PayloadVerifier(layout: layout)
        func writeStream(progress: ((Int64) -> Void)?, checkingCRCs: Bool) throws(DecodeError) {
            if let base64 = layout.codeModeBase64 {
                try Self.writeBase64(base64, to: stream, expected: layout.streamLength)
            } else {
                try writePixelStream(source, layout: layout, transposed: transposed, to: stream, checkingCRCs: checkingCRCs,
                                     progress: progress, shouldStop: shouldStop)
            }
        }
        if layout.compression != nil {
            try writeStream(progress: nil, checkingCRCs: true)
            let payload = try OutputFile(path: payloadPath)
            try decompress(stream, length: layout.streamLength, expected: layout.dataSize, into: payload, verifier: verifier, shouldStop: shouldStop)
            try payload.finish()
        } else {
            // The stream is the payload: it is hashed on a second thread as its complete prefix
            // grows while the image is still being decoded, and the segments here after. That
            // thread checks the chunks' CRCs first, while little of the prefix is complete yet.
            let checksums = layout.codeModeBase64 == nil ? ChecksumPass(source: source) : nil
            do {
                try verifier.hashFollowing(stream, checkingFirst: checksums) { hasher throws(DecodeError) in
                    try writeStream(progress: hasher.advance, checkingCRCs: checksums == nil)
                    guard stream.size == layout.dataSize else {
                        throw DecodeError("the payload has \(stream.size) bytes; the metadata's data_size says \(layout.dataSize)")
                    }
                    hasher.advance(to: layout.dataSize)
                    // To disk while the hasher finishes (the rename waits for both).
                    try stream.finish()
                }
            } catch where error.kind == .content {
                // A damaged chunk is the first thing said: it also makes the data look corrupt.
                if let problem = checksums?.problem { throw DecodeError(problem) }
                throw error
            }
            if let problem = checksums?.problem { throw DecodeError(problem) }
            guard rename(streamPath, payloadPath) == 0 else { throw DecodeError(storage: "cannot move the payload into place", code: errno) }
        }
        let sha256 = try verifier.verify(size: layout.dataSize)
        succeeded = true
        return Result(layout: layout, payloadSize: layout.dataSize, sha256: sha256, transposed: transposed,
                      plan: BootPlan.decide(layout: layout, payloadSize: layout.dataSize, head: verifier.head))
    }

    /// The pixels in curve order: `streamLength` bytes, each run of the curve written at its offset.
    /// `progress` learns how many bytes from the start are complete after each band.
    private func writePixelStream(_ source: any ByteSource, layout: PixelRTSLayout, transposed: Bool, to stream: OutputFile,
                                  checkingCRCs: Bool, progress: ((Int64) -> Void)?, shouldStop: () -> Bool) throws(DecodeError) {
        let image = try PNGImageReader(source: source)
        let side = image.header.width
        let length = layout.streamLength
        let capacity = Int64(side) * Int64(side) * 4
        guard length <= capacity else {
            throw DecodeError("the metadata says the pixel stream has \(length) bytes, but a \(side)x\(side) image holds only \(capacity)")
        }
        guard length > 0 else { return }
        let block = HilbertBands.blockSize(side: side, maximumBandBytes: limits.maximumBandBytes)
        let bands = HilbertBands(side: side, block: block, transposed: transposed)
        let runBytes = block * block * 4
        let perSide = bands.blocksPerSide
        // Bands beyond the last run that holds data are padding: not even decoded, when the
        // order lets us tell (in the normal layout a run's squares can sit anywhere).
        var run = [UInt8](repeating: 0, count: runBytes)
        // Runs written so far, and how many from the first one on are all written.
        var written = [Bool](repeating: false, count: perSide * perSide)
        var completeRuns = 0
        try image.readBands(bandRows: block, rowsWanted: side, checkingCRCs: checkingCRCs) { bandIndex, band throws(DecodeError) in
            if shouldStop() { throw DecodeError(stopped: ()) }
            let pixels = band.baseAddress!.assumingMemoryBound(to: UInt32.self)
            for column in 0..<perSide {
                let square = bandIndex * perSide + column
                let start = Int64(bands.runIndex[square]) * Int64(runBytes)
                guard start < length else { continue }
                let offsets = bands.offsets[Int(bands.orientation[square])]
                let first = column * block
                run.withUnsafeMutableBytes { out in
                    let words = out.baseAddress!.assumingMemoryBound(to: UInt32.self)
                    offsets.withUnsafeBufferPointer { table in
                        for i in 0..<table.count { words[i] = pixels[Int(table[i]) + first] }
                    }
                }
                let count = Int(min(Int64(runBytes), length - start))
                try stream.write(run, count: count, at: start)
                written[Int(bands.runIndex[square])] = true
            }
            if let progress {
                while completeRuns < written.count && written[completeRuns] { completeRuns += 1 }
                progress(min(Int64(completeRuns) * Int64(runBytes), length))
            }
            return true
        }
    }

    static func writeBase64(_ text: String, to stream: OutputFile, expected: Int64) throws(DecodeError) {
        // Strict base64 (RFC 4648, padding optional, line breaks allowed): anything else is refused.
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { values[Int(byte)] = UInt8(index) }
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count / 4 * 3)
        var accumulator: UInt32 = 0, bits = 0, padding = 0, position = 0
        for byte in text.utf8 {
            position += 1
            if byte == 0x0A || byte == 0x0D { continue }
            if byte == UInt8(ascii: "=") { padding += 1; continue }
            let value = values[Int(byte)]
            guard value != 0xFF, padding == 0 else {
                throw DecodeError("original_data_b64 is not base64 (character \(position) is not allowed there)")
            }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        guard padding <= 2, bits < 6 else { throw DecodeError("original_data_b64 is not base64 (it ends in the middle of a byte)") }
        guard Int64(output.count) == expected else {
            throw DecodeError("original_data_b64 holds \(output.count) bytes; the metadata says \(expected)")
        }
        try stream.write(output, count: output.count, at: 0)
    }

    /// Decompresses the stream (zstd or zlib, told by its magic), stopping at `expected` bytes: a
    /// stream that expands past its stated size is refused, however far it would go.
    private func decompress(_ stream: OutputFile, length: Int64, expected: Int64, into payload: OutputFile,
                            verifier: PayloadVerifier, shouldStop: () -> Bool) throws(DecodeError) {
        var magic = [UInt8](repeating: 0, count: 4)
        guard length >= 4, stream.read(at: 0, into: &magic, count: 4) else { throw DecodeError("the compressed stream is too short to be zstd or zlib") }
        let isZstd = magic == [0x28, 0xB5, 0x2F, 0xFD]
        let isZlib = Inflater.isZlibHeader(magic[0], magic[1])
        guard isZstd || isZlib else { throw DecodeError("the compressed stream is neither zstd nor zlib (it starts with \(magic.map { String(format: "%02x", $0) }.joined()))") }
        var written: Int64 = 0
        var failure: DecodeError?
        func take(_ bytes: UnsafeRawBufferPointer) -> Bool {
            guard written + Int64(bytes.count) <= expected else {
                failure = DecodeError("the compressed stream expands past its stated size of \(expected) bytes")
                return false
            }
            do {
                try payload.write(bytes, at: written)
            } catch {
                failure = error
                return false
            }
            verifier.take(bytes, at: written)
            written += Int64(bytes.count)
            return true
        }
        let zstd = isZstd ? ZstdDecompressor() : nil
        let zlib = isZlib ? Inflater() : nil
        var ended = false
        try stream.readSequentially(length: length) { _, bytes throws(DecodeError) in
            if shouldStop() { throw DecodeError(stopped: ()) }
            guard !ended else { return }
            if let zstd {
                switch zstd.feed(bytes, consume: take) {
                case .needsInput, .frameEnded: break
                case let .failed(reason): throw failure ?? DecodeError("the zstd stream is corrupt (\(reason))")
                case .stopped: throw failure ?? DecodeError("decompression stopped")
                }
            } else if let zlib {
                switch zlib.feed(bytes, consume: take) {
                case .needsInput: break
                case .ended: ended = true
                case .corrupt: throw failure ?? DecodeError("the zlib stream is corrupt")
                case .stopped: throw failure ?? DecodeError("decompression stopped")
                }
            }
        }
        if let failure { throw failure }
        guard written == expected else {
            throw DecodeError("the compressed stream expands to \(written) bytes; the metadata's data_size says \(expected)")
        }
    }
}

/// Hashes the payload as it passes in order: the whole, each segment, and keeps its first bytes.
final class PayloadVerifier {
    let layout: PixelRTSLayout
    private let whole = Digest(.sha256)
    private let segmentDigests: [Digest?]
    private(set) var head: [UInt8] = []
    private var seen: Int64 = 0

    init(layout: PixelRTSLayout) {
        self.layout = layout
        // A segment that is the whole payload (a disk image, a lone kernel) has the payload's
        // hash: no second pass over the same bytes.
        segmentDigests = layout.segments.map { segment in
            segment.sha256 == nil || (segment.start == 0 && segment.end == layout.dataSize && segment.size > 0) ? nil : Digest(.sha256)
        }
    }

    /// Set while `hashFollowing`'s thread feeds `take`: the segments are hashed apart then.
    private var segmentsElsewhere = false

    func take(_ bytes: UnsafeRawBufferPointer, at offset: Int64) {
        precondition(offset == seen, "the payload is hashed in order")
        whole.update(bytes)
        if head.count < 1024 { head += bytes.prefix(1024 - head.count) }
        let end = offset + Int64(bytes.count)
        if segmentsElsewhere {
            seen = end
            return
        }
        for (index, segment) in layout.segments.enumerated() {
            guard let digest = segmentDigests[index], segment.start < end, segment.end > offset else { continue }
            let from = Int(max(segment.start, offset) - offset), to = Int(min(segment.end, end) - offset)
            digest.update(UnsafeRawBufferPointer(rebasing: bytes[from..<to]))
        }
        seen = end
    }

    /// Runs `body`, which writes the payload into `file` and tells the hasher how far it is
    /// complete from the start, while a second thread hashes that prefix (the whole payload, its
    /// first bytes) as it grows; then hashes the segments on this thread while the other one
    /// finishes. SHA-256 is sequential: overlapping it with decoding is the only way to use a
    /// second core for it, and segments (kernel + initrd, a disk) usually cover the payload
    /// again. Both passes read the file back from the page cache.
    /// `checkingFirst`: run on the hashing thread before it starts (it has little to do at first:
    /// the curve completes most of the prefix only with the last rows).
    func hashFollowing(_ file: OutputFile, checkingFirst checks: ChecksumPass?, _ body: (PrefixHasher) throws(DecodeError) -> Void) throws(DecodeError) {
        segmentsElsewhere = true
        let hasher = PrefixHasher(file: file, verifier: self, first: checks)
        // The join orders the hasher's writes (digest, head) before the reads in `verify`.
        guard let thread = JoinedThread(hasher.run) else {
            // No second thread: the whole pass after the body, on this one.
            try body(hasher)
            hasher.run()
            guard hasher.succeeded else { throw DecodeError(storage: "cannot read back the boot cache", code: EIO) }
            return try hashSegments(file)
        }
        var failure: DecodeError?
        do {
            try body(hasher)
            try hashSegments(file)
        } catch {
            failure = error
            hasher.stop()   // nothing left worth hashing
            // The checks still say whether a damaged chunk caused a content error; else they stop too.
            if error.kind != .content { checks?.stop() }
        }
        thread.join()
        if let failure { throw failure }
        guard hasher.succeeded else { throw DecodeError(storage: "cannot read back the boot cache", code: EIO) }
    }

    /// The segments' own hashes from the complete file (the whole payload's come from `take`).
    private func hashSegments(_ file: OutputFile) throws(DecodeError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for (index, segment) in layout.segments.enumerated() {
            guard let digest = segmentDigests[index], segment.size > 0 else { continue }
            var offset = segment.start
            while offset < segment.end {
                let count = Int(min(Int64(buffer.count), segment.end - offset))
                guard file.read(at: offset, into: &buffer, count: count) else { throw DecodeError(storage: "cannot read back the boot cache", code: EIO) }
                buffer.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                offset += Int64(count)
            }
        }
    }

    /// Checks the hashes; returns the payload's SHA-256.
    func verify(size: Int64) throws(DecodeError) -> String {
        let actual = whole.finalizeHex()
        guard let expected = layout.dataHash else {
            throw DecodeError("the metadata has no data_hash, so the payload cannot be verified")
        }
        guard actual == expected else {
            throw DecodeError("the payload's SHA-256 is \(actual), but the metadata's data_hash says \(expected)")
        }
        for (index, segment) in layout.segments.enumerated() {
            guard let expectedSegment = segment.sha256 else { continue }
            let segmentHash: String
            if segment.size == 0 {
                segmentHash = Digest.hex(.sha256, of: [UInt8]())
            } else if let digest = segmentDigests[index] {
                segmentHash = digest.finalizeHex()
            } else {
                segmentHash = actual   // the segment is the whole payload
            }
            guard segmentHash == expectedSegment else {
                throw DecodeError("segment \(segment.name) has SHA-256 \(segmentHash), but the metadata says \(expectedSegment)")
            }
        }
        return actual
    }
}

/// A file the decoder writes, with errors that say whether the disk or the container failed.
final class OutputFile {
    let path: String
    private let descriptor: Int32
    private(set) var size: Int64 = 0

    /// `truncating` false: opens an existing file to read it back.
    init(path: String, truncating: Bool = true) throws(DecodeError) {
        self.path = path
        descriptor = open(path, truncating ? O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw DecodeError(storage: "cannot create a file in the boot cache", code: errno) }
        // Readable by nginx (another user) whatever the umask (the service runs with 0027).
        if truncating { fchmod(descriptor, 0o644) }
    }

    deinit { close(descriptor) }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(DecodeError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw DecodeError(storage: "cannot write to the boot cache", code: n < 0 ? errno : ENOSPC) }
            done += n
        }
        size = max(size, offset + Int64(bytes.count))
    }

    /// Writes the first `count` bytes of `array`.
    func write(_ array: [UInt8], count: Int, at offset: Int64) throws(DecodeError) {
        try Self.withBytes(of: array, count: count) { bytes throws(DecodeError) in try write(bytes, at: offset) }
    }

    /// `withUnsafeBytes` with the body's typed error kept (the standard one rethrows `any Error`).
    static func withBytes(of array: [UInt8], count: Int, _ body: (UnsafeRawBufferPointer) throws(DecodeError) -> Void) throws(DecodeError) {
        var failure: DecodeError?
        array.withUnsafeBytes { raw in
            do throws(DecodeError) { try body(UnsafeRawBufferPointer(rebasing: raw[0..<count])) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    func read(at offset: Int64, into buffer: inout [UInt8], count: Int) -> Bool {
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Reads the first `length` bytes in order, a piece at a time.
    func readSequentially(length: Int64, _ body: (Int64, UnsafeRawBufferPointer) throws(DecodeError) -> Void) throws(DecodeError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while offset < length {
            let count = Int(min(Int64(buffer.count), length - offset))
            guard read(at: offset, into: &buffer, count: count) else { throw DecodeError(storage: "cannot read back the boot cache", code: EIO) }
            try Self.withBytes(of: buffer, count: count) { bytes throws(DecodeError) in try body(offset, bytes) }
            offset += Int64(count)
        }
    }

    /// Flushes the file to disk: a payload in the cache must survive a crash whole or not at all.
    func finish() throws(DecodeError) {
        guard fsync(descriptor) == 0 else { throw DecodeError(storage: "cannot flush the boot cache to disk", code: errno) }
    }
}

/// The whole-payload pass of `PayloadVerifier.hashFollowing`: hashes the file from the start
/// up to what the decoder says is complete, waiting for more, until all of it is. The verifier
/// is touched by its thread only until the thread is joined; the joiner reads it after.
final class PrefixHasher: @unchecked Sendable {
    let file: OutputFile
    let verifier: PayloadVerifier
    private(set) var succeeded = false
    /// Bytes complete from the start (written by the decoder), -1 once stopped.
    private let complete = Atomic<Int64>(0)
    private let target: Int64
    private let more = DispatchSemaphore(value: 0)

    private let first: ChecksumPass?

    init(file: OutputFile, verifier: PayloadVerifier, first: ChecksumPass?) {
        self.file = file
        self.verifier = verifier
        self.first = first
        target = verifier.layout.dataSize
    }

    /// The first `bytes` of the file are written and will not change.
    func advance(to bytes: Int64) {
        guard bytes > complete.load(ordering: .acquiring) else { return }
        complete.store(bytes, ordering: .releasing)
        more.signal()
    }

    func stop() {
        complete.store(-1, ordering: .releasing)
        more.signal()
    }

    func run() {
        first?.run()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var hashed: Int64 = 0
        while hashed < target {
            let available = complete.load(ordering: .acquiring)
            if available < 0 { return }
            if available <= hashed {
                more.wait()
                continue
            }
            while hashed < available {
                let count = Int(min(Int64(buffer.count), available - hashed))
                guard file.read(at: hashed, into: &buffer, count: count) else { return }
                buffer.withUnsafeBytes { verifier.take(UnsafeRawBufferPointer(rebasing: $0[0..<count]), at: hashed) }
                hashed += Int64(count)
            }
        }
        succeeded = true
    }
}

/// `PNGImageReader.firstIDATChecksumProblem`, run by the hashing thread beside the decoder. Its
/// result is read after the join.
final class ChecksumPass: @unchecked Sendable {
    let source: any ByteSource
    private(set) var problem: String?
    private let stopping = Atomic<Bool>(false)

    init(source: any ByteSource) { self.source = source }

    func stop() { stopping.store(true, ordering: .relaxed) }

    func run() {
        problem = PNGImageReader.firstIDATChecksumProblem(source, from: PNGImageReader.firstChunkOffset) { stopping.load(ordering: .relaxed) }
    }
}
