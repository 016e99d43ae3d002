import StrictJSON

/// The metadata the catalog exposes for a container, mapped from its PNG text chunks.
///
/// The fields most files carry are stored inline; the rest (mostly PixelRTS v2 fields) live in
/// a copy-on-write box that plain files never allocate, which keeps 100,000 entries small.
public struct ContainerMetadata: Sendable, Equatable {
    public var name: String?
    public var kernelVersion: String?
    public var distro: String?
    public var architecture: String?
    public var gridSize: Int64?
    public var dataSize: Int64?
    private var extended: Extended?

    public init() {}

    final class Extended: @unchecked Sendable, Equatable {
        // Mutated only while uniquely referenced (see `updateExtended`).
        var format: String?
        var formatVersion: JSONValue?
        var type: String?
        var description: String?
        var contentVersion: String?
        var dataHash: String?
        var kernelCommandLine: String?
        var warnings: [String] = []

        init() {}

        init(copying other: Extended) {
            format = other.format
            formatVersion = other.formatVersion
            type = other.type
            description = other.description
            contentVersion = other.contentVersion
            dataHash = other.dataHash
            kernelCommandLine = other.kernelCommandLine
            warnings = other.warnings
        }

        static func == (a: Extended, b: Extended) -> Bool {
            a.format == b.format && a.formatVersion == b.formatVersion && a.type == b.type && a.description == b.description
                && a.contentVersion == b.contentVersion && a.dataHash == b.dataHash
                && a.kernelCommandLine == b.kernelCommandLine && a.warnings == b.warnings
        }
    }

    private mutating func updateExtended(_ change: (Extended) -> Void) {
        if extended == nil {
            extended = Extended()
        } else if !isKnownUniquelyReferenced(&extended!) {
            extended = Extended(copying: extended!)
        }
        change(extended!)
    }

    public var format: String? {
        get { extended?.format }
        set { updateExtended { $0.format = newValue } }
    }
    /// As the metadata holds it: a number (PixelRTS v2 writes 2), or text from other producers.
    public var formatVersion: JSONValue? {
        get { extended?.formatVersion }
        set { updateExtended { $0.formatVersion = newValue } }
    }
    public var type: String? {
        get { extended?.type }
        set { updateExtended { $0.type = newValue } }
    }
    public var description: String? {
        get { extended?.description }
        set { updateExtended { $0.description = newValue } }
    }
    public var contentVersion: String? {
        get { extended?.contentVersion }
        set { updateExtended { $0.contentVersion = newValue } }
    }
    public var dataHash: String? {
        get { extended?.dataHash }
        set { updateExtended { $0.dataHash = newValue } }
    }
    /// The container's own kernel command line (`kernel_cmdline`, also nested, or `cmdline`).
    public var kernelCommandLine: String? {
        get { extended?.kernelCommandLine }
        set { updateExtended { $0.kernelCommandLine = newValue } }
    }
    /// Things worth telling the admin that do not make the file invalid (e.g. unparsable PixelRTS JSON).
    public var warnings: [String] {
        get { extended?.warnings ?? [] }
        set { updateExtended { $0.warnings = newValue } }
    }
}

extension ContainerMetadata {
    /// Plain text keys (lowercased) and the field each one fills. Immutable; key paths are not
    /// marked Sendable in the standard library, hence `nonisolated(unsafe)`.
    nonisolated(unsafe) static let plainKeys: [String: WritableKeyPath<ContainerMetadata, String?>] = [
        "name": \.name, "pixelrts.name": \.name,
        "kernel_version": \.kernelVersion, "kernel": \.kernelVersion,
        "pixelrts.kernel": \.kernelVersion, "pixelrts.kernel_version": \.kernelVersion,
        "distro": \.distro, "pixelrts.distro": \.distro,
        "architecture": \.architecture, "arch": \.architecture,
        "pixelrts.arch": \.architecture, "pixelrts.architecture": \.architecture,
        "description": \.description, "pixelrts.description": \.description,
        "type": \.type, "pixelrts.type": \.type,
        "content_version": \.contentVersion, "pixelrts.content_version": \.contentVersion,
    ]
    static let gridSizeKeys: Set<String> = ["grid_size", "pixelrts.grid_size"]

