/// The PXE settings of one catalog entry, kept by id so they survive rescans and come back
/// when a vanished file reappears.
public struct PXESetting: Sendable, Equatable {
    public var enabled: Bool
    /// Position in the boot menu; unique across all known ids.
    public var bootOrder: Int
    public var menuName: String?
    public var menuDescription: String?

    public init(enabled: Bool = true, bootOrder: Int, menuName: String? = nil, menuDescription: String? = nil) {
        self.enabled = enabled
        self.bootOrder = bootOrder
        self.menuName = menuName
        self.menuDescription = menuDescription
    }
}

/// All PXE settings, by entry id.
public struct PXESettings: Sendable, Equatable {
    public private(set) var byID: [String: PXESetting]

    public init(byID: [String: PXESetting] = [:]) { self.byID = byID }

    public subscript(id: String) -> PXESetting? {
        get { byID[id] }
        set { byID[id] = newValue }
    }

    /// Gives every id without settings the defaults: enabled, at the end of the boot order,
    /// in the order given. Returns the ids that were new.
    @discardableResult
    public mutating func adopt(_ ids: [String]) -> [String] {
        var next = (byID.values.map(\.bootOrder).max() ?? -1) + 1
        var added: [String] = []
        for id in ids where byID[id] == nil {
            byID[id] = PXESetting(enabled: true, bootOrder: next)
            next += 1
            added.append(id)
        }
        return added
    }
}
