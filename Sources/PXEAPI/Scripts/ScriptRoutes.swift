import BootScripts
import PXECatalog
import PXEHosts
import PXESettings

/// `/pxe/boot.ipxe`, `/pxe/menu.ipxe` and `/pxe/{id}/boot.ipxe`.
enum ScriptRoute: Equatable, Sendable {
    case boot, menu, entry(String), grubMenu

    init?(path: String) {
        switch path {
        case "/pxe/boot.ipxe": self = .boot
        case "/pxe/menu.ipxe": self = .menu
        case "/pxe/grub.cfg": self = .grubMenu
        default:
            guard let (id, tail) = Route.entryPath(path), tail == "boot.ipxe" else { return nil }
            self = .entry(id)
        }
    }

    var metricName: String {
        switch self {
        case .boot: return "boot_script"
        case .menu: return "menu_script"
        case .entry: return "entry_script"
        case .grubMenu: return "grub_menu"
        }
    }

    /// The entry script is a step of a boot whatever its answer; the others note their own.
    var bootEvent: BootEventNote? {
        guard case let .entry(id) = self else { return nil }
        return BootEventNote(kind: .entryScript, entry: id)
    }
}

/// The iPXE scripts: `/pxe/boot.ipxe`, `/pxe/menu.ipxe` and `/pxe/{id}/boot.ipxe`. The menu
/// and entry scripts are shaped by the machine that asks (its host rule, its one-shot next
/// boot) and carry its identity on every URI they fetch.
struct ScriptRoutes: Sendable {
    let store: CatalogStore
    let currentContext: CurrentContext
    var context: APIContext { currentContext.value }
    /// One-shot next boots: the menu of a machine that has one boots it (and takes it).
    let nextBoots: NextBootBook
    /// Shape the menu per machine (default, timeout, extra command line).
    let rules: HostRuleBook
    /// Answer-file tokens: an entry script minted for a machine carries its URL.
    let tokens: AnswerTokenBook

    /// Renderings kept per catalog state: a boot storm asks for the same answers thousands of
    /// times between two changes.
    struct MenuKey: Equatable, Sendable {
        var revision: CatalogRevision
        /// The absolute base `sanboot` URLs were rendered with (from the request's Host).
        var sanBase: String?
    }
    /// Menus of one catalog state, one per host rule that shapes them (nil: no rule) and per
    /// attribution (whether URIs carry the machine's identity).
    struct MenuVariant: Hashable, Sendable {
        var rule: String?
        var attributed: Bool
    }
    let menuCache = RevisionCache<MenuKey, [MenuVariant: HTTPResponse]>()

    func invalidate() { menuCache.invalidate() }

    func respond(_ route: ScriptRoute, request: HTTPRequest) throws(APIError) -> HTTPResponse {
        switch route {
        case .boot: return bootScript()
        case .menu: return menuScript(request)
        case let .entry(id): return try entryScript(id: id, request: request)
        case .grubMenu: return grubMenuResponse()
        }
    }

    /// `mac=${net0/mac:hexhyp}&uuid=${uuid}&...`: what `boot.ipxe` asks iPXE to send.
    static let identityQueryTemplate = IdentityField.allCases.map { "\($0.rawValue)=\($0.ipxeExpansion)" }.joined(separator: "&")

    func bootScript() -> HTTPResponse {
        var response = HTTPResponse.text(IPXEScripts.bootScript(options: context.menu, identityQuery: Self.identityQueryTemplate))
        response.bootEvent = BootEventNote(kind: .bootScript)
        return response
    }

    /// The absolute base `sanboot` needs: the configured package base URL, else one built from
    /// the request's Host header (validated), else nil.
    func sanBaseURL(_ request: HTTPRequest) -> String? {
        if let base = context.menu.publicBaseURL {
            var trimmed = base
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            return trimmed
        }
        return IPXEScripts.baseURL(fromHost: request.headers["host"])
    }

    /// The menu options for a machine under `rule` (its default and timeout), attributed when
    /// the machine said who it is.
    static func options(_ base: MenuOptions, rule: HostRule?, attributed: Bool) -> MenuOptions {
        var options = base
        options.attributed = attributed
        if let seconds = rule?.policy.timeoutSeconds { options.timeoutSeconds = seconds }
        switch rule?.policy.defaultChoice {
        case "local"?: options.defaultChoice = .local
        case "first"?: options.defaultChoice = .first
        case let id?: options.defaultChoice = .entry(id)
        case nil: break
        }
        return options
    }

