import BootScripts
import PXECatalog
import PXEHosts
import PXESettings

/// GRUB's files for the TFTP root, derived from the catalog state, the settings and the host
/// policy (never the truth: rewritten whenever one of them changes): the shared menu, one menu
/// per machine that a host rule or a one-shot next boot shapes, and where each ready Linux
/// entry's kernel and initrd are in the boot cache.
package struct GRUBTree: Sendable, Equatable {
    /// A boot part in the cache: its directory's key and the file in it.
    package struct Part: Sendable, Equatable {
        package var key: String
        package var file: String
    }

    /// Menus by path relative to the TFTP root (`grub/grub.cfg`, `grub/host-<mac>.cfg`).
    package var menus: [String: String]
    /// Boot parts by path relative to the TFTP root (`pxe-catalog/<id>/kernel`).
    package var parts: [String: Part]
}

/// What a `GRUBTree` is made from, compared four times a second by the worker that writes it.
package struct GRUBTreeVersion: Sendable, Equatable {
    var catalog: CatalogRevision
    var rules: HostRules
    var nextBoots: [String: NextBoot]
    var configuration: Int
    /// Answer-file tokens in machines' menus: renewed when one is used or ages.
    var answerTokens: [Int]
}

extension ScriptRoutes {
    func grubTreeVersion() -> GRUBTreeVersion {
        let context = self.context
        let answers = context.answers.templates.templates.isEmpty || context.answers.tftpMachinesBaseURL == nil ? [] : tokens.epoch()
        return GRUBTreeVersion(catalog: store.revision, rules: rules.effective, nextBoots: nextBoots.pending, configuration: currentContext.generation,
                               answerTokens: answers)
    }

    /// A machine GRUB can tell apart with what shapes its menu.
    private struct ShapedMachine {
        var mac: String
        var rule: HostRule?
        var bootAtOnce: String?
    }

    /// The machines that get a menu of their own: GRUB knows its MAC and nothing else of
    /// itself, so these are the MACs that rules, labels and one-shots name. (Rules that match on
    /// a hostname, UUID or serial shape the menus iPXE serves, not these.)
    private func shapedMachines() -> [ShapedMachine] {
        let pending = nextBoots.pending
        let effective = rules.effective
        var macs = Set(pending.keys).union(effective.labels.keys)
        for rule in effective.rules { macs.formUnion(rule.selector.macs) }
        return macs.sorted().compactMap { mac in
            let rule = effective.rule(for: Self.grubMachine(mac))
            let oneShot = pending[mac]?.entry
            guard rule != nil || oneShot != nil else { return nil }
            return ShapedMachine(mac: mac, rule: rule, bootAtOnce: oneShot ?? rule?.policy.boot)
        }
    }

    /// The tree as it should be now.
    package func grubTree() -> GRUBTree {
        let state = store.current
        let context = self.context
        let machines = shapedMachines()
        var menus = [GRUBScripts.menuPath: grubMenu(state: state, context: context, rule: nil, machines: machines.map(\.mac))]
        for machine in machines {
            menus[GRUBScripts.hostPath(mac: machine.mac)] = grubMenu(state: state, context: context, rule: machine.rule, bootAtOnce: machine.bootAtOnce,
                                                                     answersFor: machine.mac)
        }
        var parts: [String: GRUBTree.Part] = [:]
        for (entry, _) in state.pxeEntries() {
            let status = state.bootStatus(entry.id)
            guard status.state == .ready, status.kind == .linux, let key = status.cacheKey else { continue }
            for part in [BootPart.kernel, .initrd] where status.parts[part] != nil {
                parts[GRUBScripts.partPath(id: entry.id, part: part.rawValue)] = GRUBTree.Part(key: key, file: part.fileName)
            }
        }
        return GRUBTree(menus: menus, parts: parts)
    }

    /// `answersFor`: the machine whose own menu this is: entries that ask for its answer-file
    /// URL get one (a token that lasts; see `AnswerTokenBook.lasting`). The shared menu has none.
    private func grubMenu(state: CatalogState, context: APIContext, rule: HostRule?, bootAtOnce: String? = nil, machines: [String] = [],
                          answersFor mac: String? = nil) -> String {
        var answersURL: ((CatalogEntry, PXESetting) -> String?)?
        if let mac, let base = context.answers.tftpMachinesBaseURL {
            answersURL = { entry, setting in
                guard let template = Self.answerTemplate(entry, setting, context: context, rule: rule) else { return nil }
                let token = tokens.lasting(machine: Self.grubMachine(mac), mac: mac, entry: entry.id, template: template.name)
                return ProvisionRoutes.url(base: base, mac: mac, token: token, template: template)
            }
        }
        return GRUBScripts.menu(menuEntries(state: state, context: context, rule: rule, answersURL: answersURL),
                                options: Self.options(context.menu, rule: rule, attributed: false), machines: machines, bootAtOnce: bootAtOnce)
    }

    /// What GRUB can say of the machine it runs on.
    static func grubMachine(_ mac: String) -> MachineIdentity { MachineIdentity(mac: mac, platform: "efi", buildarch: "x86_64") }

    /// `GET /pxe/grub.cfg`: the shared GRUB menu, for inspection and for GRUBs that can read
    /// HTTP (the TFTP tree holds the same text).
    func grubMenuResponse() -> HTTPResponse {
        .text(grubMenu(state: store.current, context: context, rule: nil, machines: shapedMachines().map(\.mac)))
    }
}
