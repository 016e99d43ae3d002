import Locking

/// What a booting machine asked for.
public enum BootRequestKind: String, Sendable, CaseIterable {
    case bootScript = "boot_script", menu, entryScript = "entry_script", kernel, initrd, disk
    /// An answer file (preseed, kickstart, cloud-init, Ignition) fetched by the installer.
    case answers
    /// What dnsmasq answered (`NetworkBootEvent`): a DHCP answer, a TFTP transfer.
    case dhcp, tftp
}

/// One request of a boot (or a run of identical ones: a SAN boot reads its disk in hundreds of
/// ranges, counted in `requests`).
public struct BootEvent: Sendable, Equatable {
    /// Increasing; `GET /boots?since=` pages with it.
    public var id: Int64
    /// Seconds since 1970 of the latest request of the run.
    public var time: Double
    public var machine: MachineIdentity
    public var kind: BootRequestKind
    public var entry: String?
    public var status: Int
    /// How the server answered a script request: `menu`, `rule:<name>` (the policy of a host
    /// rule), `direct:<rule>` (booted without a menu), `next-boot` (a one-shot was used); for
    /// DHCP and TFTP, what the machine was given (`uefi: snponly.efi`, the file sent).
    public var outcome: String?
    public var requests: Int
    /// The machine's IPv4 address (DHCP and TFTP events).
    public var address: String?
}

/// What is known about one machine (by MAC) from its requests.
public struct HostSummary: Sendable, Equatable {
    public var mac: String
    public var firstSeen: Double
    public var lastSeen: Double
    /// The last identity it sent (host name, serial, ...).
    public var machine: MachineIdentity
    public var lastEntry: String?
    /// Kernel and disk fetches: each is a machine booting an entry.
    public var boots: Int
    public var requests: Int

    public init(mac: String, firstSeen: Double, lastSeen: Double, machine: MachineIdentity, lastEntry: String?, boots: Int, requests: Int) {
        self.mac = mac
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.machine = machine
        self.lastEntry = lastEntry
        self.boots = boots
        self.requests = requests
    }
}

/// The boot log: a bounded ring of recent events in memory and a summary per machine. Recording
/// takes one lock and no I/O: it runs on the boot path.
public final class BootLog: Sendable {
    /// Requests of the same machine, kind, entry and status closer together than this are one run.
    public static let runSeconds = 60.0

    struct State {
        var events: [BootEvent] = []
        /// Index in `events` of the oldest event once the ring is full.
        var start = 0
        var nextID: Int64 = 1
        var hosts: [String: HostSummary] = [:]
        /// Index in `events` of each machine's latest event, for runs.
        var latest: [String: (id: Int64, index: Int)] = [:]
        var counts: [CountKey: Int] = [:]
        /// What each machine did since the summaries were last handed to the store (counts are
        /// deltas), so that several nodes' counts add up there.
        var unsaved: [String: HostSummary] = [:]

        mutating func noteUnsaved(_ mac: String, at now: Double, machine: MachineIdentity, entry: String?, booted: Bool) {
            if var delta = unsaved[mac] {
                delta.lastSeen = now
                if !machine.isOnlyAddress || delta.machine.isOnlyAddress { delta.machine = machine }
                delta.requests += 1
                if booted { delta.boots += 1 }
                if let entry { delta.lastEntry = entry }
                unsaved[mac] = delta
            } else {
                unsaved[mac] = HostSummary(mac: mac, firstSeen: now, lastSeen: now, machine: machine, lastEntry: entry,
                                           boots: booted ? 1 : 0, requests: 1)
            }
        }
    }

    struct CountKey: Hashable {
        var kind: BootRequestKind
        var entry: String
    }

    public let capacity: Int
    public let maximumHosts: Int
    private let state = Locked(State())
    private let clock: @Sendable () -> Double

    public init(capacity: Int = 10_000, maximumHosts: Int = 100_000, clock: @escaping @Sendable () -> Double) {
        self.capacity = max(1, capacity)
        self.maximumHosts = max(1, maximumHosts)
        self.clock = clock
    }

    /// Records what dnsmasq answered a machine (see `DnsmasqLogReader`).
    public func record(_ event: NetworkBootEvent) {
        var machine = MachineIdentity(mac: event.mac)
        machine.platform = event.platform
        let kind: BootRequestKind = event.kind == .dhcp ? .dhcp : .tftp
        let outcome = event.kind == .dhcp ? [event.client, event.given].compactMap { $0 }.joined(separator: ": ") : event.given
        record(machine, kind: kind, entry: nil, status: event.status, outcome: outcome, address: event.address)
    }

