import StrictJSON

/// Which machines a rule applies to. Every selector present must match; a rule with none
/// matches every machine (a site-wide policy).
public struct HostSelector: Sendable, Equatable {
    /// Exact MAC addresses (normalised).
    public var macs: [String] = []
    /// A MAC prefix such as `52:54:00` (normalised, whole bytes).
    public var macPrefix: String?
    public var uuids: [String] = []
    public var serials: [String] = []
    /// A shell-style glob (`*`, `?`) over the host name, case-insensitive.
    public var hostname: String?
    public var platform: String?
    public var buildarch: String?
    /// Labels the machine must carry (set per host in `hosts.labels`), all of them.
    public var labels: [String: String] = [:]

    public init(macs: [String] = [], macPrefix: String? = nil, uuids: [String] = [], serials: [String] = [], hostname: String? = nil,
                platform: String? = nil, buildarch: String? = nil, labels: [String: String] = [:]) {
        self.macs = macs
        self.macPrefix = macPrefix
        self.uuids = uuids
        self.serials = serials
        self.hostname = hostname
        self.platform = platform
        self.buildarch = buildarch
        self.labels = labels
    }

    public func matches(_ machine: MachineIdentity, labels machineLabels: [String: String]) -> Bool {
        if !macs.isEmpty { guard let mac = machine.mac, macs.contains(mac) else { return false } }
        if let macPrefix { guard let mac = machine.mac, mac.hasPrefix(macPrefix) else { return false } }
        if !uuids.isEmpty { guard let uuid = machine.uuid, uuids.contains(uuid) else { return false } }
        if !serials.isEmpty { guard let serial = machine.serial, serials.contains(serial) else { return false } }
        if let hostname { guard let name = machine.hostname, Glob.matches(hostname.lowercased(), name.lowercased()) else { return false } }
        if let platform, machine.platform != platform { return false }
        if let buildarch, machine.buildarch != buildarch { return false }
        for (key, value) in labels where machineLabels[key] != value { return false }
        return true
    }

    /// How specific the selector is, compared element by element (the first difference decides):
    /// exact identity (MAC, UUID or serial list), then an exact host name over a glob, then the
    /// MAC prefix's length, then the glob's literal characters, then the number of labels, then
    /// platform and architecture. Documented in docs/hosts.md.
    public var specificity: [Int] {
        let exact = (!macs.isEmpty || !uuids.isEmpty || !serials.isEmpty) ? 1 : 0
        let hostnameKind = hostname.map { Glob.hasWildcard($0) ? 1 : 2 } ?? 0
        let prefixBytes = macPrefix.map { $0.split(separator: ":").count } ?? 0
        let literal = hostname.map { $0.filter { $0 != "*" && $0 != "?" }.count } ?? 0
        let generic = (platform == nil ? 0 : 1) + (buildarch == nil ? 0 : 1)
        return [exact, hostnameKind, prefixBytes, literal, labels.count, generic]
    }

    /// Whether no machine can match both selectors (checked on the selectors both have; a
    /// selector only one of them has proves nothing). Conservative: false means "may overlap".
    public func isDisjoint(from other: HostSelector) -> Bool {
        if !macs.isEmpty, !other.macs.isEmpty, Set(macs).isDisjoint(with: other.macs) { return true }
        if !uuids.isEmpty, !other.uuids.isEmpty, Set(uuids).isDisjoint(with: other.uuids) { return true }
        if !serials.isEmpty, !other.serials.isEmpty, Set(serials).isDisjoint(with: other.serials) { return true }
        if let a = macPrefix, let b = other.macPrefix, !a.hasPrefix(b), !b.hasPrefix(a) { return true }
        if !macs.isEmpty, let prefix = other.macPrefix, macs.allSatisfy({ !$0.hasPrefix(prefix) }) { return true }
        if let prefix = macPrefix, !other.macs.isEmpty, other.macs.allSatisfy({ !$0.hasPrefix(prefix) }) { return true }
        if let a = hostname?.lowercased(), let b = other.hostname?.lowercased() {
            if !Glob.hasWildcard(a), !Glob.hasWildcard(b), a != b { return true }
            if !Glob.hasWildcard(a), !Glob.matches(b, a) { return true }
            if !Glob.hasWildcard(b), !Glob.matches(a, b) { return true }
            let (pa, pb) = (Glob.literalPrefix(a), Glob.literalPrefix(b))
            if !pa.hasPrefix(pb), !pb.hasPrefix(pa) { return true }
        }
        if let a = platform, let b = other.platform, a != b { return true }
        if let a = buildarch, let b = other.buildarch, a != b { return true }
        for (key, value) in labels { if let theirs = other.labels[key], theirs != value { return true } }
        return false
    }
}