    func menuScript(_ request: HTTPRequest) -> HTTPResponse {
        let machine = request.query.isEmpty ? MachineIdentity() : MachineIdentity(query: request.query)
        let context = self.context
        let rule = machine.isEmpty ? nil : rules.effective.rule(for: machine)
        // A one-shot first, then the rule's direct boot: a script that hands over to the entry.
        // The one-shot is taken only when its entry can boot now (a worker that just started
        // may still be preparing it); otherwise it waits for the machine's next boot.
        if let mac = machine.mac, let pending = nextBoots.pending[mac] {
            if directBoot(pending.entry, machine: machine) != nil {
                // Another request (or node) may take it first: then this one gets the usual menu.
                if let taken = nextBoots.take(mac: mac), var direct = directBoot(taken.entry, machine: machine) {
                    direct.bootEvent = BootEventNote(kind: .menu, entry: taken.entry, outcome: "next-boot")
                    return direct
                }
            } else {
                var response = menu(request, machine: machine, rule: rule, context: context)
                response.bootEvent = BootEventNote(kind: .menu, entry: pending.entry, outcome: "next-boot waiting: entry cannot boot now")
                return response
            }
        }
        if let rule, let id = rule.policy.boot, var response = directBoot(id, machine: machine) {
            response.bootEvent = BootEventNote(kind: .menu, entry: id, outcome: "direct:\(rule.name)")
            return response
        }
        var response = menu(request, machine: machine, rule: rule, context: context)
        response.bootEvent = BootEventNote(kind: .menu, outcome: rule.map { "rule:\($0.name)" } ?? "menu")
        return response
    }

    private func menu(_ request: HTTPRequest, machine: MachineIdentity, rule: HostRule?, context: APIContext) -> HTTPResponse {
        let base = sanBaseURL(request)
        let attributed = !machine.isEmpty
        // The revision alone (not the whole state) on the path a boot storm takes.
        var response = menuCache.update(for: MenuKey(revision: store.revision, sanBase: base), initial: { [:] }) { variants in
            let variant = MenuVariant(rule: rule?.name, attributed: attributed)
            if let cached = variants[variant] { return cached }
            let state = store.current
            let rendered = HTTPResponse.text(IPXEScripts.menuScript(menuEntries(state: state, context: context, rule: rule), options: Self.options(context.menu, rule: rule, attributed: attributed),
                                                                    sanBaseURL: base))
            variants[variant] = rendered
            return rendered
        }
        if attributed { response.body = Array(IPXEScripts.attributed(response.bodyText, query: machine.query).utf8) }
        return response
    }

    /// What a menu (iPXE's or GRUB's) offers a machine under `rule`: the enabled entries in
    /// boot order, only those the rule offers.
    /// `answersURL`: the machine's answer-file URL for an entry (GRUB's own menus of machines).
    func menuEntries(state: CatalogState, context: APIContext, rule: HostRule?,
                     answersURL: ((CatalogEntry, PXESetting) -> String?)? = nil) -> [MenuEntry] {
        var entries = state.pxeEntries()
        if let offered = rule?.policy.entries {
            let allowed = Set(offered)
            entries.removeAll { !allowed.contains($0.0.id) }
        }
        return entries.compactMap { Self.menuEntry($0.0, $0.1, state: state, context: context, rule: rule, answersURL: answersURL?($0.0, $0.1)) }
    }

    /// A script that boots entry `id` at once (it chains the entry's own script, which carries
    /// the machine's identity on); nil when the entry cannot boot now.
    private func directBoot(_ id: String, machine: MachineIdentity) -> HTTPResponse? {
        let state = store.current
        guard let (entry, setting) = state.pxeEntries().first(where: { $0.0.id == id }),
              let menuEntry = Self.menuEntry(entry, setting, state: state, context: context, rule: nil), menuEntry.isBootable else { return nil }
        let query = machine.isEmpty ? "" : "?" + machine.query
        return .text("""
            #!ipxe
            # pxe-catalog: this machine boots \(IPXEText.sanitize(menuEntry.name)) without a menu.
            chain --replace --autofree \(id)/boot.ipxe\(query)

            """)
    }

