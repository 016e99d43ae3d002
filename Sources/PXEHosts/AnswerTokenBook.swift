import Locking

/// The tokens that open a machine's answer files. One is minted when a machine's entry script
/// is rendered (the URL it carries on the kernel command line), bound to that machine's MAC
/// and that entry; it opens each file of the template a limited number of times within a
/// limited time. A newer token for the same machine and entry replaces the older one, so each
/// machine holds at most one per entry. Kept in memory: a worker that restarts forgets them
/// (the machine's next boot gets a new one).
public final class AnswerTokenBook: Sendable {
    public struct Policy: Sendable, Equatable {
        public var lifetimeSeconds: Double
        /// Fetches of each file a token allows; 0: any number within its lifetime.
        public var fetchesPerFile: Int

        public init(lifetimeSeconds: Double = 3600, fetchesPerFile: Int = 1) {
            self.lifetimeSeconds = lifetimeSeconds
            self.fetchesPerFile = fetchesPerFile
        }
    }

    /// What a token was minted for.
    public struct Grant: Sendable, Equatable {
        public var machine: MachineIdentity
        public var entry: String
        public var template: String
        public var issued: Double
        /// Fetches so far, by file.
        public var fetches: [String: Int] = [:]
    }

    public enum Verdict: Sendable, Equatable {
        case granted(Grant)
        /// Never minted, replaced by a newer one, or forgotten (a restart).
        case unknown
        /// Minted for another machine.
        case otherMachine
        case expired
        /// This file was fetched as often as the policy allows.
        case spent
    }

    struct Key: Hashable {
        var mac: String
        var entry: String
    }

    struct State {
        var grants: [String: Grant] = [:]
        var newest: [Key: String] = [:]
        /// Fetches granted so far.
        var used = 0
    }

    /// Bounds memory whatever machines claim to be: the oldest grants go first.
    public static let maximumTokens = 100_000

    private let state = Locked(State())
    private let clock: @Sendable () -> Double
    private let policyBox: Locked<Policy>

    public init(policy: Policy = Policy(), clock: @escaping @Sendable () -> Double) {
        self.clock = clock
        policyBox = Locked(policy)
    }

    public var policy: Policy { policyBox.withLock { $0 } }

    public func setPolicy(_ policy: Policy) { policyBox.withLock { $0 = policy } }

    /// A new token for `machine` (which has a MAC) booting `entry` with `template`; the
    /// machine's previous token for that entry stops working.
    public func mint(machine: MachineIdentity, mac: String, entry: String, template: String) -> String {
        let now = clock()
        let lifetime = policy.lifetimeSeconds
        return state.withLock { state in Self.mint(&state, machine: machine, mac: mac, entry: entry, template: template, now: now, lifetime: lifetime) }
    }

    /// For menus written ahead of the boot (GRUB's, read by TFTP): the machine's token for
    /// `entry` while it has not been used and has at least half its lifetime left, else a new
    /// one. The menu is rewritten when a token is used or ages (see `epoch`).
    public func lasting(machine: MachineIdentity, mac: String, entry: String, template: String) -> String {
        let now = clock()
        let lifetime = policy.lifetimeSeconds
        return state.withLock { state in
            if let token = state.newest[Key(mac: mac, entry: entry)], let grant = state.grants[token], grant.template == template,
               grant.fetches.isEmpty, now - grant.issued < lifetime / 2 {
                return token
            }
            return Self.mint(&state, machine: machine, mac: mac, entry: entry, template: template, now: now, lifetime: lifetime)
        }
    }

    /// Changes when a token is used and every half lifetime: when menus written ahead need
    /// their tokens renewed.
    public func epoch() -> [Int] {
        let now = clock()
        let half = max(1, policy.lifetimeSeconds / 2)
        return [state.withLock { $0.used }, Int(now / half)]
    }

    private static func mint(_ state: inout State, machine: MachineIdentity, mac: String, entry: String, template: String,
                             now: Double, lifetime: Double) -> String {
        var generator = SystemRandomNumberGenerator()
        let token = (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
        let key = Key(mac: mac, entry: entry)
        if let previous = state.newest[key] { state.grants[previous] = nil }
        if state.grants.count >= Self.maximumTokens {
            state.grants = state.grants.filter { now - $0.value.issued < lifetime }
            while state.grants.count >= Self.maximumTokens, let oldest = state.grants.min(by: { $0.value.issued < $1.value.issued }) {
                state.grants[oldest.key] = nil
            }
            state.newest = state.newest.filter { state.grants[$0.value] != nil }
        }
        state.grants[token] = Grant(machine: machine, entry: entry, template: template, issued: now)
        state.newest[key] = token
        return token
    }

    /// What `token` grants `mac` for `file`, without using it.
    public func check(token: String, mac: String, file: String) -> Verdict {
        let now = clock()
        let policy = self.policy
        return state.withLock { state in Self.verdict(state.grants[token], mac: mac, file: file, now: now, policy: policy) }
    }

    /// The same, counting a fetch of `file` when it is granted (one lock: two machines racing
    /// for the last fetch cannot both have it).
    public func use(token: String, mac: String, file: String) -> Verdict {
        let now = clock()
        let policy = self.policy
        return state.withLock { state in
            let verdict = Self.verdict(state.grants[token], mac: mac, file: file, now: now, policy: policy)
            if case .granted = verdict {
                state.grants[token]?.fetches[file, default: 0] += 1
                state.used += 1
            }
            return verdict
        }
    }

    static func verdict(_ grant: Grant?, mac: String, file: String, now: Double, policy: Policy) -> Verdict {
        guard let grant else { return .unknown }
        guard grant.machine.mac == mac else { return .otherMachine }
        guard now - grant.issued < policy.lifetimeSeconds else { return .expired }
        if policy.fetchesPerFile > 0, grant.fetches[file, default: 0] >= policy.fetchesPerFile { return .spent }
        return .granted(grant)
    }

    /// Tokens held (for the status page and tests).
    public var count: Int { state.withLock { $0.grants.count } }
}
