/// What iPXE tells the server about the machine that boots, from a script request's query
/// string. `boot.ipxe` asks iPXE for each value in a form that cannot steer its own command
/// line (see `IdentityField.ipxeExpansion`); each value is validated and length-limited here,
/// and what does not parse is dropped (and counted), never passed on. Unknown keys are ignored.
public struct MachineIdentity: Sendable, Equatable, Hashable {
    /// Lower-case, colon-separated (`52:54:00:12:34:56`).
    public var mac: String?
    /// Lower-case, hyphenated 8-4-4-4-12.
    public var uuid: String?
    public var serial: String?
    public var hostname: String?
    public var manufacturer: String?
    public var product: String?
    /// `pcbios` or `efi` (iPXE's build platform).
    public var platform: String?
    /// `i386`, `x86_64`, `arm64`, ...
    public var buildarch: String?
    /// Query keys whose values were refused (not their values: those may be hostile).
    public var refusedKeys: [String] = []

    public init(mac: String? = nil, uuid: String? = nil, serial: String? = nil, hostname: String? = nil,
                manufacturer: String? = nil, product: String? = nil, platform: String? = nil, buildarch: String? = nil) {
        self.mac = mac
        self.uuid = uuid
        self.serial = serial
        self.hostname = hostname
        self.manufacturer = manufacturer
        self.product = product
        self.platform = platform
        self.buildarch = buildarch
    }

    /// Whether nothing is known about the machine.
    public var isEmpty: Bool {
        mac == nil && uuid == nil && serial == nil && hostname == nil && manufacturer == nil && product == nil
            && platform == nil && buildarch == nil
    }

    /// Longest accepted text value (after decoding), in bytes.
    public static let maximumTextLength = 64

    /// Parses `mac=…&uuid=…&…`. Text values (serial, hostname, manufacturer, product) arrive
    /// hex-encoded (`41-42-43`, iPXE's `:hexhyp`) or percent-encoded; either way they must decode
    /// to printable ASCII without control characters, at most `maximumTextLength` bytes.
    public init(query: String) {
        guard !query.isEmpty, query.utf8.count <= 4096 else { return }
        for pair in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = String(Substring(parts[0])).removingPercentEncodingStrictly, let field = IdentityField(rawValue: key) else { continue }
            let raw = parts.count > 1 ? Array(parts[1]) : []
            if raw.isEmpty { continue }   // an unset iPXE setting expands to nothing
            guard let value = field.parse(raw) else {
                if !refusedKeys.contains(key) { refusedKeys.append(key) }
                continue
            }
            self[field] = value
        }
    }

    public subscript(field: IdentityField) -> String? {
        get {
            switch field {
            case .mac: return mac
            case .uuid: return uuid
            case .serial: return serial
            case .hostname: return hostname
            case .manufacturer: return manufacturer
            case .product: return product
            case .platform: return platform
            case .buildarch: return buildarch
            }
        }
        set {
            switch field {
            case .mac: mac = newValue
            case .uuid: uuid = newValue
            case .serial: serial = newValue
            case .hostname: hostname = newValue
            case .manufacturer: manufacturer = newValue
            case .product: product = newValue
            case .platform: platform = newValue
            case .buildarch: buildarch = newValue
            }
        }
    }

    /// The identity as a query string the server writes into scripts (entry and part URLs), so
    /// every request of a boot is attributed: validated values, every byte outside
    /// `[A-Za-z0-9._~-]` percent-encoded (no space, `$`, `&&`, `||`, `;` or `#` can appear).
    public var query: String {
        IdentityField.allCases.compactMap { field in
            self[field].map { "\(field.rawValue)=\(Self.percentEncoded($0))" }
        }.joined(separator: "&")
    }

    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// A MAC address in any of the usual spellings (`:`, `-` or no separators; any case), as
    /// `52:54:00:12:34:56`; nil when it is not six bytes of hex.
    public static func normalisedMAC(_ text: String) -> String? {
        let groups: [Substring]
        switch text.utf8.count {
        case 12: groups = [Substring(text)]
        case 17: groups = text.split(separator: text.contains(":") ? ":" : "-", omittingEmptySubsequences: false)
        case 14: groups = text.split(separator: ".", omittingEmptySubsequences: false)
        default: return nil
        }
        let widths = groups.map(\.utf8.count)
        guard widths == [12] || widths == [2, 2, 2, 2, 2, 2] || widths == [4, 4, 4] else { return nil }
        let hex = groups.joined().lowercased()
        guard hex.utf8.count == 12, hex.utf8.allSatisfy({ IdentityField.hexValue($0) != nil }) else { return nil }
        var pairs: [Substring] = []
        var rest = Substring(hex)
        while !rest.isEmpty {
            pairs.append(rest.prefix(2))
            rest = rest.dropFirst(2)
        }
        return pairs.joined(separator: ":")
    }
}