/// What a rule does for the machines it matches; nil fields leave the site's menu as it is.
public struct HostPolicy: Sendable, Equatable, Hashable {
    /// `local`, `first` or an entry id.
    public var defaultChoice: String?
    public var timeoutSeconds: Int?
    /// The only entries offered (ids); nil: all enabled entries.
    public var entries: [String]?
    /// Boots this entry straight away, without a menu.
    public var boot: String?
    /// Appended to the kernel command line of every Linux entry, for these machines.
    public var commandLineAppend: String?
    /// The answer-file template these machines get, whatever the entry's own (`answers`).
    public var answers: String?
    /// Free variables of their answer files (`vars`: `{{vars.role}}`; `hostname` also fills
    /// `{{hostname}}`).
    public var variables: [String: String] = [:]

    public init(defaultChoice: String? = nil, timeoutSeconds: Int? = nil, entries: [String]? = nil, boot: String? = nil,
                commandLineAppend: String? = nil, answers: String? = nil, variables: [String: String] = [:]) {
        self.answers = answers
        self.variables = variables
        self.defaultChoice = defaultChoice
        self.timeoutSeconds = timeoutSeconds
        self.entries = entries
        self.boot = boot
        self.commandLineAppend = commandLineAppend
    }
}

public struct HostRule: Sendable, Equatable {
    public enum Source: String, Sendable {
        case configuration = "config"
        case menuFile = "menu file"
        /// Made through the API, kept in the settings store.
        case api
    }

    public var name: String
    public var selector: HostSelector
    public var policy: HostPolicy
    public var source: Source

    public init(name: String, selector: HostSelector, policy: HostPolicy, source: Source = .configuration) {
        self.name = name
        self.selector = selector
        self.policy = policy
        self.source = source
    }
}

/// The rules and per-host labels of a site, and which rule a machine gets.
public struct HostRules: Sendable, Equatable {
    public var rules: [HostRule]
    /// Labels per MAC address (normalised).
    public var labels: [String: [String: String]]

    public init(rules: [HostRule] = [], labels: [String: [String: String]] = [:]) {
        self.rules = rules
        self.labels = labels
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// The most specific rule that matches (see `HostSelector.specificity`). Ties cannot pass
    /// `conflicts()`; should one still happen, the rule listed first wins, every time.
    public func rule(for machine: MachineIdentity) -> HostRule? {
        let machineLabels = machine.mac.flatMap { labels[$0] } ?? [:]
        var best: HostRule?
        for rule in rules where rule.selector.matches(machine, labels: machineLabels) {
            if let current = best, !current.selector.specificity.lexicographicallyPrecedes(rule.selector.specificity) { continue }
            best = rule
        }
        return best
    }

    /// Pairs of rules that are equally specific and may match the same machine: a
    /// configuration error, one sentence per pair naming both rules.
    public func conflicts() -> [String] {
        var problems: [String] = []
        for (index, first) in rules.enumerated() {
            for second in rules[(index + 1)...] where first.selector.specificity == second.selector.specificity
                && !first.selector.isDisjoint(from: second.selector) {
                problems.append("host rules \"\(first.name)\" and \"\(second.name)\" are equally specific and can match the same machine; make one more specific (for example add a label) or make them disjoint")
            }
        }
        return problems
    }
}

/// Shell-style globs over host names: `*` any run, `?` one character; nothing else is special.
enum Glob {
    static func hasWildcard(_ pattern: String) -> Bool { pattern.contains("*") || pattern.contains("?") }

    static func literalPrefix(_ pattern: String) -> String { String(pattern.prefix { $0 != "*" && $0 != "?" }) }

    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var (pi, ti) = (0, 0)
        var star: Int?, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi
                mark = ti
                pi += 1
            } else if let s = star {
                pi = s + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
