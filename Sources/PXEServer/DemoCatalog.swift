import Foundation
import PixelRTS
import StrictJSON

/// A small catalog for `make run` and first-time users, written with the project's own encoder:
/// a PixelRTS v2 container, a plain PNG with plain text keys (compressed, after the image data),
/// a file name with spaces and non-ASCII characters, and a truncated file that shows up invalid.
public enum DemoCatalog {
    public static func write(to directory: String) throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: directory + "/lab", withIntermediateDirectories: true)

        // Over 632 KiB: iPXE would run a smaller unrecognised image as a PXE program and hang.
        let alpine = ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource(deterministicBytes(count: 768 * 1024, seed: 1)))], fields: [
            ("type", .string("linux-container")), ("name", .string("Alpine Linux 3.20")),
            ("description", .string("Minimal Alpine rescue system")), ("content_version", .string("3.20.3")),
            ("distro", .string("alpine")), ("kernel_version", .string("6.6.58-0-lts")), ("architecture", .string("x86_64")),
        ])
        try alpine.write(to: directory + "/alpine-3.20.rts.png")

        var ubuntu = ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource(deterministicBytes(count: 64 * 64 * 4, seed: 2)))])
        ubuntu.writesMetadata = false
        ubuntu.extraTexts = [
            .init("name", "Ubuntu 24.04 LTS installer"),
            .init("kernel_version", "6.8.0-45-generic", encoding: .zTXt),
            .init("distro", "ubuntu", encoding: .iTXt, afterImageData: true),
            .init("arch", "x86_64", afterImageData: true),
        ]
        try ubuntu.write(to: directory + "/ubuntu-24.04.rts.png")

        var lab = ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource(deterministicBytes(count: 32 * 32 * 4, seed: 3)))])
        lab.writesMetadata = false
        lab.extraTexts = [.init("pixelrts.distro", "debian"), .init("pixelrts.arch", "aarch64")]
        try lab.write(to: directory + "/lab/Débian 12 (lab #3).rts.png")

        var broken = ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource([1, 2, 3]))])
        broken.writesMetadata = false
        broken.extraTexts = [.init("name", "Half-copied image")]
        try write(Array(broken.encoded().dropLast(20)), to: directory + "/lab/half-copied.rts.png")

        try write(Array("{\"note\": \"a sidecar file, never a container\"}".utf8), to: directory + "/alpine-3.20.rts.png.meta.json")
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    /// Reproducible pseudo-random bytes (xorshift), so the demo catalog is the same every time.
    public static func deterministicBytes(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }
}
