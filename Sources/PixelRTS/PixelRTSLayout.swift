import StrictJSON

/// What a container's PixelRTS v2 metadata says about its payload: how long the pixel stream
/// is, whether it is compressed or carried as base64 (code mode), its hash, its named segments
/// and the kernel command line. Parsed from the metadata JSON; checked against the image later.
public struct PixelRTSLayout: Sendable, Equatable {
    /// A named byte range of the payload (`segments`/`offsets`), with its own SHA-256.
    public struct Segment: Sendable, Equatable {
        public var name: String
        public var start: Int64
        public var end: Int64
        public var sha256: String?
        public var size: Int64 { end - start }

        public init(name: String, start: Int64, end: Int64, sha256: String?) {
            self.name = name
            self.start = start
            self.end = end
            self.sha256 = sha256
        }
    }

    /// `compression` in the metadata: the stated type (informational; the stream's magic decides)
    /// and the size it expands to.
    public struct Compression: Sendable, Equatable {
        public var statedType: String?
        public var originalSize: Int64?
    }

    /// Length of the payload (`data_size`).
    public var dataSize: Int64
    /// Length of the (compressed) pixel stream when it differs from `dataSize` (`encoded_size`).
    public var encodedSize: Int64?
    /// SHA-256 of the payload, lowercase hex (`data_hash`).
    public var dataHash: String?
    public var compression: Compression?
    /// Code mode: the payload as base64 (`original_data_b64`); the pixels are only a picture of it.
    public var codeModeBase64: String?
    /// Segments by start offset. A segment without a start (the converter's single-file
    /// layout) covers the whole payload.
    public var segments: [Segment]
    public var type: String?
    public var kernelCommandLine: String?

    /// Bytes of the pixel stream: `encoded_size` when present, else `data_size`.
    public var streamLength: Int64 { encodedSize ?? dataSize }

    /// The PixelRTS v2 metadata object of a container: the first text chunk whose value is the
    /// magic `PixelRTS` followed by a JSON object (`PixelRTS-Blueprint` is another document).
    public static func metadataObject(in chunks: [PNGTextChunk]) -> JSONValue? {
        let ordered = chunks.filter { $0.keyword == "PixelRTS" } + chunks.filter { $0.keyword != "PixelRTS" }
        for chunk in ordered where chunk.text.hasPrefix("PixelRTS") {
            let rest = chunk.text.dropFirst(8)
            guard rest.first == "{", let value = try? JSONParser.parse(String(rest)), case .object = value else { continue }
            return value
        }
        return nil
    }

    /// Reads the layout from a metadata object; refuses sizes, offsets and hashes that make no sense.
    public init(metadata: JSONValue) throws(DecodeError) {
        func size(_ key: String, in object: JSONValue = metadata) throws(DecodeError) -> Int64? {
            guard let value = object[key], value != .null else { return nil }
            guard let number = Self.integer(value), number >= 0 else {
                throw DecodeError("the metadata's \(key) is not a non-negative integer")
            }
            return number
        }
        guard let dataSize = try size("data_size") else {
            throw DecodeError("the metadata has no data_size, so the payload's length is unknown")
        }
        self.dataSize = dataSize
        encodedSize = try size("encoded_size")
        if let hash = metadata["data_hash"] {
            guard let text = hash.stringValue, Digest.isHex(text.lowercased(), length: 64) else {
                throw DecodeError("the metadata's data_hash is not a SHA-256 in hex")
            }
            dataHash = text.lowercased()
        }
        if let compression = metadata["compression"], compression != .null {
            self.compression = Compression(statedType: compression["type"]?.stringValue ?? compression.stringValue,
                                           originalSize: try size("original_size", in: compression))
            if let original = self.compression?.originalSize, original != dataSize {
                throw DecodeError("the metadata's compression.original_size (\(original)) differs from its data_size (\(dataSize))")
            }
        } else if encodedSize != nil && encodedSize != dataSize {
            throw DecodeError("the metadata has an encoded_size (\(encodedSize!)) different from data_size (\(dataSize)) but no compression")
        }
        if let base64 = metadata["original_data_b64"], base64 != .null {
            guard let text = base64.stringValue else { throw DecodeError("the metadata's original_data_b64 is not a string") }
            codeModeBase64 = text
        }
        type = metadata["type"]?.stringValue
        kernelCommandLine = Self.commandLine(in: metadata)
        segments = try Self.segments(in: metadata, dataSize: dataSize)
    }

