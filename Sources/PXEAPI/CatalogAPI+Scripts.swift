import BootScripts
import PXECatalog

/// The iPXE scripts: `/pxe/boot.ipxe`, `/pxe/menu.ipxe` and `/pxe/{id}/boot.ipxe`.
extension CatalogAPI {
    func bootScript() -> HTTPResponse {
        .text(IPXEScripts.bootScript(options: context.menu))
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

    func menuScript(_ request: HTTPRequest) -> HTTPResponse {
        let base = sanBaseURL(request)
        // The revision alone (not the whole state) on the path a boot storm takes.
        return menuCache.value(for: MenuKey(revision: store.revision, sanBase: base)) {
            let state = store.current
            let context = self.context
            let entries = Self.pxeEntries(state).compactMap { Self.menuEntry($0.0, $0.1, state: state, context: context) }
            return HTTPResponse.text(IPXEScripts.menuScript(entries, options: context.menu, sanBaseURL: base))
        }
    }

    /// An enabled, valid entry's script: its boot commands, or (not bootable, not ready) a
    /// script that prints why and returns to the firmware.
    func entryScript(id: String, request: HTTPRequest) throws(APIError) -> HTTPResponse {
        let state = store.current
        guard CatalogEntry.isWellFormedID(id),
              let (entry, setting) = Self.pxeEntries(state).first(where: { $0.0.id == id }) else {
            throw APIError(.notFound, "No bootable container with that id: it is unknown, invalid or disabled.")
        }
        let status = state.bootStatus(id)
        let menuEntry = Self.menuEntry(entry, setting, state: state, context: context)
            ?? MenuEntry(id: id, name: setting.menuName ?? entry.displayName, size: entry.size, distro: entry.metadata.distro,
                         boot: .notReady(reason: status.problem ?? "it boots nothing"))
        return .text(IPXEScripts.entryScript(menuEntry, options: context.menu, sanBaseURL: sanBaseURL(request)))
    }

    /// What the menu offers for an entry: its boot when ready and bootable, a "being prepared"
    /// line while pending, nothing when it cannot boot (failed, not prepared, boots nothing).
    static func menuEntry(_ entry: CatalogEntry, _ setting: PXESetting, state: CatalogState, context: APIContext) -> MenuEntry? {
        let status = state.bootStatus(entry.id)
        let boot: MenuEntry.Boot
        switch (status.state, status.kind) {
        case (.pending, _), (.preparing, _):
            boot = .notReady(reason: "it is being prepared, try again shortly")
        case (.ready, .linux?):
            boot = .linux(commandLine: commandLine(entry, setting, context: context), hasInitrd: status.parts[.initrd] != nil)
        case (.ready, .disk?):
            boot = .disk
        default:
            return nil
        }
        return MenuEntry(id: entry.id, name: setting.menuName ?? entry.displayName, size: entry.size, distro: entry.metadata.distro, boot: boot)
    }

    /// The command line a Linux entry boots with: the entry's own (set through the API) or the
    /// container's, then `boot.cmdline_append`; sanitised for the `kernel` line.
    static func commandLine(_ entry: CatalogEntry, _ setting: PXESetting, context: APIContext) -> String {
        let own = setting.commandLine ?? entry.metadata.kernelCommandLine ?? ""
        return IPXEText.commandLine([own, context.commandLineAppend].filter { !$0.isEmpty }.joined(separator: " "))
    }
}
