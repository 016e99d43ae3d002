import BootScripts
import PXECatalog
import PXEHosts
import PXESettings

/// GRUB's files for the TFTP root, derived from the catalog state, the settings and the host
/// policy (never the truth: rewritten whenever one of them changes): the shared menu, one menu
/// per machine that a host rule or a one-shot next boot shapes, and where each ready Linux
/// entry's kernel and initrd are in the boot cache.
package struct GRUBTree: Sendable, Equatable {
    /// Menus by path relative to the TFTP root (`grub/grub.cfg`, `grub/host-<mac>.cfg`).
    package var menus: [String: String]
    /// Boot parts by path relative to the TFTP root (`pxe-catalog/<id>/kernel`): the cache
    /// directory's key and the file in it.
    package var parts: [String: (key: String, file: String)]

    package static func == (lhs: GRUBTree, rhs: GRUBTree) -> Bool {
        lhs.menus == rhs.menus && lhs.parts.count == rhs.parts.count
            && lhs.parts.allSatisfy { path, part in rhs.parts[path].map { $0 == part } ?? false }
    }
}

/// What a `GRUBTree` is made from, compared four times a second by the worker that writes it.
package struct GRUBTreeVersion: Sendable, Equatable {
    var catalog: CatalogRevision
    var rules: HostRules
    var nextBoots: [String: NextBoot]
    var configuration: Int
}

extension ScriptRoutes {
    func grubTreeVersion() -> GRUBTreeVersion {
        GRUBTreeVersion(catalog: store.revision, rules: rules.effective, nextBoots: nextBoots.pending, configuration: currentContext.generation)
    }

    /// The tree as it should be now.
    package func grubTree() -> GRUBTree {
        let state = store.current
        let context = self.context
        let pending = nextBoots.pending
        let effective = rules.effective
        // The machines GRUB can tell apart: by MAC, the one thing it knows of itself. Rules
        // that match on a hostname, UUID or serial shape the menus iPXE serves, not these.
        var macs = Set(pending.keys).union(effective.labels.keys)
        for rule in effective.rules { macs.formUnion(rule.selector.macs) }
        var menus = [GRUBScripts.menuPath: grubMenu(state: state, context: context, rule: nil, bootAtOnce: nil, machines: [])]
        var machines: [String] = []
        for mac in macs.sorted() {
            let rule = effective.rule(for: MachineIdentity(mac: mac, platform: "efi", buildarch: "x86_64"))
            let oneShot = pending[mac]?.entry
            guard rule != nil || oneShot != nil else { continue }
            machines.append(mac)
            menus[GRUBScripts.hostPath(mac: mac)] = grubMenu(state: state, context: context, rule: rule,
                                                             bootAtOnce: oneShot ?? rule?.policy.boot, machines: [])
        }
        if !machines.isEmpty {
            menus[GRUBScripts.menuPath] = grubMenu(state: state, context: context, rule: nil, bootAtOnce: nil, machines: machines)
        }
        var parts: [String: (key: String, file: String)] = [:]
        for (entry, _) in state.pxeEntries() {
            let status = state.bootStatus(entry.id)
            guard status.state == .ready, status.kind == .linux, let key = status.cacheKey else { continue }
            for part in [BootPart.kernel, .initrd] where status.parts[part] != nil {
                parts[GRUBScripts.partPath(id: entry.id, part: part.rawValue)] = (key, part.fileName)
            }
        }
        return GRUBTree(menus: menus, parts: parts)
    }

    func grubMenu(state: CatalogState, context: APIContext, rule: HostRule?, bootAtOnce: String?, machines: [String]) -> String {
        var entries = state.pxeEntries()
        if let offered = rule?.policy.entries {
            let allowed = Set(offered)
            entries.removeAll { !allowed.contains($0.0.id) }
        }
        let menuEntries = entries.compactMap { Self.menuEntry($0.0, $0.1, state: state, context: context, rule: rule) }
        return GRUBScripts.menu(menuEntries, options: Self.options(context.menu, rule: rule, attributed: false),
                                machines: machines, bootAtOnce: bootAtOnce)
    }

    /// `GET /pxe/grub.cfg`: the shared GRUB menu, for inspection and for GRUBs that can read
    /// HTTP (the TFTP tree holds the same text).
    func grubMenuResponse() -> HTTPResponse {
        .text(grubTree().menus[GRUBScripts.menuPath] ?? "")
    }
}
