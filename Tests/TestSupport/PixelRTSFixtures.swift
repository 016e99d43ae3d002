import Foundation
import PixelRTS
import StrictJSON

/// PixelRTS v2 containers built without the project's encoder: pixels placed with the plain
/// curve formula (checked against the format's known sequences), rows filtered as asked, any
/// metadata, so the decoder is tested against an independent writer and against broken files.
public enum PixelRTSFixtures {
    /// `stream`: the bytes the pixels carry (the payload, or its compressed form); `side`: the
    /// image side (default: the smallest power of two that holds the stream); `metadata`: the
    /// JSON object (default: data_size and data_hash of `stream`).
    public static func container(stream: [UInt8], side: Int? = nil, metadata: JSONValue? = nil, filters: [UInt8] = [0],
                                 transposed: Bool = false, idatChunkBytes: Int = .max) -> [UInt8] {
        writer(stream: stream, side: side, metadata: metadata, filters: filters, transposed: transposed, idatChunkBytes: idatChunkBytes).encode()
    }

    public static func writer(stream: [UInt8], side: Int? = nil, metadata: JSONValue? = nil, filters: [UInt8] = [0],
                              transposed: Bool = false, idatChunkBytes: Int = .max) -> PNGWriter {
        let pixelsNeeded = max(1, (stream.count + 3) / 4)
        var n = side ?? 1
        if side == nil { while n * n < pixelsNeeded { n *= 2 } }
        var pixels = [UInt8](repeating: 0, count: n * n * 4)
        for pixel in 0..<min(pixelsNeeded, n * n) {
            let (x, y) = HilbertCurve.coordinates(of: pixel, side: n)
            let (column, row) = transposed ? (y, x) : (x, y)
            for byte in 0..<4 where pixel * 4 + byte < stream.count {
                pixels[(row * n + column) * 4 + byte] = stream[pixel * 4 + byte]
            }
        }
        let json = metadata ?? defaultMetadata(payload: stream)
        var writer = PNGWriter(width: n, height: n, pixels: pixels, texts: [.init("PixelRTS", "PixelRTS" + json.serializedString())])
        writer.filters = filters
        writer.idatChunkBytes = idatChunkBytes
        return writer
    }

    public static func defaultMetadata(payload: [UInt8], extra: [(String, JSONValue)] = []) -> JSONValue {
        .object([("format", .string("PixelRTS-2.0")), ("format_version", .int(2)),
                 ("data_size", .int(Int64(payload.count))), ("data_hash", .string(Digest.hex(.sha256, of: payload)))] + extra)
    }

    /// Reproducible bytes that do not compress (xorshift).
    public static func noise(count: Int, seed: UInt64 = 1) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }
}
