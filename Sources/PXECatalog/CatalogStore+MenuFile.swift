import PXESettings

/// The menu file (`DesiredMenu`) in the store: applied as a whole when it is loaded, to new
/// entries after each scan, and guarding the settings it owns against API edits.
extension CatalogStore {
    /// The menu file in force (nil: none).
    package var desiredMenu: DesiredMenu? { desiredMenuBox.withLock { $0 } }

    /// What applying `menu` as a whole would change now, from the settings in memory.
    package func plan(_ menu: DesiredMenu) -> MenuPlan {
        let state = current
        return menu.apply(to: state.settings, entries: state.snapshot.entries, setsOverridable: { _ in true }).plan
    }

    /// Makes `menu` the file in force (nil: none) and applies all of it: at start, on SIGHUP
    /// and by `pxe-catalog apply`. Returns what changed. On a store failure nothing changed;
    /// the file stays in force and is applied again at the next scan that finds new entries.
    @discardableResult
    package func applyDesiredMenu(_ menu: DesiredMenu?, actor: String = "menu file") throws(SettingsChangeError) -> MenuPlan {
        desiredMenuBox.withLock { $0 = menu }
        return try settings.exclusively { writer throws(SettingsChangeError) -> MenuPlan in
            writer.replaceRules(editRules(snapshot: current.snapshot, menu: menu))
            guard let menu else { return .none }
            return try applyMenu(menu, actor: actor, writer: writer, setsOverridable: { _ in true })
        }
    }

    /// Applies `menu` in the store's transaction (the store's rows, not memory, are what it
    /// changes: another node may have written meanwhile). Runs under the settings' write gate.
    func applyMenu(_ menu: DesiredMenu, actor: String, writer: SettingsWriter, setsOverridable: @escaping (String) -> Bool) throws(SettingsChangeError) -> MenuPlan {
        let entries = current.snapshot.entries
        let probe = menu.apply(to: writer.current.settings, entries: entries, setsOverridable: setsOverridable).plan
        guard probe.changesSettings else { return probe }
        return try writer.commit { transaction in
            let stored = try transaction.allSettings()
            let (updated, plan) = menu.apply(to: stored, entries: entries, setsOverridable: setsOverridable)
            guard plan.changesSettings else { return plan }
            try transaction.replace(stored, with: updated)
            for change in plan.changes {
                try transaction.record(actor: actor, entry: change.id, field: change.field.rawValue, old: change.old, new: change.new)
            }
            return plan
        }
    }
}
