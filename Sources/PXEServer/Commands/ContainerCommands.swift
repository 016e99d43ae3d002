import ArgumentParser
import Foundation
import PixelRTS
import StrictJSON

/// `pxe-catalog pack`: make a PixelRTS v2 container.
struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a PixelRTS v2 container from a kernel and initrd, a disk image, or named segments.",
        discussion: """
        Exactly one kind of content: --kernel (with an optional --initrd and --cmdline), --disk, \
        or one or more --segment NAME=FILE. The format's reference decoder reads the result back.

        Examples:
          pxe-catalog pack rescue.rts.png --kernel vmlinuz --initrd initrd.img --cmdline "console=ttyS0" --name "Rescue"
          pxe-catalog pack freedos.rts.png --disk freedos.img --name "FreeDOS"
        """)

    @Argument(help: ArgumentHelp("The container to write (.rts.png).", valueName: "output")) var output: String
    @Option(help: ArgumentHelp("A Linux kernel (bzImage).", valueName: "file")) var kernel: String?
    @Option(help: ArgumentHelp("An initrd/initramfs for --kernel.", valueName: "file")) var initrd: String?
    @Option(help: ArgumentHelp("The kernel command line, stored as kernel_cmdline.", valueName: "text")) var cmdline: String?
    @Option(help: ArgumentHelp("A raw disk image (booted by HTTP SAN boot).", valueName: "file")) var disk: String?
    @Option(name: .customLong("segment"), help: ArgumentHelp("A named part of the payload; repeat for more.", valueName: "name=file"))
    var segments: [String] = []
    @Option(help: "Metadata: the container's name.") var name: String?
    @Option(help: "Metadata: the distribution.") var distro: String?
    @Option(help: ArgumentHelp("Metadata: the kernel's version.", valueName: "version")) var kernelVersion: String?
    @Option(help: "Metadata: the architecture (x86_64, aarch64, ...).") var architecture: String?
    @Option(help: "Metadata: a description.") var description: String?
    @Option(help: ArgumentHelp("Metadata: the version of the content.", valueName: "version")) var contentVersion: String?
    @Option(help: ArgumentHelp("Metadata: the type (default: linux with --kernel, disk with --disk).", valueName: "type")) var type: String?
    @Option(name: .customLong("field"), help: ArgumentHelp("Any other metadata key with a string value; repeat for more.", valueName: "key=value"))
    var fields: [String] = []
    @Option(help: ArgumentHelp("Compress the payload in the pixels: zlib or zstd.", valueName: "method")) var compress: ContainerEncoder.Compression?

    func validate() throws {
        let kinds = [kernel != nil, disk != nil, !segments.isEmpty].filter { $0 }.count
        guard kinds == 1 else { throw ValidationError("Give exactly one of --kernel, --disk or --segment.") }
        if kernel == nil && (initrd != nil || cmdline != nil) { throw ValidationError("--initrd and --cmdline go with --kernel.") }
        for segment in segments where segment.split(separator: "=", maxSplits: 1).count != 2 {
            throw ValidationError("--segment \(segment) is not NAME=FILE.")
        }
        for field in fields where field.split(separator: "=", maxSplits: 1).count != 2 {
            throw ValidationError("--field \(field) is not KEY=VALUE.")
        }
    }

    func run() throws {
        var named: [(String, String)] = []
        if let kernel { named.append(("kernel", kernel)) }
        if let initrd { named.append(("initrd", initrd)) }
        if let disk { named.append(("payload", disk)) }
        for segment in segments {
            let parts = segment.split(separator: "=", maxSplits: 1).map(String.init)
            named.append((parts[0], parts[1]))
        }
        var parts: [ContainerEncoder.Part] = []
        for (partName, path) in named {
            guard let source = FileByteSource(path: path, readingHead: false) else {
                PXECatalogCommand.printError("Cannot read \(path): it does not exist or is not a regular file.")
                throw ExitCode.failure
            }
            parts.append(.init(name: partName, source: source))
        }
        var metadata: [(String, JSONValue)] = []
        let effectiveType = type ?? (kernel != nil ? "linux" : disk != nil ? "disk" : nil)
        for (key, value) in [("type", effectiveType), ("name", name), ("description", description), ("distro", distro),
                             ("kernel_version", kernelVersion), ("architecture", architecture), ("content_version", contentVersion),
                             ("kernel_cmdline", cmdline)] {
            if let value { metadata.append((key, .string(value))) }
        }
        for field in fields {
            let pair = field.split(separator: "=", maxSplits: 1).map(String.init)
            metadata.append((pair[0], .string(pair[1])))
        }
        do {
            let summary = try ContainerEncoder(parts: parts, fields: metadata, compression: compress).write(to: output)
            let compressed = summary.encodedSize.map { ", \($0) bytes compressed" } ?? ""
            print("Wrote \(output): \(summary.side)x\(summary.side) pixels, payload \(summary.dataSize) bytes\(compressed), sha256 \(summary.dataHash).")
        } catch {
            PXECatalogCommand.printError("Cannot write \(output): \(error)")
            throw ExitCode.failure
        }
    }
}

