/// Helpers shared by the fuzz targets.
enum FuzzSupport {
    /// Rewrites the CRC of every complete chunk after the 8-byte signature.
    static func repairingCRCs(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        var offset = 8
        while offset + 12 <= bytes.count {
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard length <= bytes.count - offset - 12 else { break }
            let crc = Zlib.crc32(bytes[(offset + 4)..<(offset + 8 + length)])
            bytes.replaceSubrange((offset + 8 + length)..<(offset + 12 + length), with: PNGChunk.bigEndian(crc))
            offset += 12 + length
        }
        return bytes
    }
}
