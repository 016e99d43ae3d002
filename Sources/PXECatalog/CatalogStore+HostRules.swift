import PXESettings

/// Host rules made through the API: kept in the settings store as their JSON (the hosts module
/// parses and checks them), shared by a fleet like the other settings, and held here so that
/// the boot path never asks the database.
extension CatalogStore {
    /// The API's rules, name to JSON, as this node last loaded them.
    package var storedHostRules: [String: String] { hostRuleCache.withLock { $0 } }

    /// Saves rule `name` (`body` nil: removes it), with an audit record; acknowledged once
    /// committed. Returns whether the name was taken before.
    @discardableResult
    package func setHostRule(name: String, body: String?, actor: String) throws(SettingsChangeError) -> Bool {
        try settings.exclusively { writer throws(SettingsChangeError) -> Bool in
            let old = storedHostRules[name]
            // The cache changes before the commit is published: menus cached for the revision
            // it publishes must see the new rule.
            return try writer.commit({ transaction -> Bool in
                let existed = try transaction.setHostRule(name: name, body: body)
                try transaction.record(actor: actor, entry: nil, field: "host_rule \(name)", old: old, new: body)
                return existed
            }, beforePublishing: { _ in hostRuleCache.withLock { $0[name] = body } })
        }
    }

    /// Reads the rules from the store again (at start, after another node's commit, after a
    /// reconnect). Keeps what it had when the store cannot be read.
    package func reloadHostRules() {
        guard let rules = try? settingsStore.hostRules() else { return }
        hostRuleCache.withLock { $0 = rules }
    }
}