/// The query keys of a machine identity, with how iPXE fills them and how the server checks them.
public enum IdentityField: String, Sendable, CaseIterable {
    case mac, uuid, serial, hostname, manufacturer, product, platform, buildarch

    /// What `boot.ipxe` puts in the query for this key. Text settings come from DHCP and SMBIOS
    /// and may hold anything; iPXE expands settings before it splits a line into commands, so
    /// a raw `${hostname}` holding `x || shell` would run `shell`. Hex with hyphens cannot.
    public var ipxeExpansion: String {
        switch self {
        case .mac: return "${net0/mac:hexhyp}"
        case .uuid: return "${uuid}"
        case .serial, .hostname, .manufacturer, .product: return "${\(rawValue):hexhyp}"
        case .platform, .buildarch: return "${\(rawValue)}"
        }
    }

    func parse(_ raw: [UInt8]) -> String? {
        guard let decoded = Self.percentDecoded(raw), let text = String(validating: decoded, as: UTF8.self) else { return nil }
        switch self {
        case .mac:
            return MachineIdentity.normalisedMAC(text)
        case .uuid:
            let hex = text.lowercased()
            let groups = hex.split(separator: "-", omittingEmptySubsequences: false)
            guard groups.map(\.count) == [8, 4, 4, 4, 12], groups.allSatisfy({ $0.allSatisfy(\.isHexDigit) }) else { return nil }
            return hex
        case .platform, .buildarch:
            guard (1...16).contains(text.utf8.count),
                  text.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }) else { return nil }
            return text
        case .serial, .hostname, .manufacturer, .product:
            let bytes = Self.hexHyphenDecoded(text) ?? Array(text.utf8)
            guard !bytes.isEmpty, bytes.count <= MachineIdentity.maximumTextLength,
                  bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
            // SMBIOS strings are often space-padded.
            let trimmed = String(decoding: bytes, as: UTF8.self).trimmingSpaces
            return trimmed.isEmpty ? nil : trimmed
        }
    }

    /// `41-42-43` (iPXE's `:hexhyp`) as bytes; nil when the text is not in that form.
    static func hexHyphenDecoded(_ text: String) -> [UInt8]? {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.count >= 1, groups.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }) else { return nil }
        // A single plain word of two hex digits ("ab") is more likely text than hex.
        if groups.count == 1 { return nil }
        return groups.map { UInt8($0, radix: 16)! }
    }

    /// `%41` and `+` decoded; nil for a malformed escape.
    static func percentDecoded(_ raw: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < raw.count,
                      let high = hexValue(raw[index + 1]), let low = hexValue(raw[index + 2]) else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        return out
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - 0x30
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - 0x61 + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - 0x41 + 10
        default: return nil
        }
    }
}

extension String {
    var removingPercentEncodingStrictly: String? {
        IdentityField.percentDecoded(Array(utf8)).flatMap { String(validating: $0, as: UTF8.self) }
    }

    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }

    var trimmingSpaces: String {
        var view = Substring(self)
        while view.first == " " { view.removeFirst() }
        while view.last == " " { view.removeLast() }
        return String(view)
    }
}