    /// An enabled, valid entry's script: its boot commands, or (not bootable, not ready) a
    /// script that prints why and returns to the firmware.
    func entryScript(id: String, request: HTTPRequest) throws(APIError) -> HTTPResponse {
        let state = store.current
        guard CatalogEntry.isWellFormedID(id),
              let (entry, setting) = state.pxeEntries().first(where: { $0.0.id == id }) else {
            throw APIError(.notFound, "No bootable container with that id: it is unknown, invalid or disabled.")
        }
        let machine = request.query.isEmpty ? MachineIdentity() : MachineIdentity(query: request.query)
        let context = self.context
        let rule = machine.isEmpty ? nil : rules.effective.rule(for: machine)
        let status = state.bootStatus(id)
        let base = sanBaseURL(request)
        // The machine's own answer-file URL, with a token minted for it and this entry.
        var answersURL: String?
        var outcome: String?
        if let template = Self.answerTemplate(entry, setting, context: context, rule: rule) {
            if let mac = machine.mac, let base {
                let token = tokens.mint(machine: machine, mac: mac, entry: id, template: template.name)
                answersURL = ProvisionRoutes.url(base: base, mac: mac, token: token, template: template)
                outcome = "answers: \(template.name)"
            } else {
                outcome = "answers: none (the machine sent no MAC address, or the Host header is unusable)"
            }
        }
        var menuEntry = Self.menuEntry(entry, setting, state: state, context: context, rule: rule, answersURL: answersURL)
            ?? MenuEntry(id: id, name: setting.menuName ?? entry.displayName, size: entry.size, distro: entry.metadata.distro,
                         boot: .notReady(reason: status.problem ?? "it boots nothing"))
        menuEntry.bootsThroughEntryScript = false
        let script = IPXEScripts.entryScript(menuEntry, options: Self.options(context.menu, rule: nil, attributed: !machine.isEmpty),
                                             sanBaseURL: base)
        var response = HTTPResponse.text(machine.isEmpty ? script : IPXEScripts.attributed(script, query: machine.query))
        response.bootEvent = BootEventNote(kind: .entryScript, entry: id, outcome: outcome)
        return response
    }

    /// What the menu offers for an entry: its boot when ready and bootable, a "being prepared"
    /// line while pending, nothing when it cannot boot (failed, not prepared, boots nothing).
    /// `answersURL`: the machine's answer-file URL for the command line (nil: not known here;
    /// an entry that wants one is then booted through its own script, which makes it).
    static func menuEntry(_ entry: CatalogEntry, _ setting: PXESetting, state: CatalogState, context: APIContext, rule: HostRule? = nil,
                          answersURL: String? = nil) -> MenuEntry? {
        let status = state.bootStatus(entry.id)
        let boot: MenuEntry.Boot
        switch (status.state, status.kind) {
        case (.pending, _), (.preparing, _):
            boot = .notReady(reason: "it is being prepared, try again shortly")
        case (.ready, .linux?):
            boot = .linux(commandLine: commandLine(entry, setting, context: context, hostAppend: rule?.policy.commandLineAppend, answersURL: answersURL),
                          hasInitrd: status.parts[.initrd] != nil)
        case (.ready, .disk?):
            boot = .disk
        default:
            return nil
        }
        // The description set through the API (or the menu file), else the container's own, as
        // the name falls back to the container's.
        var menuEntry = MenuEntry(id: entry.id, name: setting.menuName ?? entry.displayName, description: setting.menuDescription ?? entry.metadata.description,
                                  size: entry.size, distro: entry.metadata.distro, boot: boot)
        menuEntry.kernelSigned = status.kernelSignature?.isSigned
        if answersURL == nil, case .linux = boot, answerTemplate(entry, setting, context: context, rule: rule) != nil {
            menuEntry.bootsThroughEntryScript = true
        }
        return menuEntry
    }

    /// The command line a Linux entry boots with: the entry's own (set through the API) or the
    /// container's, then `boot.cmdline_append`, then the machine's host rule's; the answer-file
    /// URL put in where it asks for it (`${provision_url}`; nothing when there is none);
    /// sanitised for the `kernel` line.
    static func commandLine(_ entry: CatalogEntry, _ setting: PXESetting, context: APIContext, hostAppend: String? = nil, answersURL: String? = nil) -> String {
        var line = rawCommandLine(entry, setting, context: context, hostAppend: hostAppend)
        if line.utf8.contains(UInt8(ascii: "$")) {
            line = line.replacingOccurrences(of: IPXEText.answerURLPlaceholder, with: answersURL ?? "")
        }
        return IPXEText.commandLine(line)
    }

    static func rawCommandLine(_ entry: CatalogEntry, _ setting: PXESetting, context: APIContext, hostAppend: String?) -> String {
        let own = setting.commandLine ?? entry.metadata.kernelCommandLine ?? ""
        return [own, context.commandLineAppend, hostAppend ?? ""].filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// The loaded template whose URL the entry's command line asks for, for a machine under
    /// `rule`; nil when the line does not ask or no template applies.
    static func answerTemplate(_ entry: CatalogEntry, _ setting: PXESetting, context: APIContext, rule: HostRule?) -> AnswerTemplate? {
        guard !context.answers.templates.templates.isEmpty, let name = context.answers.templateName(for: entry, rule: rule), let template = context.answers.templates[name],
              rawCommandLine(entry, setting, context: context, hostAppend: rule?.policy.commandLineAppend).contains(IPXEText.answerURLPlaceholder) else { return nil }
        return template
    }
}
