import BootScripts
import Foundation
import Testing

@Suite struct GRUBScriptsTests {
    static let linux = IPXEScriptsTests.linux
    static let kernelOnly = IPXEScriptsTests.kernelOnly
    static let disk = IPXEScriptsTests.disk
    static let pending = IPXEScriptsTests.pending

    @Test func anEmptyCatalogsMenuOffersTheLocalDiskOnly() throws {
        let menu = GRUBScripts.menu([], options: MenuOptions())
        #expect(menu == (try IPXEScriptsTests.golden("grub-empty.cfg")))
        let words = GRUBWords.commands(menu)
        #expect(words.filter { $0.first == "menuentry" }.map { $0[1] } == ["Boot from local disk"])
    }

    @Test func aMenuMixingKindsMatchesItsGoldenText() throws {
        let described = MenuEntry(id: "0000000000aa", name: "Debian 12 installer", description: "Installs Debian on the first disk",
                                  size: 52_000_000, distro: "debian", boot: .linux(commandLine: "auto=true priority=critical", hasInitrd: true))
        let menu = GRUBScripts.menu([Self.linux, Self.pending, Self.disk, Self.kernelOnly, described],
                                    options: MenuOptions(title: "Lab boot", timeoutSeconds: 5, defaultChoice: .entry(Self.kernelOnly.id)),
                                    machines: ["52:54:00:12:34:56", "52:54:00:ab:cd:ef"])
        #expect(menu == (try IPXEScriptsTests.golden("grub-mixed-kinds.cfg")))
    }

    /// A one-shot's (or a rule's) own file boots its entry at once; timeout 0 in the menu
    /// options (iPXE: wait for the user) is -1 for GRUB, whose 0 boots at once.
    @Test func aMachinesOwnMenuBootsItsOneShotAtOnce() throws {
        let menu = GRUBScripts.menu([Self.linux, Self.kernelOnly], options: MenuOptions(timeoutSeconds: 0), bootAtOnce: Self.kernelOnly.id)
        #expect(menu == (try IPXEScriptsTests.golden("grub-one-shot.cfg")))
        let waiting = GRUBScripts.menu([Self.linux], options: MenuOptions(timeoutSeconds: 0, defaultChoice: .first))
        #expect(GRUBWords.commands(waiting).contains(["set", "timeout=-1"]))
        #expect(GRUBWords.commands(waiting).contains(["set", "default=entry1"]))
        // An entry that cannot boot by GRUB is never booted at once.
        let disk = GRUBScripts.menu([Self.disk], options: MenuOptions(), bootAtOnce: Self.disk.id)
        #expect(GRUBWords.commands(disk).contains(["set", "default=local"]))
    }

