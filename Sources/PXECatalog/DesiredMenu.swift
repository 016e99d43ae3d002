import Foundation
import PXESettings

/// The boot menu as a desired-state file (`menu.file`) describes it: which entries are offered,
/// in which order, under which names. Config management writes the file; the worker applies it
/// at start, on SIGHUP, to entries that appear later, and `pxe-catalog apply` applies it to a
/// running fleet through the settings store; `pxe-catalog plan` says what applying would change.
///
/// Each entry belongs to the first item that matches it (by id, or by a glob over its path in
/// its catalog root). Items' entries come first in the boot order, in the file's order (a glob's
/// entries sorted by path); the other entries keep their relative order after them.
package struct DesiredMenu: Sendable, Equatable {
    /// A setting the file can own.
    package typealias Field = SettingsField

    /// How an item picks entries.
    package enum Selector: Sendable, Equatable, CustomStringConvertible {
        case id(String)
        /// A shell glob (`fnmatch`, `*` stays within a directory) over the entry's path relative
        /// to its catalog root.
        case path(String)

        package func matches(_ entry: CatalogEntry) -> Bool {
            switch self {
            case let .id(id): return entry.id == id
            case let .path(pattern): return fnmatch(pattern, entry.relativePath, FNM_PATHNAME | FNM_PERIOD) == 0
            }
        }

        package var description: String {
            switch self {
            case let .id(id): return "id \(id)"
            case let .path(pattern): return "path \"\(pattern)\""
            }
        }
    }

    /// One line of the file: which entries, and the settings it gives them (`.keep` where the
    /// file says nothing; `.reset` is the container's own text).
    package struct Item: Sendable, Equatable {
        package var selector: Selector
        package var enabled: Bool?
        package var name: FieldChange<String> = .keep
        package var description: FieldChange<String> = .keep
        package var commandLine: FieldChange<String> = .keep
        /// The answer-file template its entries' machines get (not a setting: the file alone
        /// says it, see `answerTemplate(for:)`).
        package var answers: String?

        package init(selector: Selector, enabled: Bool? = nil, name: FieldChange<String> = .keep,
                     description: FieldChange<String> = .keep, commandLine: FieldChange<String> = .keep) {
            self.selector = selector
            self.enabled = enabled
            self.name = name
            self.description = description
            self.commandLine = commandLine
        }

        /// The fields this item sets (its entries' places in the boot order always).
        var fields: Set<Field> {
            var fields: Set<Field> = [.bootOrder]
            if enabled != nil { fields.insert(.enabled) }
            if name != .keep { fields.insert(.name) }
            if description != .keep { fields.insert(.description) }
            if commandLine != .keep { fields.insert(.cmdline) }
            return fields
        }
    }

    package var items: [Item]
    /// Fields the API may still change on the file's entries (the file sets them when it is
    /// applied and when a matching entry first appears). Never `.bootOrder`: the file's order is
    /// the menu's.
    package var apiMayOverride: Set<Field>
    /// The file's name without its directory, for messages.
    package var fileName: String

    package init(items: [Item], apiMayOverride: Set<Field> = [], fileName: String) {
        self.items = items
        self.apiMayOverride = apiMayOverride.subtracting([.bootOrder])
        self.fileName = fileName
    }

    /// The index of the item an entry belongs to.
    package func itemIndex(for entry: CatalogEntry) -> Int? { items.firstIndex { $0.selector.matches(entry) } }

    /// The answer-file template the file gives `entry` (its item's `answers`), if any.
    package func answerTemplate(for entry: CatalogEntry) -> String? { itemIndex(for: entry).flatMap { items[$0].answers } }

    /// The fields of `entry` that only the file may change (empty when the file does not list it).
    package func ownedFields(of entry: CatalogEntry) -> Set<Field> {
        guard let index = itemIndex(for: entry) else { return [] }
        return items[index].fields.subtracting(apiMayOverride)
    }

    /// `settings` with the file applied to `entries`, and what changed. Fields the API may
    /// override are set only on entries for which `setsOverridable` holds (all of them when the
    /// file is applied as a whole, new ones after a scan). Ids without settings are left alone.
    package func apply(to settings: PXESettings, entries: [CatalogEntry], setsOverridable: (String) -> Bool) -> (settings: PXESettings, plan: MenuPlan) {
        // Each entry to its item (one pass of selectors per entry), then items in file order.
        var byItem = [[CatalogEntry]](repeating: [], count: items.count)
        for entry in entries where settings[entry.id] != nil {
            if let index = itemIndex(for: entry) { byItem[index].append(entry) }
        }
        var claimed: [(item: Int, entry: CatalogEntry)] = []
        var unmatched: [Int] = []
        for (index, matched) in byItem.enumerated() {
            if matched.isEmpty { unmatched.append(index) }
            for entry in matched.sorted(by: { ($0.relativePath, $0.rootIndex) < ($1.relativePath, $1.rootIndex) }) { claimed.append((index, entry)) }
        }
        let taken = Set(claimed.map(\.entry.id))
        var updated = settings
        for (index, entry) in claimed {
            let item = items[index]
            let all = setsOverridable(entry.id)
            func sets(_ field: Field) -> Bool { all || !apiMayOverride.contains(field) }
            var setting = updated[entry.id]!
            if let enabled = item.enabled, sets(.enabled) { setting.enabled = enabled }
            if case let .some(text) = item.name.newValue, sets(.name) { setting.menuName = text }
            if case let .some(text) = item.description.newValue, sets(.description) { setting.menuDescription = text }
            if case let .some(text) = item.commandLine.newValue, sets(.cmdline) { setting.commandLine = text }
            updated[entry.id] = setting
        }
        let first = claimed.map(\.entry.id)
        let rest = settings.idsInBootOrder.filter { !taken.contains($0) }
        for (position, id) in (first + rest).enumerated() { updated[id]!.bootOrder = position }

        var changes: [MenuPlan.Change] = []
        for (_, entry) in claimed {
            let old = settings[entry.id]!, new = updated[entry.id]!
            func note(_ field: Field, _ before: String?, _ after: String?) {
                if before != after { changes.append(MenuPlan.Change(id: entry.id, path: entry.relativePath, field: field, old: before, new: after)) }
            }
            note(.enabled, String(old.enabled), String(new.enabled))
            note(.bootOrder, String(old.bootOrder), String(new.bootOrder))
            note(.name, old.menuName, new.menuName)
            note(.description, old.menuDescription, new.menuDescription)
            note(.cmdline, old.commandLine, new.commandLine)
        }
        let shifted = rest.filter { settings[$0]!.bootOrder != updated[$0]!.bootOrder }.count
        let plan = MenuPlan(changes: changes, othersMoved: shifted, unmatched: unmatched.map { items[$0].selector.description })
        return (updated, plan)
    }
}

