import Foundation
import Locking
import PXESettings

/// One-shot next boots: set and cancelled through the API, taken by the machine's next menu
/// request. The settings store holds them (durable, shared by a fleet); this book keeps which
/// machines have one, so that the boot path of every other machine never asks the database.
/// Written through the settings' replica (its write gate and commits), read again when another
/// node commits.
package final class NextBootBook: Sendable {
    private let settings: SettingsReplica
    private let cache = Locked<[String: NextBoot]>([:])
    private let now: @Sendable () -> Date

    /// Loads the one-shots the store holds and follows other nodes' changes.
    package init(settings: SettingsReplica, now: @escaping @Sendable () -> Date = { Date() }) {
        self.settings = settings
        self.now = now
        reload()
        settings.followRemoteChanges { [weak self] in self?.reload() }
    }

    /// The one-shots this node knows of, by MAC (expired ones until they are taken or reloaded).
    package var pending: [String: NextBoot] { cache.withLock { $0 } }

    /// Sets machine `mac`'s next boot to entry `id` (which must be in the catalog), replacing
    /// any earlier one; acknowledged once committed.
    package func set(mac: String, entry id: String, expiresAt: Int64, actor: String) throws(SettingsChangeError) -> NextBoot {
        try settings.exclusively { writer throws(SettingsChangeError) -> NextBoot in
            guard settings.rules.isKnown(id) else { throw .unknownEntry(id) }
            let boot = NextBoot(mac: mac, entry: id, expiresAt: expiresAt, actor: actor, createdAt: Int64(now().timeIntervalSince1970))
            try writer.commit { transaction in
                try transaction.setNextBoot(boot)
                try transaction.record(actor: actor, entry: id, field: "next_boot", old: nil, new: "\(mac) until \(expiresAt)")
            }
            cache.withLock { $0[mac] = boot }
            return boot
        }
    }

    /// Cancels machine `mac`'s one-shot; answers it, or nil when it had none.
    package func cancel(mac: String, actor: String) throws(SettingsChangeError) -> NextBoot? {
        try settings.exclusively { writer throws(SettingsChangeError) -> NextBoot? in
            let removed = try writer.commit { transaction -> NextBoot? in
                guard let boot = try transaction.takeNextBoot(mac: mac) else { return nil }
                try transaction.record(actor: actor, entry: boot.entry, field: "next_boot", old: "\(mac) until \(boot.expiresAt)", new: nil)
                return boot
            }
            cache.withLock { $0[mac] = nil }
            return removed
        }
    }

    /// Takes machine `mac`'s one-shot for the boot that is asking now: exactly one request gets
    /// it, however many race (on this node or others). Nil when it has none, when it expired
    /// (then it is removed) or when the store cannot be reached (the machine gets its usual
    /// policy; the one-shot stays for its next boot).
    package func take(mac: String) -> NextBoot? {
        guard cache.withLock({ $0[mac] }) != nil else { return nil }
        let moment = Int64(now().timeIntervalSince1970)
        return settings.exclusively { writer -> NextBoot? in
            let taken: NextBoot?
            do {
                taken = try writer.commit { transaction -> NextBoot? in
                    guard let boot = try transaction.takeNextBoot(mac: mac) else { return nil }
                    let outcome = boot.isExpired(at: moment) ? "expired" : "booted"
                    try transaction.record(actor: "machine", entry: boot.entry, field: "next_boot", old: "\(mac) until \(boot.expiresAt)", new: outcome)
                    return boot
                }
            } catch {
                return nil
            }
            cache.withLock { $0[mac] = nil }
            guard let taken, !taken.isExpired(at: moment) else { return nil }
            return taken
        }
    }

    /// Reads the one-shots from the store (at start, and after another node or process
    /// committed: it may have set or taken one). Keeps the last list when the store is away.
    package func reload() {
        guard let boots = try? settings.store.nextBoots() else { return }
        cache.withLock { $0 = Dictionary(boots.map { ($0.mac, $0) }, uniquingKeysWith: { $1 }) }
    }
}
