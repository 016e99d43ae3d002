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
package enum IPXEText {
    package static func sanitize(_ text: String, maximumLength: Int = 64, fallback: String = "unnamed") -> String {
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

    /// Longest kernel command line (x86's COMMAND_LINE_SIZE).
    package static let maximumCommandLineBytes = 2048

    /// A kernel command line fit for a `kernel` line: printable ASCII words; braces become
    /// parentheses (no `${` can form), words iPXE would take as operators (`&&`, `||`, `;`) or
    /// a comment (starting with `#`) are dropped, spaces collapse, the length is bounded at a word.
    /// Unlike menu text, a leading `-` stays: iPXE stops reading options at the image URI.
    package static func commandLine(_ text: String) -> String {
        var ascii = ""
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x21 && scalar.value < 0x7F {
                ascii.unicodeScalars.append(scalar == "{" ? "(" : scalar == "}" ? ")" : scalar)
            } else {
                ascii.append(" ")
            }
        }
        var kept: [Substring] = []
        var length = 0
        for word in ascii.split(separator: " ") {
            let cleaned = word.drop { $0 == "#" }
            guard !cleaned.isEmpty, !commandSeparators.contains(String(cleaned)),
                  length + cleaned.count + (kept.isEmpty ? 0 : 1) <= maximumCommandLineBytes else { continue }
            length += cleaned.count + (kept.isEmpty ? 0 : 1)
            kept.append(cleaned)
        }
        return kept.joined(separator: " ")
    }

    static let commandSeparators: Set<String> = ["&&", "||", ";"]

    /// Where a Linux entry's command line takes the machine's answer-file URL (Debian's
    /// `url=${provision_url}`, `inst.ks=`, `ds=nocloud-net;s=`, `ignition.config.url=`): the
    /// server puts the URL in (or nothing) before the line is sanitised, so it is the one `${`
    /// a command line may hold.
    package static let answerURLPlaceholder = "${provision_url}"

    /// Why `text` cannot be a kernel command line as given (for the API, which refuses rather
    /// than changes what an admin typed); nil when `commandLine(text)` would keep it as it is
    /// (once `answerURLPlaceholder` is filled in).
    package static func commandLineProblem(_ text: String) -> String? {
        let text = text.replacingOccurrences(of: answerURLPlaceholder, with: "")
        if text.utf8.count > maximumCommandLineBytes { return "must be at most \(maximumCommandLineBytes) bytes" }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value >= 0x7F }) {
            return "must be printable ASCII (no control characters or non-ASCII letters)"
        }
        if text.contains("{") || text.contains("}") { return "must not contain { or } (iPXE would expand ${...})" }
        for word in text.split(separator: " ") {
            if commandSeparators.contains(String(word)) { return "must not contain the word \(word) (iPXE would run what follows as a command)" }
            if word.hasPrefix("#") { return "must not contain a word starting with # (iPXE would ignore the rest of the line)" }
        }
        return nil
    }

    /// Human-readable size: 512 B, 48 KiB, 1.5 GiB.
    package static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(bytes) B" }
        return value >= 10 || value.rounded() == value
            ? "\(Int(value.rounded())) \(units[unit])" : String(format: "%.1f %@", value, units[unit])
    }
}
