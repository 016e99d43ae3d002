import PXEHosts
import StrictJSON
import Testing

@Suite struct HostRulesTests {
    static func rules(_ json: String, labels: String = "{}") throws -> HostRules {
        HostRules(rules: try HostRules.parseRules(try JSONParser.parse(json), isEntryID: { $0.count == 12 && $0.allSatisfy(\.isHexDigit) }),
                  labels: try HostRules.parseLabels(try JSONParser.parse(labels)))
    }

    static let site = """
        [{"name": "everyone", "timeout": 30},
         {"name": "qemu", "match": {"mac_prefix": "52:54:00"}, "default": "first"},
         {"name": "qemu-lab", "match": {"mac_prefix": "52:54:00:aa"}, "default": "local"},
         {"name": "lab-hosts", "match": {"hostname": "lab-*"}, "entries": ["0123456789ab"]},
         {"name": "lab-07", "match": {"hostname": "LAB-07"}, "boot": "0123456789ab"},
         {"name": "students", "match": {"labels": {"role": "student"}}, "cmdline_append": "quiet"},
         {"name": "one", "match": {"mac": ["52:54:00:aa:00:01", "52-54-00-aa-00-02"]}, "timeout": 1},
         {"name": "efi", "match": {"platform": "efi"}}]
        """