/// What applying a menu file changes (or changed), as `pxe-catalog plan` prints it.
package struct MenuPlan: Sendable, Equatable {
    package struct Change: Sendable, Equatable {
        package var id: String
        package var path: String
        package var field: DesiredMenu.Field
        package var old: String?
        package var new: String?
    }

    package var changes: [Change]
    /// Entries the file does not list whose place in the boot order moves to make room.
    package var othersMoved: Int
    /// Items that match no entry (a typo in a glob shows here).
    package var unmatched: [String]

    package static let none = MenuPlan(changes: [], othersMoved: 0, unmatched: [])

    /// Whether applying writes anything.
    package var changesSettings: Bool { !changes.isEmpty || othersMoved > 0 }

    /// One line per change (`+` joins the menu, `-` leaves it, `~` changes), then the count.
    package func text(fileName: String) -> String {
        var lines: [String] = []
        for change in changes {
            let subject = "\(change.id) \(change.path)"
            switch change.field {
            case .enabled:
                lines.append(change.new == "true" ? "+ \(subject): enabled (joins the menu)" : "- \(subject): disabled (leaves the menu)")
            case .bootOrder:
                lines.append("~ \(subject): boot order \(change.old ?? "?") -> \(change.new ?? "?")")
            case .name, .description, .cmdline:
                lines.append("~ \(subject): \(change.field.rawValue) \(Self.shown(change.old)) -> \(Self.shown(change.new))")
            }
        }
        if othersMoved > 0 { lines.append("~ \(othersMoved) other \(othersMoved == 1 ? "entry moves" : "entries move") in the boot order to make room") }
        for item in unmatched { lines.append("? \(item) matches no entry in the catalog") }
        if changesSettings {
            let entries = Set(changes.map(\.id)).count
            lines.append("Plan: \(changes.count) \(changes.count == 1 ? "change" : "changes") to \(entries) \(entries == 1 ? "entry" : "entries") listed in \(fileName).")
        } else {
            lines.append("No changes: the settings match \(fileName).")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func shown(_ text: String?) -> String {
        guard let text else { return "(the container's)" }
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