extension ContainerEncoder.Compression: ExpressibleByArgument {}

/// `pxe-catalog unpack`: write what a container holds into a directory.
struct Unpack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode and verify a container; write its payload and boot parts into a directory and say what it found.")

    @Argument(help: ArgumentHelp("The container.", valueName: "file")) var file: String
    @Argument(help: ArgumentHelp("Where to write payload, kernel, initrd, disk.img (created if missing).", valueName: "directory")) var directory: String

    func run() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let report = ContainerInspection.report(containerAt: file, fileName: (file as NSString).lastPathComponent,
                                                decodingInto: directory, writingParts: true)
        guard report["boot"]?["verified"] == .bool(true) else {
            PXECatalogCommand.printError("\(file): \(report["boot"]?["problem"]?.stringValue ?? report["problem"]?.stringValue ?? "cannot be decoded").")
            throw ExitCode.failure
        }
        let boot = report["boot"]!
        var lines = ["\(file): verified (sha256 \(boot["payload_sha256"]?.stringValue ?? "")), boots as \(boot["kind"]?.stringValue ?? "none")."]
        if let problem = boot["problem"]?.stringValue { lines.append("  not bootable: \(problem)") }
        if case let .object(parts)? = boot["parts"] {
            for (name, part) in parts {
                lines.append("  \(name): \(directory)/\(part["file"]?.stringValue ?? name) (\(part["size"]?.intValue ?? 0) bytes)")
            }
        }
        if let cmdline = boot["cmdline"]?.stringValue { lines.append("  command line: \(cmdline)") }
        print(lines.joined(separator: "\n"))
    }
}

/// `pxe-catalog inspect`: the metadata and the boot verdict as JSON.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a container's metadata and boot verdict as JSON (decodes and verifies it; writes nothing).")

    @Argument(help: ArgumentHelp("The container.", valueName: "file")) var file: String

    func run() throws {
        let scratch = NSTemporaryDirectory() + "/pxe-catalog-inspect-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let report = ContainerInspection.report(containerAt: file, fileName: (file as NSString).lastPathComponent,
                                                decodingInto: scratch, writingParts: false)
        FileHandle.standardOutput.write(Data(report.serialized(pretty: true)))
        if report["boot"]?["verified"] != .bool(true) { throw ExitCode.failure }
    }
}

/// `pxe-catalog bench-decode FILE` (used by bench/): decodes and verifies a container in this
/// process, writes the payload to a scratch directory, and prints JSON with the time it took.
struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-decode", abstract: "Time decoding and verifying one container; print JSON (used by bench/).",
                                                    shouldDisplay: false)

    @Argument var file: String
    @Option var scratch: String = NSTemporaryDirectory()

    func run() throws {
        guard let source = FileByteSource(path: file, readingHead: false) else { throw ExitCode.failure }
        let directory = scratch + "/pxe-catalog-bench-decode-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let started = ContinuousClock.now
        let result = try PayloadDecoder().decode(source, to: directory + "/payload")
        let seconds = ProcessTuning.seconds(ContinuousClock.now - started)
        print(JSONValue.object([("payload_bytes", .int(result.payloadSize)), ("seconds", .double(seconds)),
                                ("sha256", .string(result.sha256)), ("max_rss_bytes", .int(Int64(ProcessTuning.peakResidentSetBytes())))]).serializedString())
    }
}

/// `pxe-catalog bench-hash FILE` (used by bench/): SHA-256 of a file through the same digest the
/// decoder uses, timed in this process.
struct BenchHash: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-hash", abstract: "Time SHA-256 of one file; print JSON (used by bench/).",
                                                    shouldDisplay: false)

    @Argument var file: String

    func run() throws {
        guard let source = FileByteSource(path: file, readingHead: false) else { throw ExitCode.failure }
        let started = ContinuousClock.now
        let digest = Digest(.sha256)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while offset < source.size {
            let count = Int(min(Int64(buffer.count), source.size - offset))
            guard source.read(at: offset, into: &buffer, count: count) else { throw ExitCode.failure }
            buffer.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            offset += Int64(count)
        }
        let hash = digest.finalizeHex()
        print(JSONValue.object([("bytes", .int(source.size)), ("seconds", .double(ProcessTuning.seconds(ContinuousClock.now - started))),
                                ("sha256", .string(hash))]).serializedString())
    }
}