    @Test(arguments: [
        ("mac=11-22-33-44-55-66", "everyone"),
        ("mac=52-54-00-01-02-03", "qemu"),
        ("mac=52-54-00-aa-09-09", "qemu-lab"),            // the longer prefix is more specific
        ("mac=52-54-00-aa-00-02", "one"),                 // an exact MAC beats any prefix
        ("mac=52-54-00-aa-00-02&hostname=6c-61-62-2d-30-37", "one"),   // ... and any host name
        ("mac=11-22-33-44-55-66&hostname=6c-61-62-2d-30-37", "lab-07"),  // exact name over a glob, case-insensitive
        ("mac=11-22-33-44-55-66&hostname=6c-61-62-2d-30-38", "lab-hosts"),
        ("mac=52-54-00-01-02-03&hostname=6c-61-62-2d-30-38", "lab-hosts"),  // a name over a MAC prefix
        ("mac=00-00-00-00-00-0a", "students"),            // labels from hosts.labels
        ("platform=efi", "efi"),
        ("", "everyone"),
    ])
    func theMostSpecificRuleWins(query: String, expected: String) throws {
        let rules = try Self.rules(Self.site, labels: #"{"00:00:00:00:00:0a": {"role": "student"}}"#)
        #expect(rules.conflicts() == [])
        #expect(rules.rule(for: MachineIdentity(query: query))?.name == expected)
    }

    @Test func aRuleGetsItsPolicy() throws {
        let rules = try Self.rules(Self.site)
        let rule = try #require(rules.rule(for: MachineIdentity(query: "hostname=6c-61-62-2d-30-37")))
        #expect(rule.policy == HostPolicy(boot: "0123456789ab"))
        #expect(rules.rules.first { $0.name == "lab-hosts" }?.policy.entries == ["0123456789ab"])
        #expect(rules.rules.first { $0.name == "one" }?.selector.macs == ["52:54:00:aa:00:01", "52:54:00:aa:00:02"])
    }

    @Test(arguments: [
        (#"[{"name": "a", "match": {"mac_prefix": "52:54"}}, {"name": "b", "match": {"mac_prefix": "52:55"}}]"#, false),
        (#"[{"name": "a", "match": {"mac_prefix": "52:54"}}, {"name": "b", "match": {"mac_prefix": "52:54"}}]"#, true),
        (#"[{"name": "a", "match": {"mac": "52:54:00:00:00:01"}}, {"name": "b", "match": {"uuid": "9f3a1c2e-0000-4000-8000-00aa00bb00cc"}}]"#, true),
        (#"[{"name": "a", "match": {"mac": "52:54:00:00:00:01"}}, {"name": "b", "match": {"mac": "52:54:00:00:00:02"}}]"#, false),
        (#"[{"name": "a", "match": {"hostname": "lab-*"}}, {"name": "b", "match": {"hostname": "lab-?"}}]"#, true),    // same literal characters: a tie, and "lab-1" matches both
        (#"[{"name": "a", "match": {"hostname": "lab-*"}}, {"name": "b", "match": {"hostname": "*-01"}}]"#, false),    // fewer literal characters: "lab-*" wins
        (#"[{"name": "a", "match": {"hostname": "lab-*"}}, {"name": "b", "match": {"hostname": "*-01x"}}]"#, true),
        (#"[{"name": "a", "match": {"hostname": "lab-*"}}, {"name": "b", "match": {"hostname": "gpu*"}}]"#, false),
        (#"[{"name": "a", "match": {"labels": {"role": "a"}}}, {"name": "b", "match": {"labels": {"room": "b"}}}]"#, true),
        (#"[{"name": "a", "match": {"labels": {"role": "a"}}}, {"name": "b", "match": {"labels": {"role": "b"}}}]"#, false),
        (#"[{"name": "a", "match": {"platform": "efi"}}, {"name": "b", "match": {"buildarch": "x86_64"}}]"#, true),
        (#"[{"name": "a", "match": {"platform": "efi"}}, {"name": "b", "match": {"platform": "pcbios"}}]"#, false),
    ])
    func equallySpecificRulesThatCanOverlapAreAConfigurationError(json: String, conflict: Bool) throws {
        let problems = try Self.rules(json).conflicts()
        #expect(problems.isEmpty != conflict, "\(problems)")
        if conflict { #expect(problems.first?.contains("\"a\" and \"b\"") == true) }
    }

    @Test(arguments: [
        (#"[{"name": "a", "match": {"mac": "52:54:00"}}]"#, "hosts.rules[0].match.mac"),
        (#"[{"name": "a", "match": {"colour": "red"}}]"#, "hosts.rules[0].match.colour"),
        (#"[{"name": "a", "dafault": "local"}]"#, "hosts.rules[0].dafault"),
        (#"[{"name": "a"}, {"name": "a"}]"#, "hosts.rules[1].name"),
        (#"[{"name": "a b"}]"#, "hosts.rules[0].name"),
        (#"[{"name": "a", "default": "somewhere"}]"#, "hosts.rules[0].default"),
        (#"[{"name": "a", "timeout": -1}]"#, "hosts.rules[0].timeout"),
        (#"[{"name": "a", "entries": ["xyz"]}]"#, "hosts.rules[0].entries"),
        (#"[{"name": "a", "match": {"mac_prefix": "52:5"}}]"#, "hosts.rules[0].match.mac_prefix"),
        (#"{"name": "a"}"#, "hosts.rules"),
    ])
    func badRulesAreRefusedNamingTheKey(json: String, key: String) throws {
        #expect(throws: HostRulesError.self) { try Self.rules(json) }
        do {
            _ = try Self.rules(json)
        } catch let error as HostRulesError {
            #expect(error.key == key, "\(error)")
        }
    }
}

@Suite struct BootLogTests {
    final class Clock: @unchecked Sendable {
        var now = 1_800_000_000.0
    }

    /// What the store is handed are deltas since the last hand-over; what it could not take
    /// comes back and is merged; summaries loaded at start add to what is seen after.
    @Test func unsavedSummariesAreDeltasAndSurviveAFailedSave() {
        let clock = Clock()
        let log = BootLog(capacity: 100, clock: { clock.now })
        let machine = MachineIdentity(query: "mac=52-54-00-00-00-01")
        log.seed([HostSummary(mac: "52:54:00:00:00:01", firstSeen: 1_700_000_000, lastSeen: 1_700_000_100, machine: machine,
                              lastEntry: "aaaaaaaaaaaa", boots: 7, requests: 20)])
        log.record(machine, kind: .menu, entry: nil, status: 200)
        log.record(machine, kind: .kernel, entry: "bbbbbbbbbbbb", status: 200)
        #expect(log.host("52:54:00:00:00:01")?.boots == 8 && log.host("52:54:00:00:00:01")?.firstSeen == 1_700_000_000)
        let first = log.takeUnsaved()
        #expect(first.count == 1 && first[0].boots == 1 && first[0].requests == 2 && first[0].lastEntry == "bbbbbbbbbbbb")
        #expect(first[0].firstSeen == clock.now, "a delta starts at this node's first sighting")
        #expect(log.takeUnsaved().isEmpty, "handed over once")
        clock.now += 100
        log.record(machine, kind: .kernel, entry: "bbbbbbbbbbbb", status: 200)
        log.returnUnsaved(first)   // the store was unreachable
        let merged = log.takeUnsaved()
        #expect(merged.count == 1 && merged[0].boots == 2 && merged[0].requests == 3 && merged[0].lastSeen == clock.now)
    }

    @Test func requestsOfOneBootAreAttributedAndRunsOfDiskReadsAreOneEvent() {
        let clock = Clock()
        let log = BootLog(capacity: 100, clock: { clock.now })
        let machine = MachineIdentity(query: "mac=52-54-00-00-00-01&hostname=6e-31")
        log.record(machine, kind: .bootScript, entry: nil, status: 200)
        log.record(machine, kind: .menu, entry: nil, status: 200, outcome: "menu")
        for _ in 0..<300 { log.record(machine, kind: .disk, entry: "0123456789ab", status: 206) }
        clock.now += 5
        log.record(MachineIdentity(query: "mac=52-54-00-00-00-02"), kind: .kernel, entry: "0123456789ab", status: 200)

        let events = log.events()
        #expect(events.map(\.kind) == [.kernel, .disk, .menu, .bootScript], "newest first")
        #expect(events[1].requests == 300)
        #expect(events[1].machine.hostname == "n1")
        #expect(log.events(since: events[2].id).count == 2)
        #expect(log.events(mac: "52:54:00:00:00:01").count == 3)
        let host = log.host("52:54:00:00:00:01")
        #expect(host?.boots == 1 && host?.requests == 302 && host?.lastEntry == "0123456789ab")
        #expect(log.bootCounts().map(\.count) == [1, 1], "one disk boot, one kernel boot")
        #expect(log.hosts().map(\.mac) == ["52:54:00:00:00:02", "52:54:00:00:00:01"])
    }

    @Test func theRingKeepsTheNewestAndHostsAreBounded() {
        let clock = Clock()
        let log = BootLog(capacity: 10, maximumHosts: 5, clock: { clock.now })
        for index in 0..<25 {
            clock.now += 1
            log.record(MachineIdentity(mac: "52:54:00:00:00:\(String(index, radix: 16).count == 1 ? "0" : "")\(String(index, radix: 16))"),
                       kind: .menu, entry: nil, status: 200)
        }
        let events = log.events(limit: 1000)
        #expect(events.count == 10)
        #expect(events.map(\.id) == Array((16...25).reversed()).map(Int64.init))
        #expect(log.hosts().count == 5)
        #expect(log.hosts().first?.mac == "52:54:00:00:00:18")
    }
}
