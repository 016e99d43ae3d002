import Foundation
import StrictJSON

/// `pxe-catalog inspect` and `unpack`: what a container holds, as JSON: its metadata (as the
/// catalog maps it, and the PixelRTS v2 object itself, with base64 payloads elided) and the boot
/// verdict, which needs the payload decoded and verified.
public enum ContainerInspection {
    /// Decodes `path` into `directory` (the payload, and the parts its plan names when
    /// `writingParts`) and describes it. `directory` receives `payload` and, with parts,
    /// `kernel`, `initrd`, `disk.img`.
    public static func report(containerAt path: String, fileName: String, decodingInto directory: String,
                              writingParts: Bool, limits: PayloadDecoder.Limits = PayloadDecoder.Limits()) -> JSONValue {
        guard let source = FileByteSource(path: path, readingHead: false) else {
            return .object([("file", .string(fileName)), ("valid", .bool(false)), ("problem", .string("the file cannot be opened as a regular file"))])
        }
        var readerLimits = PNGMetadataReader.Limits()
        readerLimits.maximumTextChunkBytes = limits.maximumMetadataBytes
        readerLimits.maximumInflatedBytes = limits.maximumMetadataBytes
        readerLimits.maximumTextBytesPerFile = limits.maximumMetadataBytes
        let inspection = PNGMetadataReader(limits: readerLimits).inspect(source)
        let metadata = ContainerMetadata.from(textChunks: inspection.textChunks)
        var members: [(String, JSONValue)] = [
            ("file", .string(fileName)),
            ("size", .int(source.size)),
            ("valid", .bool(inspection.problem == nil)),
            ("problem", .string(orNull: inspection.problem)),
            ("image", inspection.width.map { width in .object([("width", .int(Int64(width))), ("height", .int(Int64(inspection.height ?? 0)))]) } ?? .null),
            ("metadata", .object([
                ("name", .string(orNull: metadata.name)), ("type", .string(orNull: metadata.type)),
                ("distro", .string(orNull: metadata.distro)), ("kernel_version", .string(orNull: metadata.kernelVersion)),
                ("architecture", .string(orNull: metadata.architecture)), ("description", .string(orNull: metadata.description)),
                ("content_version", .string(orNull: metadata.contentVersion)), ("format", .string(orNull: metadata.format)),
                ("data_size", .int(orNull: metadata.dataSize)), ("data_hash", .string(orNull: metadata.dataHash)),
                ("kernel_cmdline", .string(orNull: metadata.kernelCommandLine)),
                ("warnings", .array(metadata.warnings.map(JSONValue.string))),
            ])),
            ("pixelrts", PixelRTSLayout.metadataObject(in: inspection.textChunks).map(elidingLongStrings) ?? .null),
        ]
        let payloadPath = directory + "/payload"
        do {
            let result = try PayloadDecoder(limits: limits).decode(source, to: payloadPath)
            var parts: [(String, JSONValue)] = [("payload", .object([("file", .string("payload")), ("start", .int(0)), ("size", .int(result.payloadSize))]))]
            for (name, fileName, range) in [("kernel", "kernel", result.plan.kernel), ("initrd", "initrd", result.plan.initrd), ("disk", "disk.img", result.plan.disk)] {
                guard let range else { continue }
                if writingParts { try copy(payloadPath, range: range, to: directory + "/" + fileName) }
                parts.append((name, .object([("file", .string(fileName)), ("start", .int(range.lowerBound)), ("size", .int(Int64(range.count)))])))
            }
            if !writingParts { unlink(payloadPath) }
            members.append(("boot", .object([
                ("verified", .bool(true)),
                ("kind", .string(result.plan.kind.rawValue)),
                ("problem", .string(orNull: result.plan.reason)),
                ("cmdline", .string(orNull: result.plan.commandLine)),
                ("payload_sha256", .string(result.sha256)),
                ("transposed", .bool(result.transposed)),
                ("compressed", .bool(result.layout.compression != nil)),
                ("code_mode", .bool(result.layout.codeModeBase64 != nil)),
                ("parts", .object(parts)),
            ])))
        } catch {
            unlink(payloadPath)
            members.append(("boot", .object([
                ("verified", .bool(false)), ("kind", .string(BootPlan.Kind.none.rawValue)), ("problem", .string(error.description)),
            ])))
        }
        return .object(members)
    }

    /// Base64 payloads (code mode) are megabytes of nothing to read: shown by their length.
    static func elidingLongStrings(_ value: JSONValue) -> JSONValue {
        switch value {
        case let .string(text) where text.utf8.count > 256: return .string("(\(text.utf8.count) characters)")
        case let .array(items): return .array(items.map(elidingLongStrings))
        case let .object(members): return .object(members.map { ($0.0, elidingLongStrings($0.1)) })
        default: return value
        }
    }

    static func copy(_ source: String, range: Range<Int64>, to target: String) throws(DecodeError) {
        let input = try OutputFile(path: source, truncating: false)
        let output = try OutputFile(path: target)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = range.lowerBound
        while offset < range.upperBound {
            let count = Int(min(Int64(buffer.count), range.upperBound - offset))
            guard input.read(at: offset, into: &buffer, count: count) else { throw DecodeError.storage("cannot read the payload back", code: EIO) }
            try output.write(buffer, count: count, at: offset - range.lowerBound)
            offset += Int64(count)
        }
        try output.finish()
    }
}
