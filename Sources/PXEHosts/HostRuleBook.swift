import Locking
import PXESettings
import StrictJSON

/// The host rules in force: those of the configuration and the menu file (`fixed`, replaced at
/// start and on SIGHUP), then those made through the API. The API's are kept in the settings
/// store as their JSON, shared by a fleet like the other settings, and held here (as stored and
/// as parsed) so that the boot path never asks the database; written through the settings'
/// replica, read again when another node commits.
package final class HostRuleBook: Sendable {
    private struct Book: Sendable {
        var fixed = HostRules()
        /// The API's rules as stored (name to JSON) and as parsed.
        var stored: [String: String] = [:]
        var made: [HostRule] = []
        /// `fixed` then `made`, with `fixed`'s labels: what machines are matched against.
        var effective = HostRules()

        mutating func combine() {
            effective = made.isEmpty ? fixed : HostRules(rules: fixed.rules + made, labels: fixed.labels)
        }
    }

    private let settings: SettingsReplica
    private let isEntryID: @Sendable (String) -> Bool
    private let book = Locked(Book())

    /// Loads the rules the store holds and follows other nodes' changes. `isEntryID` checks the
    /// entry ids rules name.
    package init(settings: SettingsReplica, fixed: HostRules = HostRules(), isEntryID: @escaping @Sendable (String) -> Bool) {
        self.settings = settings
        book.withLock { $0.fixed = fixed }
        self.isEntryID = isEntryID
        reload()
        // Before another node's change is published: menus cached for its revision see its rules.
        settings.followRemoteChanges { [weak self] in self?.reload() }
    }

    /// The API's rules, name to JSON, as this node last loaded them.
    package var stored: [String: String] { book.withLock { $0.stored } }

    /// The API's rules, parsed, in name order (source `.api`).
    package var rules: [HostRule] { book.withLock { $0.made } }

    /// The configuration's and the menu file's rules and labels.
    package var fixed: HostRules { book.withLock { $0.fixed } }

    /// Every rule in force, in precedence order, with the labels.
    package var effective: HostRules { book.withLock { $0.effective } }

    /// Takes the configuration's and the menu file's rules (at start, on SIGHUP).
    package func replaceFixed(_ rules: HostRules) {
        book.withLock { book in
            book.fixed = rules
            book.combine()
        }
    }

    /// Saves rule `name` (`body` nil: removes it), with an audit record; acknowledged once
    /// committed. Returns whether the name was taken before.
    @discardableResult
    package func set(name: String, body: String?, actor: String) throws(SettingsChangeError) -> Bool {
        try settings.exclusively { writer throws(SettingsChangeError) -> Bool in
            let old = stored[name]
            return try writer.commit({ transaction -> Bool in
                let existed = try transaction.setHostRule(name: name, body: body)
                try transaction.record(actor: actor, entry: nil, field: "host_rule \(name)", old: old, new: body)
                return existed
            }, beforePublishing: { _ in
                // Before the commit is published: menus cached for its revision must see the rule.
                var changed = stored
                changed[name] = body
                replace(changed)
            })
        }
    }

    /// Reads the rules from the store again (at start, after another node's commit, after a
    /// reconnect). Keeps what it had when the store cannot be read.
    package func reload() {
        guard let rules = try? settings.store.hostRules() else { return }
        replace(rules)
    }

    private func replace(_ stored: [String: String]) {
        let parsed = Self.parse(stored, isEntryID: isEntryID)
        book.withLock { book in
            (book.stored, book.made) = (stored, parsed)
            book.combine()
        }
    }

    /// Stored rules were checked when they were made; one that no longer parses (a newer
    /// version's) is left out rather than stopping the menu.
    static func parse(_ stored: [String: String], isEntryID: (String) -> Bool) -> [HostRule] {
        stored.sorted { $0.key < $1.key }.compactMap { name, body in
            guard case let .object(members)? = try? JSONParser.parse(Array(body.utf8)),
                  let rule = try? HostRules.parseRules(.array([.object([("name", .string(name))] + members)]), isEntryID: isEntryID).first
            else { return nil }
            var made = rule
            made.source = .api
            return made
        }
    }
}
