/// The PXE settings of one catalog entry, kept by id so they survive rescans and come back
/// when a vanished file reappears.
package struct PXESetting: Sendable, Equatable {
    package var enabled: Bool
    /// Position in the boot menu; unique across all known ids.
    package var bootOrder: Int
    /// Menu texts, boxed: most entries have none, and a setting is kept for every id.
    private var menu: MenuTexts?
    /// Since when (Unix seconds) the entry has been missing from the catalog; nil while present.
    /// Settings of an entry missing longer than the retention are forgotten.
    package var missingSince: Int64?
    /// The settings store's revision of the change that last wrote these settings (0: never
    /// stored). Clients send it back in `If-Match` so that a change made meanwhile is not lost.
    package var revision: Int64 = 0

    /// Immutable, so sharing it between copies is safe; replaced as a whole on change.
    final class MenuTexts: Sendable, Equatable {
        let name: String?
        let description: String?
        let commandLine: String?
        init(name: String?, description: String?, commandLine: String?) {
            self.name = name
            self.description = description
            self.commandLine = commandLine
        }
        static func == (a: MenuTexts, b: MenuTexts) -> Bool {
            a.name == b.name && a.description == b.description && a.commandLine == b.commandLine
        }
    }

    package init(enabled: Bool = true, bootOrder: Int, menuName: String? = nil, menuDescription: String? = nil,
                commandLine: String? = nil, missingSince: Int64? = nil, revision: Int64 = 0) {
        self.enabled = enabled
        self.bootOrder = bootOrder
        self.missingSince = missingSince
        self.revision = revision
        setMenu(name: menuName, description: menuDescription, commandLine: commandLine)
    }

    package var menuName: String? {
        get { menu?.name }
        set { setMenu(name: newValue, description: menuDescription, commandLine: commandLine) }
    }

    package var menuDescription: String? {
        get { menu?.description }
        set { setMenu(name: menuName, description: newValue, commandLine: commandLine) }
    }

    /// The kernel command line for this entry instead of the container's own (nil: its own).
    package var commandLine: String? {
        get { menu?.commandLine }
        set { setMenu(name: menuName, description: menuDescription, commandLine: newValue) }
    }

    /// The same settings, ignoring which revision wrote them.
    package func sameValues(as other: PXESetting) -> Bool {
        var copy = other
        copy.revision = revision
        return copy == self
    }

    private mutating func setMenu(name: String?, description: String?, commandLine: String?) {
        menu = name == nil && description == nil && commandLine == nil ? nil
            : MenuTexts(name: name, description: description, commandLine: commandLine)
    }
}

/// All PXE settings, by entry id.
package struct PXESettings: Sendable, Equatable {
    package private(set) var byID: [String: PXESetting]

    package init(byID: [String: PXESetting] = [:]) { self.byID = byID }

    package subscript(id: String) -> PXESetting? {
        get { byID[id] }
        set { byID[id] = newValue }
    }

    /// Makes room for `count` settings in all (before many are added at once).
    package mutating func reserveCapacity(_ count: Int) { byID.reserveCapacity(count) }

    /// Whether `adopt(ids)` would add any: a read, no copy of the settings.
    package func lacksAny(of ids: [String]) -> Bool { ids.contains { byID[$0] == nil } }

    /// Ids ordered by boot order.
    package var idsInBootOrder: [String] {
        byID.sorted { ($0.value.bootOrder, $0.key) < ($1.value.bootOrder, $1.key) }.map(\.key)
    }

    /// Moves `id` to `position` in the boot order (clamped to the end); the others shift so the
    /// orders stay unique and dense (0, 1, 2, ...).
    package mutating func move(_ id: String, to position: Int) {
        guard byID[id] != nil else { return }
        var order = idsInBootOrder.filter { $0 != id }
        order.insert(id, at: min(max(position, 0), order.count))
        for (index, key) in order.enumerated() { byID[key]!.bootOrder = index }
    }

    /// Notes which ids are missing from the catalog since when, and forgets the settings of those
    /// missing for at least `forgetAfter` seconds (nil: never); the remaining boot orders are
    /// renumbered densely in their order. Returns whether anything changed and the ids forgotten.
    package mutating func noteMissing(present: Set<String>, now: Int64, forgetAfter: Int64?) -> (changed: Bool, forgotten: [String]) {
        var changed = false
        var forgotten: [String] = []
        for (id, setting) in byID {
            if present.contains(id) {
                if setting.missingSince != nil {
                    byID[id]!.missingSince = nil
                    changed = true
                }
            } else if let since = setting.missingSince {
                if let forgetAfter, now - since >= forgetAfter { forgotten.append(id) }
            } else {
                byID[id]!.missingSince = now
                changed = true
            }
        }
        if !forgotten.isEmpty {
            for id in forgotten { byID[id] = nil }
            for (index, key) in idsInBootOrder.enumerated() { byID[key]!.bootOrder = index }
            changed = true
        }
        return (changed, forgotten.sorted())
    }

    /// Gives every id without settings the defaults: enabled, at the end of the boot order,
    /// in the order given. Returns the ids that were new.
    @discardableResult
    package mutating func adopt(_ ids: [String]) -> [String] {
        let new = ids.filter { byID[$0] == nil }
        // Nothing new: no write at all (the storage may be shared with the published state).
        guard !new.isEmpty else { return [] }
        var next = (byID.values.map(\.bootOrder).max() ?? -1) + 1
        // Room for all at once: a refresh that finds 10,000 new files would otherwise regrow
        // (and rehash) the dictionary a dozen times.
        byID.reserveCapacity(byID.count + new.count)
        var added: [String] = []
        added.reserveCapacity(new.count)
        for id in new {
            // An id given twice keeps its first setting.
            if let first = byID.updateValue(PXESetting(enabled: true, bootOrder: next), forKey: id) {
                byID[id] = first
                continue
            }
            next += 1
            added.append(id)
        }
        return added
    }
}
