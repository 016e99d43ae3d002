import Foundation
import PixelRTS
import StrictJSON

/// A small catalog for `make run` and first-time users, written with the project's own encoder:
/// containers that boot (a Linux kernel and busybox initramfs, when `bootParts` holds them, see
/// `deploy/dev/boot-parts.sh`; a disk image whose boot sector prints a line), and examples named
/// "Example: ..." of what the catalog lists but never offers to boot: a PixelRTS v2 container of
/// plain data, a plain PNG with plain text keys (compressed, after the image data), a file name
/// with spaces and non-ASCII characters, and a truncated file that shows up invalid.
package enum DemoCatalog {
    /// The line the demo disk image's boot sector prints.
    package static let diskMarker = "PXE-CATALOG-DISK-BOOTED name=demo-disk"
    /// The containers that boot, by file name (the Linux one only when its parts were given).
    package static let linuxFile = "demo-linux.rts.png"
    package static let diskFile = "demo-disk.rts.png"

    /// Returns what could not be made (the Linux container when `bootParts` lacks its parts).
    @discardableResult
    package static func write(to directory: String, bootParts: String? = nil) throws -> [String] {
        let manager = FileManager.default
        try manager.createDirectory(atPath: directory + "/lab", withIntermediateDirectories: true)
        var missing: [String] = []
        if let bootParts, let kernel = FileByteSource(path: bootParts + "/vmlinuz", readingHead: false),
           let initrd = FileByteSource(path: bootParts + "/initrd.img", readingHead: false) {
            let version = (try? String(contentsOfFile: bootParts + "/kernel-version", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            // no_timer_check: QEMU without KVM on a busy host delivers timer ticks late enough for
            // the kernel's IO-APIC timer check to panic.
            var fields: [(String, JSONValue)] = [
                ("type", .string("linux")), ("name", .string("Demo Linux (Debian kernel, busybox)")),
                ("description", .string("Prints a line naming itself and powers off")), ("distro", .string("debian")),
                ("architecture", .string("x86_64")), ("kernel_cmdline", .string("console=ttyS0 panic=-1 no_timer_check pxe_name=demo-linux")),
            ]
            if let version { fields.append(("kernel_version", .string(version))) }
            try ContainerEncoder(parts: [.init(name: "kernel", source: kernel), .init(name: "initrd", source: initrd)], fields: fields)
                .write(to: directory + "/" + linuxFile)
        } else {
            missing.append("the Linux demo (no kernel and initramfs in \(bootParts ?? "(none given)"); see deploy/dev/boot-parts.sh)")
        }
        try ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource(bootSector(printing: diskMarker)))],
                             fields: [("type", .string("disk")), ("name", .string("Demo disk (boot sector)")),
                                      ("description", .string("A boot sector that prints a line (BIOS only)"))])
            .write(to: directory + "/" + diskFile)

        // Examples of what the catalog lists but never offers to boot, named as what they are so
        // that nobody takes them for an operating system that fails.
        // A PixelRTS v2 container whose payload is plain data. Over 632 KiB: iPXE would run a
        // smaller unrecognised image as a PXE program and hang.
        let dataOnly = ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource(deterministicBytes(count: 768 * 1024, seed: 1)))], fields: [
            ("type", .string("data")), ("name", .string("Example: metadata only, nothing to boot")),
            ("description", .string("A PixelRTS v2 container of plain data: listed with its metadata, never offered to boot")),
            ("content_version", .string("1.0")), ("architecture", .string("x86_64")),
        ])
        try dataOnly.write(to: directory + "/example-metadata-only.rts.png")

        // A plain PNG (no PixelRTS metadata) whose keys are text chunks of every kind: tEXt, zTXt,
        // and iTXt after the image data.
        var plainPNG = ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource(deterministicBytes(count: 64 * 64 * 4, seed: 2)))])
        plainPNG.writesMetadata = false
        plainPNG.extraTexts = [
            .init("name", "Example: plain PNG with text keys, nothing to boot"),
            .init("description", "Keys in tEXt, zTXt and iTXt chunks, some after the image data", encoding: .zTXt),
            .init("content_version", "2.0", encoding: .iTXt, afterImageData: true),
            .init("arch", "x86_64", afterImageData: true),
        ]
        try plainPNG.write(to: directory + "/example-plain-png.rts.png")

        // A file name with spaces, non-ASCII letters and a `#` (the name falls back to it), in a
        // folder, with `pixelrts.`-prefixed keys.
        var awkward = ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource(deterministicBytes(count: 32 * 32 * 4, seed: 3)))])
        awkward.writesMetadata = false
        awkward.extraTexts = [.init("pixelrts.description", "The name comes from the file name"), .init("pixelrts.arch", "aarch64")]
        try awkward.write(to: directory + "/lab/Example, file name with spaces, é and #3.rts.png")

        var broken = ContainerEncoder(parts: [.init(name: "payload", source: MemoryByteSource([1, 2, 3]))])
        broken.writesMetadata = false
        broken.extraTexts = [.init("name", "Example: half-copied file")]
        try write(Array(broken.encoded().dropLast(20)), to: directory + "/lab/half-copied.rts.png")

        try write(Array("{\"note\": \"a sidecar file, never a container\"}".utf8), to: directory + "/example-metadata-only.rts.png.meta.json")
        return missing
    }

    /// A 512-byte MBR that prints `message` with BIOS int 10h (SeaBIOS mirrors it to the serial
    /// port), waits a moment, then asks QEMU to exit through its isa-debug-exit port (ignored
    /// elsewhere) and halts.
    package static func bootSector(printing message: String) -> [UInt8] {
        let code: [UInt8] = [
            0x31, 0xC0,             // xor ax, ax
            0x8E, 0xD8,             // mov ds, ax
            0xBE, 0x28, 0x7C,       // mov si, 0x7c28 (the message, after this code)
            0xAC,                   // lodsb            (loop)
            0x84, 0xC0,             // test al, al
            0x74, 0x09,             // jz done
            0xB4, 0x0E,             // mov ah, 0x0e     (teletype output)
            0xBB, 0x07, 0x00,       // mov bx, 0x0007
            0xCD, 0x10,             // int 0x10
            0xEB, 0xF2,             // jmp loop
            0xB4, 0x86,             // mov ah, 0x86     (done: wait 0.2 s, so the serial port
            0xB9, 0x03, 0x00,       // mov cx, 0x0003    sends the line before QEMU exits)
            0xBA, 0x40, 0x0D,       // mov dx, 0x0d40
            0xCD, 0x15,             // int 0x15
            0xBA, 0xF4, 0x00,       // mov dx, 0xf4
            0xB0, 0x31,             // mov al, 0x31
            0xEE,                   // out dx, al
            0xF4,                   // hlt              (hang)
            0xEB, 0xFD,             // jmp hang
        ]
        var sector = code + Array((message + "\r\n").utf8.prefix(400)) + [0]
        sector += [UInt8](repeating: 0, count: 510 - sector.count)
        return sector + [0x55, 0xAA]
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    /// Reproducible pseudo-random bytes (xorshift), so the demo catalog is the same every time.
    package static func deterministicBytes(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }
}
