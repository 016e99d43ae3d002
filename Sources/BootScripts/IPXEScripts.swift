/// How the boot menu looks and behaves (from the `menu` configuration section).
package struct MenuOptions: Sendable, Equatable {
    package enum DefaultChoice: Sendable, Equatable {
        case local
        case first
        case entry(String)
    }

    package var title: String
    /// Seconds before the default is chosen; 0 waits for the user.
    package var timeoutSeconds: Int
    package var defaultChoice: DefaultChoice
    /// Absolute base such as `http://boot.example.com`; nil: URIs relative to the script's own.
    package var publicBaseURL: String?
    /// Whether the URIs a script fetches carry the machine's identity (`?${pxe_machine}`, set
    /// by the line `attributed(_:query:)` puts at the top), so each request of a boot is
    /// attributed to the machine.
    package var attributed = false
    /// A BIOS loader (`undionly.kpxe`) that a BIOS machine running another iPXE (a network
    /// card's option ROM) loads by TFTP before the menu (`dhcp.bios_chainload`); nil: none.
    package var biosChainload: String?

    package init(title: String = "pxe-catalog boot menu", timeoutSeconds: Int = 10, defaultChoice: DefaultChoice = .local,
                publicBaseURL: String? = nil) {
        self.title = title
        self.timeoutSeconds = timeoutSeconds
        self.defaultChoice = defaultChoice
        self.publicBaseURL = publicBaseURL
    }
}

/// One entry of the boot menu, with what it boots.
package struct MenuEntry: Sendable, Equatable {
    package enum Boot: Sendable, Equatable {
        /// `kernel`, `initrd` (when there is one) and `boot`; the command line as the kernel gets it
        /// (already sanitised, see `IPXEText.commandLine`).
        case linux(commandLine: String, hasInitrd: Bool)
        /// HTTP SAN boot of a disk image (BIOS only: a legacy boot sector).
        case disk
        /// Not ready yet (being prepared): a line in the menu that says so, never a choice.
        case notReady(reason: String)
    }

    package var id: String
    package var name: String
    /// Shown after the details on the item's line, as far as it fits.
    package var description: String?
    package var size: Int64
    package var distro: String?
    package var boot: Boot
    /// Whether a Linux entry's kernel carries a signature (nil: not known). GRUB's menu marks
    /// unsigned ones: a Secure Boot machine refuses them after the download.
    package var kernelSigned: Bool?
    /// Its command line carries the machine's own answer-file URL, made when the entry's script
    /// is rendered for that machine: the menu hands over to that script instead of booting it.
    package var bootsThroughEntryScript = false

    package init(id: String, name: String, description: String? = nil, size: Int64, distro: String?, boot: Boot) {
        self.id = id
        self.name = name
        self.description = description
        self.size = size
        self.distro = distro
        self.boot = boot
    }

    package var isBootable: Bool {
        if case .notReady = boot { return false }
        return true
    }
}

