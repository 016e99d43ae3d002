import PXEHosts
import Testing

@Suite struct MachineIdentityTests {
    @Test func whatBootIpxeSendsIsDecoded() {
        // As Debian's iPXE expands the template: MAC with hyphens, text settings as :hexhyp.
        let machine = MachineIdentity(query: "mac=52-54-00-12-34-56&uuid=9F3A1C2E-0000-4000-8000-00AA00BB00CC&serial=41-42-43-20-20"
                                             + "&hostname=6c-61-62-2d-30-31&manufacturer=&product=&platform=pcbios&buildarch=i386&extra=ignored")
        #expect(machine.mac == "52:54:00:12:34:56")
        #expect(machine.uuid == "9f3a1c2e-0000-4000-8000-00aa00bb00cc")
        #expect(machine.serial == "ABC", "SMBIOS padding trimmed")
        #expect(machine.hostname == "lab-01")
        #expect(machine.manufacturer == nil && machine.product == nil, "unset settings expand to nothing")
        #expect(machine.platform == "pcbios" && machine.buildarch == "i386")
        #expect(machine.refusedKeys.isEmpty)
    }

    @Test(arguments: ["52:54:00:12:34:56", "52-54-00-12-34-56", "525400123456", "5254.0012.3456", "52:54:00:12:34:56".uppercased()])
    func macSpellings(_ text: String) {
        #expect(MachineIdentity.normalisedMAC(text) == "52:54:00:12:34:56")
    }

    @Test(arguments: ["52:54:00:12:34", "52:54:00:12:34:5g", "5:25400:123456", "52:54-00:12:34:56", "", "52:54:00:12:34:56:78"])
    func notMACs(_ text: String) {
        #expect(MachineIdentity.normalisedMAC(text) == nil)
    }

    /// Values that could steer a script or the log are refused (their key is noted, not the value).
    @Test(arguments: [
        "hostname=a%0Ab", "hostname=0a-62", "serial=%1B%5B31m", "hostname=" + String(repeating: "a", count: 65),
        "mac=%24%7Bnet0%2Fmac%7D", "uuid=not-a-uuid", "platform=pc%20bios", "buildarch=x86%2664", "hostname=%zz",
        "product=" + String(repeating: "41-", count: 64) + "41",
    ])
    func hostileValuesAreRefused(_ query: String) {
        let machine = MachineIdentity(query: query)
        #expect(machine.isEmpty, "\(query) -> \(machine)")
        #expect(machine.refusedKeys.count == 1)
    }

    /// What the server writes back into scripts holds nothing iPXE acts on, whatever the
    /// (accepted) values were.
    @Test func theQueryWrittenIntoScriptsIsInert() {
        let machine = MachineIdentity(query: "mac=52-54-00-12-34-56&hostname=" + "a && b || c ; #d ${x} 'q'".utf8.map { String($0, radix: 16) }.joined(separator: "-"))
        #expect(machine.hostname == "a && b || c ; #d ${x} 'q'")
        let query = machine.query
        #expect(query == "mac=52%3A54%3A00%3A12%3A34%3A56&hostname=a%20%26%26%20b%20%7C%7C%20c%20%3B%20%23d%20%24%7Bx%7D%20%27q%27")
        #expect(MachineIdentity(query: query) == machine, "the server reads its own query back")
    }
}
