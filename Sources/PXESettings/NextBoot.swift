/// A one-shot boot: the next time machine `mac` asks for its menu it boots `entry` directly,
/// then its usual policy applies again. Kept in the settings store, so a restart neither loses
/// nor repeats it.
package struct NextBoot: Sendable, Equatable {
    /// Normalised MAC address (`52:54:00:12:34:56`).
    package var mac: String
    package var entry: String
    /// Seconds since 1970 after which it is void.
    package var expiresAt: Int64
    /// Who set it (token name), and when (seconds since 1970).
    package var actor: String
    package var createdAt: Int64

    package init(mac: String, entry: String, expiresAt: Int64, actor: String, createdAt: Int64) {
        self.mac = mac
        self.entry = entry
        self.expiresAt = expiresAt
        self.actor = actor
        self.createdAt = createdAt
    }

    package func isExpired(at now: Int64) -> Bool { now >= expiresAt }
}
