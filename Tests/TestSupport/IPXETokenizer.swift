/// Splits an iPXE script the way iPXE's command line does (exec.c): `${...}` expansions are
/// noted, words are split on spaces and tabs, a word starting with `#` starts a comment, and
/// the words `||`, `&&` and `;` separate commands. Labels (`:name`) are kept as one-word commands.
public enum IPXETokenizer {
    public struct Command: Equatable, CustomStringConvertible {
        public var line: Int
        public var words: [String]
        public var description: String { "\(line): \(words.joined(separator: " "))" }
    }

    public struct Result {
        public var commands: [Command]
        /// Names inside every `${...}` in the script.
        public var expansions: [String]
        /// Physical lines (a script that gained lines gained commands).
        public var lineCount: Int
    }

    public static func tokenize(_ script: String) -> Result {
        var commands: [Command] = []
        var expansions: [String] = []
        let lines = script.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        for (number, line) in lines.enumerated() {
            var rest = Substring(line)
            while let start = rest.range(of: "${") {
                let after = rest[start.upperBound...]
                let end = after.firstIndex(of: "}") ?? after.endIndex
                expansions.append(String(after[..<end]))
                rest = end < after.endIndex ? after[after.index(after: end)...] : ""
            }
            var words: [String] = []
            for word in line.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                if word.hasPrefix("#") { break }
                if word == "||" || word == "&&" || word == ";" {
                    if !words.isEmpty { commands.append(Command(line: number + 1, words: words)) }
                    words = []
                } else {
                    words.append(String(word))
                }
            }
            if !words.isEmpty { commands.append(Command(line: number + 1, words: words)) }
        }
        return Result(commands: commands, expansions: expansions, lineCount: lines.count)
    }

    /// The part of each command that decides what iPXE does: the command word, its options and
    /// label/targets; free text (menu titles, item text, echo messages) is left out.
    public static func skeleton(_ result: Result) -> [String] {
        result.commands.map { command in
            guard let name = command.words.first else { return "" }
            switch name {
            case "echo", "menu": return name
            case "item":
                var kept = [name]
                var index = 1
                while index < command.words.count, command.words[index].hasPrefix("--") {
                    kept.append(command.words[index])
                    if command.words[index] == "--key", index + 1 < command.words.count { kept.append(command.words[index + 1]); index += 1 }
                    index += 1
                }
                if !kept.contains("--gap"), index < command.words.count { kept.append(command.words[index]) }
                return kept.joined(separator: " ")
            default:
                return command.words.joined(separator: " ")
            }
        }
    }
}
