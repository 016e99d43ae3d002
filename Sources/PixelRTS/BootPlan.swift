/// What a container can boot, decided from its metadata and its (verified) payload.
public struct BootPlan: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A Linux kernel (and usually an initrd) that iPXE loads with `kernel`/`initrd`/`boot`.
        case linux
        /// A raw disk image that iPXE boots by HTTP SAN boot (`sanboot`).
        case disk
        case none
    }

    public var kind: Kind
    /// Byte ranges of the payload.
    public var kernel: Range<Int64>?
    public var initrd: Range<Int64>?
    public var disk: Range<Int64>?
    public var commandLine: String?
    /// Why the container boots nothing (kind `none`), as one sentence.
    public var reason: String?

    public init(kind: Kind, kernel: Range<Int64>? = nil, initrd: Range<Int64>? = nil, disk: Range<Int64>? = nil,
                commandLine: String? = nil, reason: String? = nil) {
        self.kind = kind
        self.kernel = kernel
        self.initrd = initrd
        self.disk = disk
        self.commandLine = commandLine
        self.reason = reason
    }

    public static let kernelNames: Set<String> = ["kernel", "vmlinuz", "vmlinux", "bzImage"]
    public static let initrdNames: Set<String> = ["initrd", "initramfs", "initrd.img"]

    /// `head`: the first bytes of the payload (at least 1 KiB when the payload has that many).
    public static func decide(layout: PixelRTSLayout, payloadSize: Int64, head: [UInt8]) -> BootPlan {
        let kernel = layout.segments.first { kernelNames.contains($0.name) }
        let initrd = layout.segments.first { initrdNames.contains($0.name) }
        if let kernel {
            return BootPlan(kind: .linux, kernel: kernel.start..<kernel.end, initrd: initrd.map { $0.start..<$0.end },
                            commandLine: layout.kernelCommandLine)
        }
        let isBzImage = head.count >= 0x206 && Array(head[0x202..<0x206]) == Array("HdrS".utf8)
        if isBzImage && layout.type?.lowercased() == "kernel" {
            return BootPlan(kind: .linux, kernel: 0..<payloadSize, initrd: initrd.map { $0.start..<$0.end }, commandLine: layout.kernelCommandLine)
        }
        let hasBootSignature = head.count >= 512 && head[510] == 0x55 && head[511] == 0xAA
        if hasBootSignature || layout.type?.lowercased() == "disk" {
            return BootPlan(kind: .disk, disk: 0..<payloadSize)
        }
        var reason = "the payload is \(ByteCount.text(payloadSize)) of data with no kernel segment and no boot sector"
        if isBzImage { reason = "the payload is a Linux kernel (bzImage) but its type is \(layout.type.map { "\"\($0)\"" } ?? "not set"), not \"kernel\"" }
        return BootPlan(kind: .none, reason: reason)
    }

}

/// Byte counts in sentences: 512 bytes, 48.0 KB, 1.2 MB, 3.4 GB (decimal units).
public enum ByteCount {
    public static func text(_ bytes: Int64) -> String {
        if bytes < 1000 { return "\(bytes) bytes" }
        let units = ["KB", "MB", "GB", "TB"]
        var value = Double(bytes) / 1000
        var unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return "\((value * 10).rounded() / 10) \(units[unit])"
    }
}
