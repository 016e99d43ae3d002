import PXECatalog
import PixelRTS
import StrictJSON

/// PNG files with chosen metadata, for tests. Built with the project's own `PNGWriter`.
public enum PNGFixtures {
    /// A small valid PNG carrying `texts`.
    public static func png(_ texts: [PNGWriter.Text] = [], side: Int = 4) -> [UInt8] {
        PNGWriter(width: side, height: side, pixels: Array(repeating: 0x5A, count: side * side * 4), texts: texts).encode()
    }

    /// A valid PNG with a `name` text chunk.
    public static func named(_ name: String) -> [UInt8] {
        png([PNGWriter.Text("name", name)])
    }

    /// A PixelRTS v2 container holding `payload` (made by the real encoder), with extra fields in its JSON.
    public static func pixelRTS(payload: [UInt8] = Array(0..<200), fields: [(String, JSONValue)] = [],
                                compression: ContainerEncoder.Compression? = nil) -> [UInt8] {
        try! ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource(payload))], fields: fields, compression: compression).encoded()
    }

    /// A container with named parts (segments), e.g. `[("kernel", k), ("initrd", i)]`.
    public static func pixelRTS(parts: [(String, [UInt8])], fields: [(String, JSONValue)] = [],
                                compression: ContainerEncoder.Compression? = nil) -> [UInt8] {
        try! ContainerEncoder(parts: parts.map { .init(name: $0.0, source: MemoryByteSource($0.1)) }, fields: fields, compression: compression).encoded()
    }

    /// Splits a PNG into its chunks (type, full chunk bytes), after the signature.
    public static func chunks(of png: [UInt8]) -> [(type: String, bytes: [UInt8])] {
        var result: [(String, [UInt8])] = []
        var offset = 8
        while offset + 12 <= png.count {
            let length = Int(png[offset]) << 24 | Int(png[offset + 1]) << 16 | Int(png[offset + 2]) << 8 | Int(png[offset + 3])
            let type = String(decoding: png[(offset + 4)..<(offset + 8)], as: UTF8.self)
            result.append((type, Array(png[offset..<(offset + 12 + length)])))
            offset += 12 + length
        }
        return result
    }

    /// Reassembles a PNG from the signature and chunk bytes.
    public static func assemble(_ chunks: [[UInt8]]) -> [UInt8] {
        PNGMetadataReader.signature + chunks.flatMap { $0 }
    }
}
