/// A setting of an entry that an admin edit or the menu file changes.
package enum SettingsField: String, Sendable, CaseIterable, Comparable {
    case enabled, bootOrder = "boot_order", name, description, cmdline

    package static func < (a: SettingsField, b: SettingsField) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// A change to a text field of an entry's menu settings.
package enum FieldChange<Value: Sendable & Equatable>: Sendable, Equatable {
    case keep
    case set(Value)
    /// Back to the catalog's value.
    case reset

    /// The new value (`.some(nil)`: back to the container's), or nil to keep it.
    package var newValue: Value?? {
        switch self {
        case .keep: return .none
        case let .set(value): return .some(value)
        case .reset: return .some(nil)
        }
    }
}

/// What an admin change does to one entry's settings.
package enum SettingsEdit: Sendable {
    case enabled(Bool)
    case menu(name: FieldChange<String>, description: FieldChange<String>, commandLine: FieldChange<String>, bootOrder: Int?)

    /// The fields the edit touches, in the order a refusal names the first owned one.
    package var fields: [SettingsField] {
        switch self {
        case .enabled: return [.enabled]
        case let .menu(name, description, commandLine, bootOrder):
            var fields: [SettingsField] = []
            if name != .keep { fields.append(.name) }
            if description != .keep { fields.append(.description) }
            if commandLine != .keep { fields.append(.cmdline) }
            if bootOrder != nil { fields.append(.bootOrder) }
            return fields
        }
    }

    /// The edit inside the store's transaction: reads the entry as the store has it (another
    /// node may have changed it), checks the revision, writes what differs, one audit record per
    /// field that changed. Returns the settings as it left them.
    func apply(to id: String, actor: String, expectedRevision: Int64?, in transaction: any SettingsTransaction) throws -> PXESetting {
        guard var setting = try transaction.setting(id) else { throw SettingsChangeError.unknownEntry(id) }
        if let expectedRevision, setting.revision != expectedRevision {
            throw SettingsChangeError.revisionMismatch(id: id, current: setting.revision)
        }
        let before = setting
        var changes: [(field: String, old: String?, new: String?)] = []
        func change(_ field: String, _ old: String?, _ new: String?) { if old != new { changes.append((field, old, new)) } }
        var bootOrder: Int?
        switch self {
        case let .enabled(flag):
            setting.enabled = flag
            change("enabled", String(before.enabled), String(flag))
        case let .menu(name, description, commandLine, order):
            if case let .some(text) = name.newValue { setting.menuName = text }
            if case let .some(text) = description.newValue { setting.menuDescription = text }
            if case let .some(text) = commandLine.newValue { setting.commandLine = text }
            change("name", before.menuName, setting.menuName)
            change("description", before.menuDescription, setting.menuDescription)
            change("cmdline", before.commandLine, setting.commandLine)
            bootOrder = order
        }
        if let bootOrder {
            // Moving shifts others: done on every row, in this transaction, so that concurrent
            // moves on several nodes leave the orders dense and unique.
            let stored = try transaction.allSettings()
            var updated = stored
            updated[id] = setting
            updated.move(id, to: bootOrder)
            setting = updated[id]!
            change("boot_order", String(before.bootOrder), String(setting.bootOrder))
            guard !changes.isEmpty else { return before }
            try transaction.replace(stored, with: updated)
        } else {
            guard !changes.isEmpty else { return before }
            try transaction.save(id, setting)
        }
        for change in changes { try transaction.record(actor: actor, entry: id, field: change.field, old: change.old, new: change.new) }
        return setting
    }
}

/// Why a change of the settings was refused or not made; nothing was changed.
package enum SettingsChangeError: Error, Equatable, CustomStringConvertible {
    case unknownEntry(String)
    /// `If-Match` named another revision than the entry's (it changed meanwhile).
    case revisionMismatch(id: String, current: Int64)
    /// The change could not be made durable.
    case settingsNotSaved(SettingsStoreError)
    /// The menu file sets this field of this entry; only the file may change it.
    case ownedByMenuFile(id: String, field: String, file: String, overridable: Bool)

    package var description: String {
        switch self {
        case let .unknownEntry(id): return "No container with id \(id) is in the catalog."
        case let .revisionMismatch(id, current): return "Entry \(id) is at revision \(current)."
        case let .settingsNotSaved(error): return "The settings could not be saved (\(error.description)); nothing was changed."
        case let .ownedByMenuFile(id, field, file, overridable):
            return "The \(field) of entry \(id) is set by the menu file \(file) (menu.file); change it there"
                + (overridable ? ", or list \"\(field)\" in the file's api_may_override." : ": the file's order is the menu's.")
        }
    }
}
