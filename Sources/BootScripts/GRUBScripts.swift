/// Renders GRUB menus for UEFI machines that boot Debian's signed network GRUB through shim
/// (Secure Boot). That GRUB has no `http` and may load no module under Secure Boot, so it reads
/// its menu, the kernels and the initrds by TFTP from the server it came from: every path here
/// is absolute in the TFTP root and resolves against GRUB's `$root`, which is that server
/// (`(tftp,ADDRESS)`, from its prefix `/grub`). The same entries, order, names, descriptions,
/// default and timeout as the iPXE menu; labels (`entry1`, `local`) are generated, and every
/// piece of text from a file or a user goes through `GRUBText`.
package enum GRUBScripts {
    /// The TFTP tree, relative to its root.
    package static let menuPath = "grub/grub.cfg"
    /// Where a ready entry's kernel and initrd are linked: `pxe-catalog/<id>/kernel`.
    package static let partsDirectory = "pxe-catalog"

    /// The file of one machine (a host rule or a one-shot shapes its menu): `grub/host-52-54-00-12-34-56.cfg`.
    /// `mac`: normalised (`52:54:00:12:34:56`).
    package static func hostPath(mac: String) -> String {
        "grub/host-" + mac.replacingOccurrences(of: ":", with: "-") + ".cfg"
    }

    package static func partPath(id: String, part: String) -> String { "\(partsDirectory)/\(id)/\(part)" }

    /// A menu. `machines`: the normalised MACs that have their own file, to which GRUB turns
    /// before showing this menu (only in the shared menu; a machine's own file has none).
    /// `bootAtOnce`: an entry that boots without a menu (a one-shot next boot).
    package static func menu(_ entries: [MenuEntry], options: MenuOptions, machines: [String] = [], bootAtOnce: String? = nil) -> String {
        // GRUB boots an entry only by its kernel and initrd: a disk image (iPXE's SAN boot) is
        // listed with why it cannot boot here, never as a choice that fails after a download.
        let bootable = entries.filter { entry in
            if case .linux = entry.boot { return Hex.isLowercase(entry.id) }
            return false
        }
        let labels = Dictionary(uniqueKeysWithValues: bootable.enumerated().map { ($1.id, "entry\($0 + 1)") })
        var defaultLabel = "local"
        switch options.defaultChoice {
        case .local: break
        case .first: if let first = bootable.first { defaultLabel = labels[first.id] ?? "local" }
        case let .entry(id): if let label = labels[id] { defaultLabel = label }
        }
        // iPXE's timeout 0 waits for the user; GRUB's 0 boots at once and -1 waits.
        var timeout = options.timeoutSeconds > 0 ? options.timeoutSeconds : -1
        if let id = bootAtOnce, let label = labels[id] {
            defaultLabel = label
            timeout = 0
        }
        var lines = [
            "# pxe-catalog boot menu for GRUB: \(bootable.count) container(s), generated from the catalog.",
            "# Read by TFTP from this server, as are the kernels and initrds (Secure Boot: no http module).",
        ]
        if !machines.isEmpty {
            lines.append("# Machines with a host rule or a one-shot next boot have their own menu.")
            for mac in machines.sorted() where MACText.isNormalised(mac) {
                lines.append("if [ \"$net_default_mac\" = '\(mac)' ]; then configfile /\(hostPath(mac: mac)); fi")
            }
        }
        lines += [
            "set timeout=\(timeout)",
            "set default=\(defaultLabel)",
            // A boot that fails (a kernel the firmware refuses) falls back to the next boot option.
            "set fallback=local",
            "# \(IPXEText.sanitize(options.title, maximumLength: 72, fallback: "Boot menu"))",
        ]
        var number = 0
        for entry in entries {
            switch entry.boot {
            case let .linux(commandLine, hasInitrd):
                guard let label = labels[entry.id] else { continue }
                number += 1
                let name = GRUBText.display(entry.name)
                // No `initrd=initrd` (iPXE's name for its initrd): GRUB hands the initrd over
                // itself, and an EFI stub would look for a file of that name.
                let arguments = commandLine.split(separator: " ").map { GRUBText.quoted(String($0)) }
                let title = entry.kernelSigned == false
                    ? "\(number). \(IPXEText.sanitize(entry.name)) (unsigned kernel: needs Secure Boot off)"
                    : IPXEScripts.itemText(entry, number: number)
                lines += [
                    "menuentry \(GRUBText.quoted(title)) --id \(label) {",
                    "\techo \(GRUBText.quoted("Booting")) \(name) \(GRUBText.quoted("..."))",
                    "\tlinux /\(partPath(id: entry.id, part: "kernel"))" + (arguments.isEmpty ? "" : " " + arguments.joined(separator: " ")),
                ]
                if hasInitrd { lines.append("\tinitrd /\(partPath(id: entry.id, part: "initrd"))") }
                lines.append("}")
            case .disk:
                lines += [
                    "menuentry \(GRUBText.quoted(IPXEText.sanitize(entry.name) + " (disk image: boots with iPXE on BIOS only)")) {",
                    "\techo \(GRUBText.display(entry.name)) \(GRUBText.quoted("is a disk image, booted by iPXE's SAN boot on a BIOS machine; GRUB cannot boot it."))",
                    "\tsleep 3",
                    "}",
                ]
            case .notReady:
                lines += [
                    "menuentry \(GRUBText.quoted(IPXEText.sanitize(entry.name) + " (being prepared, not ready to boot yet)")) {",
                    "\techo \(GRUBText.display(entry.name)) \(GRUBText.quoted("is being prepared; try again shortly."))",
                    "\tsleep 3",
                    "}",
                ]
            }
        }
        lines += [
            "menuentry 'Boot from local disk' --id local {",
            "\techo 'Booting from local disk ...'",
            // Back to the firmware, which tries its next boot option.
            "\texit",
            "}",
            "",
        ]
        return lines.joined(separator: "\n")
    }

    /// Lowercase hex digits: what entry ids and MAC bytes are, and so what may appear unquoted
    /// in a TFTP path or a comparison.
    enum Hex {
        static func isLowercase(_ text: String) -> Bool {
            !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
    }

    enum MACText {
        /// `52:54:00:12:34:56`: six pairs of lowercase hex digits.
        static func isNormalised(_ mac: String) -> Bool {
            let pairs = mac.split(separator: ":", omittingEmptySubsequences: false)
            return pairs.count == 6 && pairs.allSatisfy { $0.utf8.count == 2 && Hex.isLowercase(String($0)) }
        }
    }
}
