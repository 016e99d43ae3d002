import Mustache

/// The answer-file languages a template can be written in, told by the file's extension, and
/// how a value is written into each so that it cannot leave the line (or the string) it is
/// put on: every `{{name}}` goes through `escape`; templates cannot print a value unescaped.
package enum AnswerFormat: String, Sendable, CaseIterable {
    /// Debian's preseed (`.preseed`, `.cfg`): one `owner question type value` per line.
    case preseed
    /// Anaconda's kickstart (`.ks`): one command per line.
    case kickstart
    /// cloud-init, Ubuntu's autoinstall (`.yaml`, `.yml`): values belong in double quotes.
    case yaml
    /// Ignition and other JSON (`.json`, `.ign`): values belong in double quotes.
    case json

    package static let extensions: [String: AnswerFormat] = [
        "preseed": .preseed, "cfg": .preseed, "ks": .kickstart, "yaml": .yaml, "yml": .yaml, "json": .json, "ign": .json,
    ]

    package init?(fileName: String) {
        guard let dot = fileName.lastIndex(of: "."), let format = Self.extensions[String(fileName[fileName.index(after: dot)...]).lowercased()] else {
            return nil
        }
        self = format
    }

    package var contentType: String {
        switch self {
        case .preseed, .kickstart: return "text/plain; charset=utf-8"
        case .yaml: return "text/yaml; charset=utf-8"
        case .json: return "application/json; charset=utf-8"
        }
    }

    /// A value as this format gets it. Line formats: control and line-separator characters
    /// become spaces (the value stays on its line; what the line's own program makes of the
    /// rest is the template's business: `{{shell(...)}}` quotes for a shell). Quoted formats:
    /// the contents of a double-quoted string (`\`, `"`, every control or line-separator
    /// character escaped), JSON's or YAML's (the same but for characters beyond the BMP).
    package func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        switch self {
        case .preseed, .kickstart:
            for scalar in text.unicodeScalars {
                out.unicodeScalars.append(Self.breaksLine(scalar) ? " " : scalar)
            }
        case .yaml, .json:
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\\": out += "\\\\"
                case "\"": out += "\\\""
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if Self.breaksLine(scalar) {
                        // Beyond the BMP (tag characters are format characters): JSON writes
                        // a surrogate pair, YAML its 8-digit escape (it reads no pairs).
                        if self == .yaml, scalar.value > 0xFFFF {
                            out += "\\U" + Self.hex(scalar.value, digits: 8)
                        } else {
                            for unit in String(scalar).utf16 { out += "\\u" + Self.hex(UInt32(unit), digits: 4) }
                        }
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
        }
        return out
    }

    static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// Control characters (C0, DEL, C1: NEL ends a line in YAML 1.1), format characters and
    /// Unicode line and paragraph separators.
    static func breaksLine(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// The Mustache content type (its escaping) of this format, registered once.
    var contentTypeName: String { "PXE_CATALOG_\(rawValue.uppercased())" }

    struct Escaping: MustacheContentType {
        let format: AnswerFormat
        func escapeText(_ text: String) -> String { format.escape(text) }
    }

    static let registered: Bool = {
        for format in allCases { MustacheContentTypes.register(Escaping(format: format), named: format.contentTypeName) }
        return true
    }()
}