    /// Maps text chunks to metadata. Precedence: the PixelRTS v2 chunk (keyword `PixelRTS`), then
    /// other `*pixelrts*` JSON chunks, then plain keys; within each, the first chunk wins.
    public static func from(textChunks: [PNGTextChunk]) -> ContainerMetadata {
        var metadata = ContainerMetadata()
        let jsonChunks = textChunks.filter { chunk in
            let key = chunk.keyword.lowercased()
            return mentionsPixelRTS(key) && plainKeys[key] == nil && !gridSizeKeys.contains(key)
        }.sorted { a, b in
            (a.keyword.lowercased() == "pixelrts" ? 0 : 1) < (b.keyword.lowercased() == "pixelrts" ? 0 : 1)
        }
        for chunk in jsonChunks {
            switch pixelRTSObject(chunk) {
            case let .success(object?): metadata.fill(fromPixelRTS: object)
            case .success(nil): break
            case let .failure(reason): metadata.warnings.append("\(chunk.keyword) chunk: \(reason)")
            }
        }
        for chunk in textChunks {
            let key = chunk.keyword.lowercased()
            let value = cleaned(chunk.text)
            if let field = plainKeys[key], metadata[keyPath: field] == nil, let value {
                metadata[keyPath: field] = value
            } else if gridSizeKeys.contains(key), metadata.gridSize == nil, let value {
                metadata.gridSize = Int64(value)
            }
        }
        metadata.capFields()
        return metadata
    }

    /// Longest text a field keeps (UTF-8 bytes). Every listing carries every field of every
    /// entry; a file must not make them megabytes.
    public static let maximumFieldBytes = 4096
    /// Warnings kept per entry, and the length of each.
    public static let maximumWarnings = 16
    public static let maximumWarningCharacters = 300

    /// The text fields `capFields` bounds, with their JSON names. Immutable (see `plainKeys`).
    nonisolated(unsafe) static let cappedFields: [(String, WritableKeyPath<ContainerMetadata, String?>)] = [
        ("name", \.name), ("kernel_version", \.kernelVersion), ("distro", \.distro), ("architecture", \.architecture),
        ("format", \.format), ("type", \.type), ("description", \.description),
        ("content_version", \.contentVersion), ("data_hash", \.dataHash), ("kernel_cmdline", \.kernelCommandLine),
    ]

    /// Whether a field is over the limit or the warnings need bounding: read directly (key
    /// paths cost a tenth of a cold scan's per-file work when read for every file).
    var needsCapping: Bool {
        let limit = Self.maximumFieldBytes
        func long(_ text: String?) -> Bool { (text?.utf8.count ?? 0) > limit }
        if long(name) || long(kernelVersion) || long(distro) || long(architecture) { return true }
        guard let extended else { return false }
        return long(extended.format) || long(extended.type) || long(extended.description) || long(extended.contentVersion)
            || long(extended.dataHash) || long(extended.kernelCommandLine) || extended.warnings.count > Self.maximumWarnings
            || extended.warnings.contains { $0.count > Self.maximumWarningCharacters }
    }

    /// Cuts over-long fields (saying so in `warnings`) and bounds the warnings themselves.
    public mutating func capFields() {
        guard needsCapping else { return }
        for (name, field) in Self.cappedFields {
            guard let text = self[keyPath: field], text.utf8.count > Self.maximumFieldBytes else { continue }
            self[keyPath: field] = Self.prefix(text, utf8Bytes: Self.maximumFieldBytes)
            warnings.append("field '\(name)' was cut to \(Self.maximumFieldBytes) bytes (it has \(text.utf8.count))")
        }
        if warnings.count > Self.maximumWarnings || warnings.contains(where: { $0.count > Self.maximumWarningCharacters }) {
            var kept = warnings.prefix(Self.maximumWarnings).map { $0.count > Self.maximumWarningCharacters ? String($0.prefix(Self.maximumWarningCharacters - 3)) + "..." : $0 }
            if warnings.count > Self.maximumWarnings { kept[Self.maximumWarnings - 1] = "\(warnings.count - Self.maximumWarnings + 1) more warnings" }
            warnings = kept
        }
    }