    public func record(_ machine: MachineIdentity, kind: BootRequestKind, entry: String?, status: Int, outcome: String? = nil, address: String? = nil) {
        let now = clock()
        state.withLock { state in
            if let mac = machine.mac, let latest = state.latest[mac], state.events.indices.contains(latest.index),
               state.events[latest.index].id == latest.id {
                var event = state.events[latest.index]
                if event.kind == kind, event.entry == entry, event.status == status, event.outcome == outcome, event.address == address,
                   now - event.time < Self.runSeconds {
                    event.requests += 1
                    event.time = now
                    state.events[latest.index] = event
                    state.hosts[mac]?.lastSeen = now
                    state.hosts[mac]?.requests += 1
                    state.noteUnsaved(mac, at: now, machine: machine, entry: nil, booted: false)
                    return
                }
            }
            let event = BootEvent(id: state.nextID, time: now, machine: machine, kind: kind, entry: entry, status: status, outcome: outcome,
                                  requests: 1, address: address)
            state.nextID += 1
            // A boot: a kernel fetch, or the first read of a disk (the rest of a SAN boot's reads join its run).
            if status < 400, let entry, kind == .kernel || kind == .disk {
                state.counts[CountKey(kind: kind, entry: entry), default: 0] += 1
            }
            let index: Int
            if state.events.count < capacity {
                state.events.append(event)
                index = state.events.count - 1
            } else {
                index = state.start
                state.events[index] = event
                state.start = (state.start + 1) % capacity
            }
            guard let mac = machine.mac else { return }
            state.latest[mac] = (event.id, index)
            let booted = status < 400 && (kind == .kernel || kind == .disk)
            state.noteUnsaved(mac, at: now, machine: machine, entry: kind == .menu || kind == .bootScript ? nil : entry, booted: booted)
            if var summary = state.hosts[mac] {
                summary.lastSeen = now
                // What DHCP and TFTP know of a machine (its MAC) does not replace what its iPXE said.
                if !machine.isOnlyAddress || summary.machine.isOnlyAddress { summary.machine = machine }
                summary.requests += 1
                if booted { summary.boots += 1 }
                if let entry, kind != .menu, kind != .bootScript { summary.lastEntry = entry }
                state.hosts[mac] = summary
            } else {
                if state.hosts.count >= maximumHosts, let oldest = state.hosts.values.min(by: { $0.lastSeen < $1.lastSeen }) {
                    state.hosts[oldest.mac] = nil
                    state.latest[oldest.mac] = nil
                }
                state.hosts[mac] = HostSummary(mac: mac, firstSeen: now, lastSeen: now, machine: machine,
                                               lastEntry: kind == .menu || kind == .bootScript ? nil : entry,
                                               boots: booted ? 1 : 0, requests: 1)
            }
        }
    }

    /// Events with an id above `since`, newest first, at most `limit`; optionally one machine's.
    public func events(since: Int64 = 0, limit: Int = 100, mac: String? = nil) -> [BootEvent] {
        state.withLock { state in
            var out: [BootEvent] = []
            let count = state.events.count
            for offset in 0..<count {
                // Newest first: walk the ring backwards from the slot before `start`.
                let index = (state.start - 1 - offset + 2 * count) % count
                let event = state.events[index]
                if event.id <= since { break }
                if let mac, event.machine.mac != mac { continue }
                out.append(event)
                if out.count >= limit { break }
            }
            return out
        }
    }

    /// Known machines, most recently seen first.
    public func hosts() -> [HostSummary] {
        state.withLock { Array($0.hosts.values) }.sorted { ($0.lastSeen, $0.mac) > ($1.lastSeen, $1.mac) }
    }

    public func host(_ mac: String) -> HostSummary? {
        state.withLock { $0.hosts[mac] }
    }

    /// What machines did since the last call (counts as deltas), for the store; the caller
    /// hands back what it could not save with `returnUnsaved`.
    public func takeUnsaved() -> [HostSummary] {
        state.withLock { state in
            defer { state.unsaved = [:] }
            return Array(state.unsaved.values)
        }
    }

    /// Puts back deltas the store did not take (it was unreachable), merged with newer ones;
    /// bounded like the summaries.
    public func returnUnsaved(_ deltas: [HostSummary]) {
        state.withLock { state in Self.merge(deltas, into: &state.unsaved, limit: maximumHosts) }
    }

    /// Summaries the store kept from earlier runs (and other nodes), loaded at start: machines
    /// seen since are merged into them; they are not saved again.
    public func seed(_ summaries: [HostSummary]) {
        state.withLock { state in Self.merge(summaries.prefix(maximumHosts), into: &state.hosts, limit: maximumHosts) }
    }

    /// Adds `earlier` summaries to the ones in `table` (which are newer): counts add up, the
    /// first sighting is the earliest, the newer last entry stays unless it has none. Machines
    /// new to the table are added while it holds fewer than `limit`.
    private static func merge(_ earlier: some Sequence<HostSummary>, into table: inout [String: HostSummary], limit: Int) {
        for old in earlier {
            if var newer = table[old.mac] {
                newer.firstSeen = min(newer.firstSeen, old.firstSeen)
                newer.boots += old.boots
                newer.requests += old.requests
                if newer.lastEntry == nil { newer.lastEntry = old.lastEntry }
                table[old.mac] = newer
            } else if table.count < limit {
                table[old.mac] = old
            }
        }
    }

    /// Boots (kernel fetches, runs of disk reads) answered without error, by kind and entry.
    public func bootCounts() -> [(kind: BootRequestKind, entry: String, count: Int)] {
        state.withLock { $0.counts.map { (kind: $0.key.kind, entry: $0.key.entry, count: $0.value) } }
            .sorted { ($0.entry, $0.kind.rawValue) < ($1.entry, $1.kind.rawValue) }
    }
}

extension MachineIdentity {
    /// Whether nothing but the MAC (and the platform DHCP implies) is known: a DHCP or TFTP sighting.
    var isOnlyAddress: Bool {
        uuid == nil && serial == nil && hostname == nil && manufacturer == nil && product == nil && buildarch == nil
    }
}
