/// What the store keeps of a machine that booted.
package struct HostRecord: Sendable, Equatable {
    package var mac: String
    package var firstSeen: Double
    package var lastSeen: Double
    package var lastEntry: String?
    /// Saved: the boots and requests seen since the last save; loaded: the totals.
    package var boots: Int64
    package var requests: Int64
    /// The machine's identity as the query string its requests carried.
    package var identity: String

    package init(mac: String, firstSeen: Double, lastSeen: Double, lastEntry: String?, boots: Int64, requests: Int64, identity: String) {
        self.mac = mac
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.lastEntry = lastEntry
        self.boots = boots
        self.requests = requests
        self.identity = identity
    }

    /// `self` with `newer` (seen later) added.
    package func adding(_ newer: HostRecord) -> HostRecord {
        let later = newer.lastSeen >= lastSeen
        return HostRecord(mac: mac, firstSeen: min(firstSeen, newer.firstSeen), lastSeen: max(lastSeen, newer.lastSeen),
                          lastEntry: later ? (newer.lastEntry ?? lastEntry) : (lastEntry ?? newer.lastEntry),
                          boots: boots + newer.boots, requests: requests + newer.requests, identity: later ? newer.identity : identity)
    }
}
