import Foundation
import PXECatalog
import PixelRTS

/// Generates large catalogs for benchmarks and scale tests: `count` small containers in folders
/// of 1,000 (text chunks before and after the image data, some compressed), plus `large` sparse
/// containers of `largeBytes` each (a huge IDAT that takes no disk space, metadata after it).
package enum SyntheticCatalog {
    package static func write(to directory: String, count: Int, large: Int, largeBytes: Int64) throws {
        let manager = FileManager.default
        for index in 0..<count {
            let folder = "\(directory)/batch-\(index / 1000)"
            if index % 1000 == 0 { try manager.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            var png = ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource([UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 16)))])
            png.writesMetadata = false
            png.extraTexts = [
                .init("name", "Synthetic image \(index)"),
                .init("kernel_version", "6.1.\(index % 200)", encoding: index % 3 == 0 ? .zTXt : .tEXt),
                .init("distro", ["debian", "alpine", "ubuntu", "fedora"][index % 4], afterImageData: true),
                .init("arch", index % 5 == 0 ? "aarch64" : "x86_64", encoding: .iTXt, afterImageData: true),
            ]
            guard manager.createFile(atPath: "\(folder)/image-\(index).rts.png", contents: Data(try png.encoded())) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: folder])
            }
        }
        if large > 0 { try manager.createDirectory(atPath: "\(directory)/large", withIntermediateDirectories: true) }
        for index in 0..<large {
            try writeSparse(path: "\(directory)/large/big-\(index).rts.png", dataBytes: largeBytes, name: "Large image \(index)")
        }
    }

    /// A valid-looking PNG whose IDAT chunk is `dataBytes` of holes; only its CRC is wrong,
    /// and the reader never reads IDAT, so the file counts as valid.
    static func writeSparse(path: String, dataBytes: Int64, name: String) throws {
        let head = PNGMetadataReader.signature + PNGChunk.make("IHDR", PNGChunk.bigEndian(8192) + PNGChunk.bigEndian(8192) + [8, 6, 0, 0, 0])
            + PNGChunk.make("tEXt", Array("name".utf8) + [0] + Array(name.utf8))
        let length = UInt32(min(dataBytes, 0x7FFF_FFFF))
        let idatHeader = PNGChunk.bigEndian(length) + Array("IDAT".utf8)
        let tail = [0, 0, 0, 0] + PNGChunk.make("tEXt", Array("distro".utf8) + [0] + Array("debian".utf8)) + PNGChunk.make("IEND", [])
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(fd) }
        let start = head + idatHeader
        _ = start.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        _ = tail.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(start.count) + off_t(length)) }
    }
}