    /// A kernel that is not signed is marked: a Secure Boot machine would refuse it after the
    /// download. Signed and unknown ones are not.
    @Test func anUnsignedKernelIsMarkedInTheMenu() {
        var unsigned = Self.linux
        unsigned.kernelSigned = false
        var signed = Self.kernelOnly
        signed.kernelSigned = true
        let titles = GRUBWords.commands(GRUBScripts.menu([unsigned, signed, Self.pending], options: MenuOptions()))
            .filter { $0.first == "menuentry" }.map { $0[1] }
        #expect(titles == ["1. Alpine Linux 3.20 (unsigned kernel: needs Secure Boot off)", "2. Kernel only (linux, 8.6 MiB)",
                           "Big image (being prepared, not ready to boot yet)", "Boot from local disk"])
    }

    @Test func machineFilesAreNamedByTheirMAC() {
        #expect(GRUBScripts.hostPath(mac: "52:54:00:12:34:56") == "grub/host-52-54-00-12-34-56.cfg")
        // Anything but a normalised MAC never reaches the menu's comparisons.
        let menu = GRUBScripts.menu([], options: MenuOptions(), machines: ["52:54:00:12:34:56", "x' ]; then echo; fi #", "52:54:00:12:34"])
        #expect(GRUBWords.commands(menu).filter { $0.first == "if" }.count == 1)
    }

    static let hostile = [
        "it's", "'; echo pwned; '", "$(reboot)", "${prefix}", "$root", "a\\'b", "\"quoted\" \\ back", "new\nline menuentry x {",
        "tab\there", "} menuentry evil {", "semi; colon | pipe & amp < > ( )", "\u{202E}bidi", "#comment", "--id x", "'''",
        "unicode Ünïcödé ☃", String(repeating: "x'", count: 200),
    ]

    /// Whatever a name, description or command line holds, each stays one word of its line:
    /// no variable expands, no command or operator starts, the menu's shape is unchanged.
    @Test(arguments: hostile)
    func hostileTextStaysInsideItsWord(_ text: String) {
        let entry = MenuEntry(id: "0123456789ab", name: text, description: text, size: 1, distro: text,
                              boot: .linux(commandLine: IPXEText.commandLine(text + " console=ttyS0"), hasInitrd: true))
        let menu = GRUBScripts.menu([entry, MenuEntry(id: "00000000000d", name: text, size: 1, distro: nil, boot: .disk),
                                     MenuEntry(id: "00000000000e", name: text, size: 1, distro: nil, boot: .notReady(reason: text))],
                                    options: MenuOptions(title: text))
        let parsed = GRUBWords.parse(menu)
        #expect(parsed.expansions.isEmpty, "no $ outside single quotes: \(parsed.expansions)")
        #expect(parsed.operators.isEmpty, "no ; | & < > ( ) outside quotes: \(parsed.operators)")
        let commands = parsed.commands
        #expect(commands.map { $0[0] } == ["set", "set", "set", "menuentry", "echo", "linux", "initrd", "}", "menuentry", "echo", "sleep", "}",
                                           "menuentry", "echo", "sleep", "}", "menuentry", "echo", "exit", "}"])
        let title = commands[3]
        #expect(title.count == 5 && title[2] == "--id" && title[3] == "entry1" && title[4] == "{")
        #expect(title[1].hasPrefix("1. ") && !title[1].contains("\n"))
        let linux = commands[5]
        #expect(linux[1] == "/pxe-catalog/0123456789ab/kernel")
        #expect(Array(linux.dropFirst(2)) == IPXEText.commandLine(text + " console=ttyS0").split(separator: " ").map(String.init))
    }

    /// Quoting alone: every string reads back as itself, as one word.
    @Test(arguments: hostile + ["", "'", "\\", "$", "a b"])
    func aQuotedWordReadsBackAsItself(_ text: String) {
        let parsed = GRUBWords.parse("echo " + GRUBText.quoted(text) + "\n")
        #expect(parsed.commands == [["echo", text]])
        #expect(parsed.expansions.isEmpty && parsed.operators.isEmpty)
    }
}

/// A reader of GRUB script words as GRUB's manual describes them ("Shell-like scripting"):
/// words split at blanks; `'...'` literal; `"..."` literal but for `\` and `$`; `\` escapes the
/// next character outside single quotes; `$` starts an expansion outside single quotes;
/// `; | & < > ( )` outside quotes are operators; a newline ends a command; `#` at a word's
/// start comments out the rest of the line. It records expansions and operators instead of
/// performing them, so a test can say none happened.
enum GRUBWords {
    struct Parsed {
        var commands: [[String]] = []
        var expansions: [String] = []
        var operators: [String] = []
    }

    static func commands(_ script: String) -> [[String]] { parse(script).commands }

    static func parse(_ script: String) -> Parsed {
        var result = Parsed()
        var command: [String] = []
        var word: String?
        let characters = Array(script)
        var index = 0
        func endWord() {
            if let finished = word { command.append(finished) }
            word = nil
        }
        func endCommand() {
            endWord()
            if !command.isEmpty { result.commands.append(command) }
            command = []
        }
        while index < characters.count {
            let c = characters[index]
            switch c {
            case " ", "\t":
                endWord()
            case "\n":
                endCommand()
            case "#" where word == nil:
                while index < characters.count, characters[index] != "\n" { index += 1 }
                continue
            case "'":
                var literal = ""
                index += 1
                while index < characters.count, characters[index] != "'" {
                    literal.append(characters[index])
                    index += 1
                }
                word = (word ?? "") + literal
            case "\"":
                var text = ""
                index += 1
                while index < characters.count, characters[index] != "\"" {
                    if characters[index] == "\\", index + 1 < characters.count {
                        index += 1
                    } else if characters[index] == "$" {
                        result.expansions.append(String(characters[index...].prefix(12)))
                    }
                    text.append(characters[index])
                    index += 1
                }
                word = (word ?? "") + text
            case "\\":
                index += 1
                if index < characters.count, characters[index] != "\n" { word = (word ?? "") + String(characters[index]) }
            case "$":
                result.expansions.append(String(characters[index...].prefix(12)))
                word = (word ?? "") + "$"
            case ";", "|", "&", "<", ">", "(", ")":
                result.operators.append(String(c))
                endWord()
            default:
                word = (word ?? "") + String(c)
            }
            index += 1
        }
        endCommand()
        return result
    }
}
