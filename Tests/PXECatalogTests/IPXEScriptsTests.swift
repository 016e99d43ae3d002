import Foundation
import PXECatalog
import TestSupport
import Testing

@Suite struct IPXEScriptsTests {
    static let alpine = MenuEntry(id: "0123456789ab", name: "Alpine Linux 3.20", size: 50128, distro: "alpine")

    static func eleven() -> [MenuEntry] {
        (1...11).map { n in
            let hex = String(n, radix: 16)
            return MenuEntry(id: String(repeating: "0", count: 12 - hex.count) + hex, name: "Image \(n)",
                             size: Int64(n) * 1_048_576, distro: n % 2 == 0 ? "debian" : nil)
        }
    }

    @Test func bootScriptChainsToTheMenuRelativeToItself() {
        #expect(IPXEScripts.bootScript(options: MenuOptions()) == """
        #!ipxe
        # pxe-catalog: load the boot menu.
        chain --autofree menu.ipxe || goto failed
        exit
        :failed
        echo pxe-catalog: the boot menu could not be loaded. Trying the next boot device.
        sleep 3
        exit 1

        """)
        #expect(IPXEScripts.bootScript(options: MenuOptions(publicBaseURL: "http://boot.example.com/"))
            .contains("chain --autofree http://boot.example.com/pxe/menu.ipxe || goto failed"))
    }

    @Test func entryScriptBootsOneContainerAndFallsBackToTheFirmware() {
        #expect(IPXEScripts.entryScript(Self.alpine, options: MenuOptions()) == """
        #!ipxe
        # pxe-catalog: boot one container.
        echo Booting Alpine Linux 3.20 ...
        chain --autofree ../../containers/0123456789ab || goto failed
        exit
        :failed
        echo pxe-catalog: could not boot Alpine Linux 3.20. Trying the next boot device.
        sleep 3
        exit 1

        """)
    }

    @Test func emptyCatalogGivesAMenuWithOnlyTheLocalDisk() {
        #expect(IPXEScripts.menuScript([], options: MenuOptions()) == """
        #!ipxe
        # pxe-catalog boot menu: 0 container(s), generated from the catalog.
        isset ${pxe_default} || set pxe_default local
        :menu
        menu pxe-catalog boot menu
        item --key l local Boot from local disk
        choose --default ${pxe_default} --timeout 10000 selected || goto local
        goto ${selected}
        :local
        echo Booting from local disk ...
        sanboot --no-describe --drive 0x80 || exit
        exit

        """)
    }

    @Test func oneEntryWithFirstAsDefault() {
        #expect(IPXEScripts.menuScript([Self.alpine], options: MenuOptions(title: "Lab boot", timeoutSeconds: 5, defaultChoice: .first)) == """
        #!ipxe
        # pxe-catalog boot menu: 1 container(s), generated from the catalog.
        isset ${pxe_default} || set pxe_default entry1
        :menu
        menu Lab boot
        item --gap Containers:
        item --key 1 entry1 1. Alpine Linux 3.20 (49 KiB, alpine)
        item --gap
        item --key l local Boot from local disk
        choose --default ${pxe_default} --timeout 5000 selected || goto local
        goto ${selected}
        :entry1
        echo Booting Alpine Linux 3.20 ...
        chain --autofree ../containers/0123456789ab || goto entry1_failed
        goto menu
        :entry1_failed
        echo Could not boot Alpine Linux 3.20. Back to the menu, with the local disk as default.
        set pxe_default local
        sleep 3
        goto menu
        :local
        echo Booting from local disk ...
        sanboot --no-describe --drive 0x80 || exit
        exit

        """)
    }

    @Test func elevenEntriesWithAnIDAsDefaultAndNoTimeout() throws {
        var golden = URL(fileURLWithPath: #filePath)
        golden.deleteLastPathComponent()
        let expected = try String(contentsOf: golden.appendingPathComponent("Golden/menu-eleven-entries.ipxe"), encoding: .utf8)
        #expect(IPXEScripts.menuScript(Self.eleven(), options: MenuOptions(title: "Lab boot", timeoutSeconds: 0, defaultChoice: .entry("00000000000b"))) == expected)
    }

    @Test(arguments: [(MenuOptions.DefaultChoice.local, "local"), (.first, "entry1"), (.entry("000000000003"), "entry3"),
                      (.entry("ffffffffffff"), "local")])
    func defaultModesSelectTheRightLabel(choice: MenuOptions.DefaultChoice, label: String) {
        let script = IPXEScripts.menuScript(Self.eleven(), options: MenuOptions(defaultChoice: choice))
        #expect(script.contains("isset ${pxe_default} || set pxe_default \(label)\n"))
    }

    @Test func onlyTheFirstNineItemsGetShortcutKeys() {
        let items = IPXETokenizer.tokenize(IPXEScripts.menuScript(Self.eleven(), options: MenuOptions()))
            .commands.filter { $0.words.first == "item" && !$0.words.contains("--gap") }
        #expect(items.map { item in item.words.firstIndex(of: "--key").map { item.words[$0 + 1] } ?? "-" }
                == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "-", "-", "l"])
    }

    @Test func publicBaseURLMakesAbsoluteURIs() {
        let script = IPXEScripts.menuScript([Self.alpine], options: MenuOptions(publicBaseURL: "http://10.1.1.1:8080"))
        #expect(script.contains("chain --autofree http://10.1.1.1:8080/containers/0123456789ab || goto entry1_failed"))
    }
}

@Suite struct IPXETextTests {
    @Test(arguments: [
        ("a\nchain http://x/y", "a chain http://x/y"),
        ("${net0/mac}", "$(net0/mac)"),
        ("Rescue $${net0/mac} x", "Rescue $$(net0/mac) x"),
        ("$$${{x}}", "$$$((x))"),
        ("\u{FF04}\u{FF5B}net0/mac\u{FF5D}", "$(net0/mac)"),
        ("x && shell", "x & shell"),
        ("x || exit", "x | exit"),
        ("x ; reboot", "x , reboot"),
        ("#x", "x"),
        ("lab #3", "lab 3"),
        ("tab\there", "tab here"),
        ("nul\u{0}byte", "nul byte"),
        ("--key 5", "key 5"),
        ("Débian 12 (été)", "Debian 12 (ete)"),
        ("a\u{200B}b\u{202E}c", "a b c"),
        ("snow ☃ man", "snow ? man"),
        ("  spaced    out  ", "spaced out"),
        ("", "unnamed"),
        ("\n\t", "unnamed"),
    ])
    func sanitisesHostileText(input: String, expected: String) {
        #expect(IPXEText.sanitize(input) == expected)
    }

    @Test func boundsTheLength() {
        let long = IPXEText.sanitize(String(repeating: "word ", count: 2000))
        #expect(long.count == 64)
        #expect(long.hasSuffix("..."))
    }

    @Test(arguments: [(Int64(512), "512 B"), (1024, "1 KiB"), (50128, "49 KiB"), (4263, "4.2 KiB"), (1_610_612_736, "1.5 GiB")])
    func formatsSizes(bytes: Int64, text: String) {
        #expect(IPXEText.size(bytes) == text)
    }
}

/// Hostile names, however stored, never change the commands a menu runs.
@Suite struct MenuInjectionTests {
    static let hostile = [
        "a\nchain http://x/y", "${net0/mac}", "x && shell", "x ; reboot", "#x", "tab\tname", "nul\u{0}name",
        String(repeating: "long ", count: 2000), "\u{202E}txt.exe", "zero\u{200B}width", "x || exit", "--gap", "--key 5",
        "$", "${", "} ${x:hex}", ":label", "\r\nshell", "item --key 9 evil Evil", "goto local",
    ]

    func entries(_ names: [String]) -> [MenuEntry] {
        names.enumerated().map { index, name in
            MenuEntry(id: String(format: "%012x", index), name: name, size: 1000, distro: name)
        }
    }

    @Test func menuWithHostileNamesHasExactlyTheCommandsOfABenignMenu() {
        let options = MenuOptions(title: "${title} && shell", defaultChoice: .first)
        let benign = IPXETokenizer.tokenize(IPXEScripts.menuScript(entries(Self.hostile.indices.map { "Name \($0)" }), options: MenuOptions(defaultChoice: .first)))
        let evil = IPXETokenizer.tokenize(IPXEScripts.menuScript(entries(Self.hostile), options: options))
        #expect(evil.lineCount == benign.lineCount)
        #expect(IPXETokenizer.skeleton(evil) == IPXETokenizer.skeleton(benign))
        #expect(evil.expansions == benign.expansions)
        #expect(Set(evil.expansions) == ["pxe_default", "selected"])
    }

    @Test func entryScriptWithHostileNamesHasExactlyTheIntendedCommands() {
        let benign = IPXETokenizer.tokenize(IPXEScripts.entryScript(entries(["plain"])[0], options: MenuOptions()))
        for name in Self.hostile {
            let evil = IPXETokenizer.tokenize(IPXEScripts.entryScript(entries([name])[0], options: MenuOptions()))
            #expect(IPXETokenizer.skeleton(evil) == IPXETokenizer.skeleton(benign), "\(name.prefix(30))")
            #expect(evil.expansions.isEmpty)
        }
    }

    /// Thousands of random names over the characters iPXE gives meaning to, plus Unicode that
    /// folds to them: every menu and entry script tokenizes exactly like the benign one, and the
    /// sanitised text is a fixed point with no expansion and no separator in it.
    @Test func randomHostileNamesNeverChangeTheCommands() {
        var random = SeededRandom()
        let alphabet: [String] = ["$", "{", "}", "&", "|", ";", "#", "\\", "\"", "'", "\n", "\r", "\t", "\u{0}", " ", "-", ":",
                                  "a", "Z", "7", "é", "☃", "\u{FF04}", "\u{FF5B}", "\u{FF5D}", "\u{FF1B}", "\u{FF06}", "\u{202E}",
                                  "\u{200B}", "\u{2028}", "🙂", "ﬁ", "\u{0301}", "\u{1B}"]
        let benignMenu = IPXETokenizer.tokenize(IPXEScripts.menuScript(entries(["Name 0", "Name 1"]), options: MenuOptions(defaultChoice: .first)))
        let benignEntry = IPXETokenizer.tokenize(IPXEScripts.entryScript(entries(["plain"])[0], options: MenuOptions()))
        var failures: [String] = []
        for _ in 0..<4000 where failures.count < 5 {
            let name = (0..<Int.random(in: 0...40, using: &random)).map { _ in alphabet.randomElement(using: &random)! }.joined()
            let sanitized = IPXEText.sanitize(name)
            let words = sanitized.split(separator: " ")
            if sanitized.contains("${") || words.contains(where: { $0 == "&&" || $0 == "||" || $0 == ";" || $0.hasPrefix("#") })
                || sanitized.contains(where: { !$0.isASCII || $0.isNewline }) || IPXEText.sanitize(sanitized) != sanitized {
                failures.append("sanitize(\(name.debugDescription)) = \(sanitized.debugDescription)")
                continue
            }
            let menu = IPXETokenizer.tokenize(IPXEScripts.menuScript(entries([name, "Name 1"]),
                                                                     options: MenuOptions(title: name, defaultChoice: .first)))
            let entry = IPXETokenizer.tokenize(IPXEScripts.entryScript(entries([name])[0], options: MenuOptions()))
            if menu.lineCount != benignMenu.lineCount || IPXETokenizer.skeleton(menu) != IPXETokenizer.skeleton(benignMenu)
                || menu.expansions != benignMenu.expansions || IPXETokenizer.skeleton(entry) != IPXETokenizer.skeleton(benignEntry)
                || !entry.expansions.isEmpty {
                failures.append("scripts for \(name.debugDescription) differ from the benign ones")
            }
        }
        #expect(failures.isEmpty, "\(random.replayHint): \(failures)")
    }

    @Test func tokenizerNoticesInjectedCommands() {
        // The checker itself must be able to fail: an unsanitised name does change the skeleton.
        let raw = "#!ipxe\nitem entry1 x && shell\necho ${net0/mac}\nchain http://x/y\n"
        let result = IPXETokenizer.tokenize(raw)
        #expect(IPXETokenizer.skeleton(result).contains("shell"))
        #expect(result.expansions == ["net0/mac"])
    }
}