    /// `kernel_cmdline`, also one level down (e.g. `original_rts.kernel_cmdline`), else `cmdline`.
    static func commandLine(in metadata: JSONValue) -> String? {
        if let text = metadata["kernel_cmdline"]?.stringValue { return text }
        if case let .object(members) = metadata {
            for (_, value) in members {
                if let text = value["kernel_cmdline"]?.stringValue { return text }
            }
        }
        return metadata["cmdline"]?.stringValue
    }

    static func segments(in metadata: JSONValue, dataSize: Int64) throws(DecodeError) -> [Segment] {
        var hashes: [String: String] = [:]
        if case let .object(members)? = metadata["hashes"] {
            for (name, value) in members {
                if let text = value.stringValue, Digest.isHex(text.lowercased(), length: 64) { hashes[name] = text.lowercased() }
            }
        }
        // `segments` and `offsets` are the same object; a file may carry either or both.
        var found: [String: Segment] = [:]
        var order: [String] = []
        for key in ["segments", "offsets"] {
            guard case let .object(members)? = metadata[key] else { continue }
            for (name, value) in members where found[name] == nil {
                guard case .object = value else { continue }
                let start: Int64, end: Int64
                let size = value["size"].flatMap(integer)
                if let startValue = value["start"] {
                    guard let first = integer(startValue), first >= 0 else { throw DecodeError("segment \(name) has a start that is not a non-negative integer") }
                    start = first
                    if let endValue = value["end"] {
                        guard let last = integer(endValue) else { throw DecodeError("segment \(name) has an end that is not an integer") }
                        end = last
                    } else if let size {
                        end = start + size
                    } else {
                        throw DecodeError("segment \(name) has a start but neither an end nor a size")
                    }
                    if let size, size != end - start { throw DecodeError("segment \(name) says size \(size) but spans \(end - start) bytes") }
                } else {
                    // The converter's single-file layout: the whole payload.
                    start = 0
                    end = size ?? dataSize
                    if end != dataSize { throw DecodeError("segment \(name) has no start and size \(end), but the payload has \(dataSize) bytes") }
                }
                guard start <= end else { throw DecodeError("segment \(name) ends (\(end)) before it starts (\(start))") }
                guard end <= dataSize else { throw DecodeError("segment \(name) (bytes \(start)..<\(end)) lies outside the \(dataSize)-byte payload") }
                var sha256: String?
                if let text = value["sha256"]?.stringValue {
                    guard Digest.isHex(text.lowercased(), length: 64) else { throw DecodeError("segment \(name) has a sha256 that is not a SHA-256 in hex") }
                    sha256 = text.lowercased()
                }
                if let listed = hashes[name] {
                    if let own = sha256, own != listed { throw DecodeError("segment \(name) has two different SHA-256 values (in its entry and in hashes)") }
                    sha256 = listed
                }
                found[name] = Segment(name: name, start: start, end: end, sha256: sha256)
                order.append(name)
            }
        }
        let sorted = order.compactMap { found[$0] }.sorted { ($0.start, $0.end) < ($1.start, $1.end) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.start < a.end && !(a.start == 0 && a.end == dataSize) && !(b.start == 0 && b.end == dataSize) {
            throw DecodeError("segments \(a.name) (bytes \(a.start)..<\(a.end)) and \(b.name) (bytes \(b.start)..<\(b.end)) overlap")
        }
        return sorted
    }

    /// An integer from a JSON number or a string of digits (producers write both).
    static func integer(_ value: JSONValue) -> Int64? {
        if let number = value.intValue { return number }
        if case let .double(number) = value, number == number.rounded(), abs(number) < 9e15 { return Int64(number) }
        if let text = value.stringValue, !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) { return Int64(text) }
        return nil
    }
}