/// Renders the iPXE scripts. Labels are generated (`entry1`, `local`), never taken from
/// metadata; every piece of text goes through `IPXEText`. URIs are relative to the script's own
/// URI (iPXE resolves them for `chain`, `kernel` and `initrd`) unless a public base URL is
/// configured; `sanboot` does not resolve relative URIs in this iPXE, so disk entries use
/// `sanBaseURL`, the configured base or one built from a validated Host header.
package enum IPXEScripts {
    /// `/pxe/boot.ipxe`: hands over to the menu, telling it who asks (`identityQuery`: keys and
    /// iPXE expansions, e.g. `mac=${net0/mac:hexhyp}&...`).
    package static func bootScript(options: MenuOptions, identityQuery: String = "") -> String {
        let query = identityQuery.isEmpty ? "" : "?" + identityQuery
        // DHCP cannot tell a card's iPXE ROM from undionly (both send the same options); the
        // script can: undionly's network device is called `undionly`. So the ROM loads it once.
        let chainload = options.biosChainload.map { loader in
            """
            iseq ${platform} pcbios || goto menu
            iseq ${net0/chip} undionly || chain --autofree tftp://${next-server}/\(loader) || goto menu
            :menu

            """
        } ?? ""
        return """
        #!ipxe
        # pxe-catalog: load the boot menu.
        \(chainload)chain --autofree \(url("pxe/menu.ipxe", relative: "menu.ipxe", options))\(query) || goto failed
        exit
        :failed
        echo pxe-catalog: the boot menu could not be loaded. Trying the next boot device.
        sleep 3
        exit 1

        """
    }

    /// `script` (rendered with `options.attributed`) for one machine: a line that sets
    /// `pxe_machine` to `query` after `#!ipxe`. `query` must be made of `[A-Za-z0-9._~%=&-]`
    /// only (`MachineIdentity.query` is): it is expanded into command lines.
    package static func attributed(_ script: String, query: String) -> String {
        let safe = query.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || Array("._~%=&-".utf8).contains(byte)
        } && !query.contains("&&")
        let header = "#!ipxe\n"
        // Anything else is dropped rather than written: `${pxe_machine}` then expands to nothing.
        guard script.hasPrefix(header), safe, !query.isEmpty else { return script }
        return header + "set pxe_machine \(query)\n" + script.dropFirst(header.count)
    }

    /// `/pxe/{id}/boot.ipxe`: boots one container; on failure returns to the firmware.
    package static func entryScript(_ entry: MenuEntry, options: MenuOptions, sanBaseURL: String?) -> String {
        let name = IPXEText.sanitize(entry.name)
        var lines = ["#!ipxe", "# pxe-catalog: boot one container."]
        switch entry.boot {
        case let .notReady(reason):
            lines += [
                "echo pxe-catalog: \(name) is not ready to boot: \(IPXEText.sanitize(reason, maximumLength: 160, fallback: "no reason given"))",
                "sleep 3",
                "exit 1",
                "",
            ]
            return lines.joined(separator: "\n")
        case .linux, .disk:
            lines += bootLines(entry, name: name, prefix: "../../", failed: "failed", options: options, sanBaseURL: sanBaseURL)
        }
        lines += [
            ":failed",
            "echo pxe-catalog: could not boot \(name). Trying the next boot device.",
            "sleep 3",
            "exit 1",
            "",
        ]
        return lines.joined(separator: "\n")
    }

    /// `/pxe/menu.ipxe`: bootable entries in boot order (entries being prepared as lines that
    /// say so), then local disk. After a failed boot the default becomes the local disk, so an
    /// unattended machine does not retry the same entry forever.
    package static func menuScript(_ entries: [MenuEntry], options: MenuOptions, sanBaseURL: String? = nil) -> String {
        let bootable = entries.filter(\.isBootable)
        let labels = Dictionary(uniqueKeysWithValues: bootable.enumerated().map { ($1.id, "entry\($0 + 1)") })
        var defaultLabel = "local"
        switch options.defaultChoice {
        case .local: break
        case .first: if let first = bootable.first { defaultLabel = labels[first.id]! }
        case let .entry(id): if let label = labels[id] { defaultLabel = label }
        }
        let timeout = options.timeoutSeconds > 0 ? " --timeout \(options.timeoutSeconds * 1000)" : ""
        var lines = [
            "#!ipxe",
            "# pxe-catalog boot menu: \(bootable.count) container(s), generated from the catalog.",
            "isset ${pxe_default} || set pxe_default \(defaultLabel)",
            ":menu",
            "menu \(IPXEText.sanitize(options.title, maximumLength: 72, fallback: "Boot menu"))",
        ]
        if !entries.isEmpty { lines.append("item --gap Containers:") }
        var number = 0
        for entry in entries {
            if case .notReady = entry.boot {
                lines.append("item --gap    \(IPXEText.sanitize(entry.name)) (being prepared, not ready to boot yet)")
                continue
            }
            number += 1
            let key = number <= 9 ? "--key \(number) " : ""
            lines.append("item \(key)\(labels[entry.id]!) \(itemText(entry, number: number))")
        }
        if !entries.isEmpty { lines.append("item --gap") }
        lines += [
            "item --key l local Boot from local disk",
            "choose --default ${pxe_default}\(timeout) selected || goto local",
            "goto ${selected}",
        ]
        for entry in bootable {
            let label = labels[entry.id]!
            let name = IPXEText.sanitize(entry.name)
            lines.append(":\(label)")
            lines += bootLines(entry, name: name, prefix: "../", failed: "\(label)_failed", options: options, sanBaseURL: sanBaseURL)
            lines += [
                "goto menu",
                ":\(label)_failed",
                "echo Could not boot \(name). Back to the menu, with the local disk as default.",
                "set pxe_default local",
                "sleep 3",
                "goto menu",
            ]
        }
        lines += [
            ":local",
            "echo Booting from local disk ...",
            "sanboot --no-describe --drive 0x80 || exit",
            "exit",
            "",
        ]
        return lines.joined(separator: "\n")
    }

    /// The commands that boot one entry; each failure goes to `failed`. `prefix` leads from the
    /// script's URI to the server's root (`../` from `/pxe/menu.ipxe`).
    static func bootLines(_ entry: MenuEntry, name: String, prefix: String, failed: String, options: MenuOptions, sanBaseURL: String?) -> [String] {
        let suffix = options.attributed ? "?${pxe_machine}" : ""
        let part = { (file: String) in url("containers/\(entry.id)/\(file)", relative: "\(prefix)containers/\(entry.id)/\(file)", options) + suffix }
        if entry.bootsThroughEntryScript, case .linux = entry.boot {
            return ["echo Booting \(name) ...",
                    "chain --replace --autofree \(url("pxe/\(entry.id)/boot.ipxe", relative: "\(prefix)pxe/\(entry.id)/boot.ipxe", options))\(suffix) || goto \(failed)"]
        }
        switch entry.boot {
        case let .linux(commandLine, hasInitrd):
            // `initrd=initrd` names the initrd for EFI stub kernels; BIOS kernels ignore it.
            let arguments = ([hasInitrd ? "initrd=initrd" : ""] + [commandLine]).filter { !$0.isEmpty }.joined(separator: " ")
            var lines = ["echo Booting \(name) ...",
                         "kernel \(part("kernel"))\(arguments.isEmpty ? "" : " " + arguments) || goto \(failed)"]
            if hasInitrd { lines.append("initrd --name initrd \(part("initrd")) || goto \(failed)") }
            lines.append("boot || goto \(failed)")
            return lines
        case .disk:
            guard let base = sanBaseURL else {
                return ["echo \(name) is a disk image, booted by SAN boot, which needs an absolute URL: set menu.public_base_url.",
                        "goto \(failed)"]
            }
            return ["iseq ${platform} pcbios || echo \(name) is a disk image with a BIOS boot sector, and this machine does not boot with a BIOS.",
                    "iseq ${platform} pcbios || goto \(failed)",
                    "echo Booting \(name) ...",
                    "sanboot --no-describe \(base)/containers/\(entry.id)/disk\(suffix) || goto \(failed)"]
        case .notReady:
            return ["goto \(failed)"]
        }
    }

    /// The longest item text that iPXE shows whole beside a countdown: its menu is 78 columns
    /// wide with 2 of padding on each side (74 for text), and the default item's "(NNN)"
    /// timeout is drawn over the right end of its line.
    static let itemTextColumns = 68
    /// Below this many columns a description says too little to be worth its " - ".
    static let shortestDescription = 8

    /// `1. Name (linux, 8.6 MiB, debian) - description`: the description (sanitised like the
    /// name) is cut to what is left of `itemTextColumns`, or left out when too little is.
    static func itemText(_ entry: MenuEntry, number: Int) -> String {
        var details: [String] = []
        switch entry.boot {
        case .linux: details.append("linux")
        case .disk: details.append("disk, BIOS only")
        case .notReady: break
        }
        details.append(IPXEText.size(entry.size))
        if let distro = entry.distro { details.append(IPXEText.sanitize(distro, maximumLength: 24)) }
        let prefix = number <= 9 ? "\(number). " : ""
        let text = "\(prefix)\(IPXEText.sanitize(entry.name)) (\(details.joined(separator: ", ")))"
        let room = itemTextColumns - text.count - 3
        guard let description = entry.description, room >= shortestDescription else { return text }
        let shown = IPXEText.sanitize(description, maximumLength: room, fallback: "")
        return shown.isEmpty ? text : "\(text) - \(shown)"
    }

    static func url(_ path: String, relative: String, _ options: MenuOptions) -> String {
        guard var base = options.publicBaseURL else { return relative }
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/" + path
    }

    /// `http://HOST` from a request's Host header when it is a plain host name or address with
    /// an optional port (nothing a script could be steered with); nil otherwise.
    package static func baseURL(fromHost host: String?) -> String? {
        // Bytes, not Characters: asked on every menu request, and only ASCII is allowed anyway
        // (`Character.isHexDigit` would also take fullwidth digits).
        guard let host, !host.isEmpty, host.utf8.count <= 255 else { return nil }
        let bytes = Array(host.utf8)
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        func isLetter(_ byte: UInt8, upTo last: UInt8 = UInt8(ascii: "z")) -> Bool {
            (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= last
        }
        var rest: ArraySlice<UInt8>
        if bytes[0] == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let address = bytes[1..<close]
            guard !address.isEmpty, address.allSatisfy({ isDigit($0) || isLetter($0, upTo: UInt8(ascii: "f")) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else { return nil }
            rest = bytes[(close + 1)...]
        } else {
            let nameEnd = bytes.firstIndex(of: UInt8(ascii: ":")) ?? bytes.endIndex
            let name = bytes[..<nameEnd]
            guard !name.isEmpty, name.allSatisfy({ isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else { return nil }
            rest = bytes[nameEnd...]
        }
        if !rest.isEmpty {
            guard rest.first == UInt8(ascii: ":"), rest.count > 1, rest.count <= 6, rest.dropFirst().allSatisfy(isDigit) else { return nil }
        }
        return "http://" + host
    }
}