    /// The longest prefix of whole characters within `limit` UTF-8 bytes.
    static func prefix(_ text: String, utf8Bytes limit: Int) -> String {
        var end = text.startIndex
        var used = 0
        for index in text.indices {
            let next = text.index(after: index)
            let size = text.utf8.distance(from: index, to: next)
            if used + size > limit { break }
            used += size
            end = next
        }
        return String(text[..<end])
    }

    /// Whether a lowercased keyword contains "pixelrts". A byte loop: `String.contains(String)`
    /// goes through Foundation's CFString search and `firstRange(of:)` through generic
    /// machinery; either was a large share of a cold scan.
    static func mentionsPixelRTS(_ lowercasedKey: String) -> Bool {
        let needle: [UInt8] = Array("pixelrts".utf8)
        var key = lowercasedKey
        return key.withUTF8 { bytes in
            guard bytes.count >= needle.count else { return false }
            for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
                if (1..<needle.count).allSatisfy({ bytes[start + $0] == needle[$0] }) { return true }
            }
            return false
        }
    }

    enum PixelRTSFailure: Error, CustomStringConvertible {
        case invalidJSON(String)
        var description: String {
            switch self { case let .invalidJSON(reason): return reason }
        }
    }

    /// The JSON object in a PixelRTS-style chunk: the value is an optional magic (the keyword itself,
    /// or `PixelRTS`) followed by JSON. nil when the value is not meant to be JSON at all.
    static func pixelRTSObject(_ chunk: PNGTextChunk) -> Result<[(String, JSONValue)]?, PixelRTSFailure> {
        var text = Substring(chunk.text)
        for magic in [chunk.keyword, "PixelRTS"] where text.hasPrefix(magic) {
            text = text.dropFirst(magic.count)
            break
        }
        text = text.drop(while: { $0.isWhitespace })
        guard text.first == "{" else {
            return chunk.keyword.lowercased() == "pixelrts"
                ? .failure(.invalidJSON("value is not the PixelRTS magic followed by a JSON object")) : .success(nil)
        }
        do {
            guard case let .object(members) = try JSONParser.parse(String(text)) else { return .success(nil) }
            return .success(members)
        } catch {
            return .failure(.invalidJSON(error.description))
        }
    }

    mutating func fill(fromPixelRTS object: [(String, JSONValue)]) {
        let value = JSONValue.object(object)
        func text(_ keys: String...) -> String? {
            for key in keys { if let s = value[key].flatMap(Self.scalarText) { return s } }
            return nil
        }
        func integer(_ key: String) -> Int64? {
            guard let v = value[key] else { return nil }
            if let i = v.intValue { return i }
            return v.stringValue.flatMap { Int64($0.trimmingWhitespace()) }
        }
        name = name ?? text("name")
        kernelVersion = kernelVersion ?? text("kernel_version", "kernel")
        distro = distro ?? text("distro")
        architecture = architecture ?? text("architecture", "arch")
        if format == nil, let value = text("format") { format = value }
        if formatVersion == nil, let version = value["format_version"] {
            switch version {
            case .int, .double: formatVersion = version
            case let .string(text): formatVersion = Self.cleaned(text).map { .string(Self.prefix($0, utf8Bytes: 64)) }
            default: break
            }
        }
        if type == nil, let value = text("type") { type = value }
        if description == nil, let value = text("description") { description = value }
        if contentVersion == nil, let value = text("content_version") { contentVersion = value }
        if dataHash == nil, let value = text("data_hash") { dataHash = value }
        if kernelCommandLine == nil, let value = PixelRTSLayout.commandLine(in: value) { kernelCommandLine = value }
        dataSize = dataSize ?? integer("data_size")
        gridSize = gridSize ?? integer("grid_size")
    }

    static func scalarText(_ value: JSONValue) -> String? {
        switch value {
        case let .string(s): return cleaned(s)
        case let .int(i): return String(i)
        case let .double(d): return String(d)
        default: return nil
        }
    }

    static func cleaned(_ text: String) -> String? {
        let trimmed = text.trimmingWhitespace()
        return trimmed.isEmpty ? nil : trimmed
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        // Most values have nothing to trim: decided on the first and last bytes (a non-ASCII
        // byte may start or end a whitespace character, so it takes the careful path).
        let text = String(self)
        if let first = text.utf8.first, let last = text.utf8.last, first > 0x20, first < 0x80, last > 0x20, last < 0x80 { return text }
        var s = Substring(text)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
