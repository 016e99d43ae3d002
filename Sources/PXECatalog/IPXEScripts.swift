/// How the boot menu looks and behaves (from the `menu` configuration section).
public struct MenuOptions: Sendable, Equatable {
    public enum DefaultChoice: Sendable, Equatable {
        case local
        case first
        case entry(String)
    }

    public var title: String
    /// Seconds before the default is chosen; 0 waits for the user.
    public var timeoutSeconds: Int
    public var defaultChoice: DefaultChoice
    /// Absolute base such as `http://boot.example.com`; nil: URIs relative to the script's own.
    public var publicBaseURL: String?

    public init(title: String = "pxe-catalog boot menu", timeoutSeconds: Int = 10, defaultChoice: DefaultChoice = .local,
                publicBaseURL: String? = nil) {
        self.title = title
        self.timeoutSeconds = timeoutSeconds
        self.defaultChoice = defaultChoice
        self.publicBaseURL = publicBaseURL
    }
}

/// One line of the boot menu.
public struct MenuEntry: Sendable, Equatable {
    public var id: String
    public var name: String
    public var size: Int64
    public var distro: String?

    public init(id: String, name: String, size: Int64, distro: String?) {
        self.id = id
        self.name = name
        self.size = size
        self.distro = distro
    }
}

/// Renders the iPXE scripts. Labels are generated (`entry1`, `local`), never taken from
/// metadata; every piece of text goes through `IPXEText.sanitize`. URIs are relative to the
/// script's own URI (iPXE resolves them) unless a public base URL is configured; the Host
/// header is never used.
public enum IPXEScripts {
    /// `/pxe/boot.ipxe`: hands over to the menu.
    public static func bootScript(options: MenuOptions) -> String {
        """
        #!ipxe
        # pxe-catalog: load the boot menu.
        chain --autofree \(url("pxe/menu.ipxe", relative: "menu.ipxe", options)) || goto failed
        exit
        :failed
        echo pxe-catalog: the boot menu could not be loaded. Trying the next boot device.
        sleep 3
        exit 1

        """
    }

    /// `/pxe/{id}/boot.ipxe`: boots one container; on failure returns to the firmware.
    public static func entryScript(_ entry: MenuEntry, options: MenuOptions) -> String {
        let name = IPXEText.sanitize(entry.name)
        return """
        #!ipxe
        # pxe-catalog: boot one container.
        echo Booting \(name) ...
        chain --autofree \(url("containers/\(entry.id)", relative: "../../containers/\(entry.id)", options)) || goto failed
        exit
        :failed
        echo pxe-catalog: could not boot \(name). Trying the next boot device.
        sleep 3
        exit 1

        """
    }

    /// `/pxe/menu.ipxe`: entries in boot order, then local disk. After a failed boot the default
    /// becomes the local disk, so an unattended machine does not retry the same entry forever.
    public static func menuScript(_ entries: [MenuEntry], options: MenuOptions) -> String {
        let labels = entries.indices.map { "entry\($0 + 1)" }
        var defaultLabel = "local"
        switch options.defaultChoice {
        case .local: break
        case .first: if !entries.isEmpty { defaultLabel = labels[0] }
        case let .entry(id): if let index = entries.firstIndex(where: { $0.id == id }) { defaultLabel = labels[index] }
        }
        let timeout = options.timeoutSeconds > 0 ? " --timeout \(options.timeoutSeconds * 1000)" : ""
        var lines = [
            "#!ipxe",
            "# pxe-catalog boot menu: \(entries.count) container(s), generated from the catalog.",
            "isset ${pxe_default} || set pxe_default \(defaultLabel)",
            ":menu",
            "menu \(IPXEText.sanitize(options.title, maximumLength: 72, fallback: "Boot menu"))",
        ]
        if !entries.isEmpty { lines.append("item --gap Containers:") }
        for (index, entry) in entries.enumerated() {
            let key = index < 9 ? "--key \(index + 1) " : ""
            lines.append("item \(key)\(labels[index]) \(itemText(entry, number: index + 1))")
        }
        if !entries.isEmpty { lines.append("item --gap") }
        lines += [
            "item --key l local Boot from local disk",
            "choose --default ${pxe_default}\(timeout) selected || goto local",
            "goto ${selected}",
        ]
        for (index, entry) in entries.enumerated() {
            let label = labels[index]
            let name = IPXEText.sanitize(entry.name)
            lines += [
                ":\(label)",
                "echo Booting \(name) ...",
                "chain --autofree \(url("containers/\(entry.id)", relative: "../containers/\(entry.id)", options)) || goto \(label)_failed",
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

    static func itemText(_ entry: MenuEntry, number: Int) -> String {
        var details = [IPXEText.size(entry.size)]
        if let distro = entry.distro { details.append(IPXEText.sanitize(distro, maximumLength: 24)) }
        let prefix = number <= 9 ? "\(number). " : ""
        return "\(prefix)\(IPXEText.sanitize(entry.name)) (\(details.joined(separator: ", ")))"
    }

    static func url(_ path: String, relative: String, _ options: MenuOptions) -> String {
        guard var base = options.publicBaseURL else { return relative }
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/" + path
    }
}
