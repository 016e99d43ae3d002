import Foundation

/// Makes text from metadata or the API safe to place in an iPXE command line.
///
/// iPXE parses item and echo text as a command line: it expands `${...}` (again and again, so
/// a setting's value can hold another expansion), runs the words `&&`, `||` and `;` as
/// operators, treats a word starting with `#` as a comment, collapses spaces, and its console
/// shows ASCII only. So: control and format characters (newlines, tabs, NUL, bidi and
/// zero-width marks) become spaces; letters lose their accents and other non-ASCII becomes `?`;
/// braces become parentheses (without `{` no expansion can form, whatever else the text holds);
/// `;` becomes `,`, runs of `&` or `|` become one, a `#` or `-` that starts a word is dropped;
/// spaces are collapsed and the length is bounded. Sanitised text sanitises to itself.
public enum IPXEText {
    public static func sanitize(_ text: String, maximumLength: Int = 64, fallback: String = "unnamed") -> String {
        var ascii = ""
        for scalar in text.folding(options: [.diacriticInsensitive, .widthInsensitive], locale: nil).unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .spaceSeparator:
                ascii.append(" ")
            default:
                if scalar.isASCII {
                    ascii.unicodeScalars.append(scalar)
                } else if ascii.last != "?" {
                    ascii.append("?")
                }
            }
        }
        var cleaned = ""
        var previous: Character = " "
        for character in ascii {
            var c = character
            switch c {
            case ";": c = ","
            case "{": c = "("
            case "}": c = ")"
            default: break
            }
            if (c == "&" || c == "|") && previous == c { continue }
            if (c == "#" || c == "-") && previous == " " { continue }
            if c == " " && previous == " " { continue }
            cleaned.append(c)
            previous = c
        }
        cleaned = cleaned.trimmingCharacters(in: .whitespaces)
        if cleaned.count > maximumLength {
            cleaned = String(cleaned.prefix(maximumLength - 3)).trimmingCharacters(in: .whitespaces) + "..."
        }
        return cleaned.isEmpty ? fallback : cleaned
    }

    /// Human-readable size: 512 B, 48 KiB, 1.5 GiB.
    public static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(bytes) B" }
        return value >= 10 || value.rounded() == value
            ? "\(Int(value.rounded())) \(units[unit])" : String(format: "%.1f %@", value, units[unit])
    }
}
