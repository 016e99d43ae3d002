import Foundation
import PXEHosts
import Testing

/// dnsmasq 2.90's own log (`log-dhcp`, as it wrote it on this machine for real machines booting
/// in a lab: DnsmasqLogs/) read into what each machine got.
@Suite struct DnsmasqLogReaderTests {
    static func log(_ name: String) throws -> [Substring] {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        return try String(contentsOf: url.appendingPathComponent("DnsmasqLogs/\(name)"), encoding: .utf8).split(separator: "\n")
    }

    static let loaders = DnsmasqLogReader.Loaders(bios: "undionly.kpxe", uefi: "snponly.efi")

    /// Every line at once, then the quiet time: all events, in order.
    static func events(_ lines: [Substring], tftpRoot: String, neighbour: @escaping @Sendable (String) -> String? = { _ in nil }) -> [NetworkBootEvent] {
        var reader = DnsmasqLogReader(loaders: loaders, tftpRoot: tftpRoot, neighbour: neighbour)
        var events: [NetworkBootEvent] = []
        for (index, line) in lines.enumerated() {
            // Each line a moment after the one before: only a transaction left quiet completes.
            events += reader.read(line: line, now: Double(index) * 0.01)
            events += reader.flush(now: Double(index) * 0.01)
        }
        return events + reader.flush(now: 1_000_000)
    }

    @Test func serverModeUEFIFirmwareThenIPXE() throws {
        let events = Self.events(try Self.log("server-uefi-pxe.log"), tftpRoot: "/tmp/lab/state/tftp")
        let mac = "52:54:00:77:00:53"
        #expect(events == [
            NetworkBootEvent(kind: .dhcp, mac: mac, address: "10.77.0.112", client: "uefi", given: "snponly.efi"),
            // The size probe the firmware aborts is no transfer; the loader is sent (logged twice).
            NetworkBootEvent(kind: .tftp, mac: mac, address: "10.77.0.112", given: "snponly.efi"),
            NetworkBootEvent(kind: .tftp, mac: mac, address: "10.77.0.112", given: "snponly.efi"),
            NetworkBootEvent(kind: .dhcp, mac: mac, address: "10.77.0.112", client: "ipxe", given: "http://10.77.0.1:8080/pxe/boot.ipxe"),
        ], "\(events)")
        #expect(events.first?.platform == "efi")
    }

    @Test func proxyModeNamesTheFileOfTheBootServerAnswer() throws {
        let mac = "52:54:00:77:00:43"
        // The site's server gave the address: the neighbour table knows which MAC has it.
        let events = Self.events(try Self.log("proxy-uefi-pxe.log"), tftpRoot: "/tmp/lab/tftp", neighbour: { $0 == "10.77.0.196" ? mac : nil })
        #expect(events.first == NetworkBootEvent(kind: .dhcp, mac: mac, client: "uefi", given: "snponly.efi"),
                "the first proxy answer only offers the PXE service; the boot server's names the file")
        #expect(events.filter { $0.kind == .tftp } == [NetworkBootEvent(kind: .tftp, mac: mac, address: "10.77.0.196", given: "snponly.efi"),
                                                      NetworkBootEvent(kind: .tftp, mac: mac, address: "10.77.0.196", given: "snponly.efi")])
        #expect(events.last == NetworkBootEvent(kind: .dhcp, mac: mac, client: "ipxe", given: "http://10.77.0.1:8080/pxe/boot.ipxe"))
        #expect(events.filter { $0.kind == .dhcp }.count == 2)
    }

    @Test func httpBootGetsTheLoaderURL() throws {
        let events = Self.events(try Self.log("server-http-boot.log"), tftpRoot: "/tmp/lab/tftp")
        let mac = "52:54:00:77:00:48"
        #expect(events == [
            NetworkBootEvent(kind: .dhcp, mac: mac, address: "10.77.0.101", client: "uefi-http", given: "http://10.77.0.1:8080/boot/ipxe.efi"),
            NetworkBootEvent(kind: .dhcp, mac: mac, address: "10.77.0.101", client: "ipxe", given: "http://10.77.0.1:8080/pxe/boot.ipxe"),
        ], "\(events)")
    }

    @Test func missingFilesAndUnknownAddresses() {
        let lines: [Substring] = [
            "Dec  7 12:51:57 dnsmasq-dhcp[1]: 7 DHCPACK(nbr0) 10.77.0.9 52:54:00:00:00:09 ",
            "Dec  7 12:51:57 dnsmasq-dhcp[1]: 7 tags: bios, nbr0",
            "Dec  7 12:51:58 dnsmasq-tftp[1]: file /srv/tftp/missing.kpxe not found for 10.77.0.9",
            "Dec  7 12:51:58 dnsmasq-tftp[1]: failed sending /srv/tftp/undionly.kpxe to 10.77.0.9",
            "Dec  7 12:51:58 dnsmasq-tftp[1]: sent /srv/tftp/undionly.kpxe to 10.77.0.200",
            "Dec  7 12:51:58 dnsmasq-dhcp[1]: 8 DHCPNAK(nbr0) 10.77.0.50 52:54:00:00:00:0a wrong network",
            "Dec  7 12:51:58 dnsmasq-dhcp[1]: 9 DHCPDISCOVER(nbr0) 52:54:00:00:00:0b ",
            "Dec  7 12:51:58 dnsmasq-dhcp[1]: 9 DHCPOFFER(nbr0) 10.77.0.11 52:54:00:00:00:0b ",
            "Dec  7 12:51:58 dnsmasq-dhcp[1]: RTR-SOLICIT(nbr0) 52:54:00:00:00:0b",
            "garbage without a program", "", "Dec  7 12:51:58 dnsmasq-dhcp[1]: x1 DHCPACK(nbr0) 10.77.0.12 52:54:00:00:00:0c ",
        ]
        var reader = DnsmasqLogReader(loaders: Self.loaders, tftpRoot: "/srv/tftp/")
        // The ACK completes only once quiet: the TFTP line right after it is read before the
        // address is known, so flush first (the follower does so after every read).
        _ = reader.read(line: lines[0], now: 0)
        _ = reader.read(line: lines[1], now: 0)
        let ack = reader.flush(now: 1)
        #expect(ack == [NetworkBootEvent(kind: .dhcp, mac: "52:54:00:00:00:09", address: "10.77.0.9", client: "bios", given: "undionly.kpxe")])
        var events: [NetworkBootEvent] = []
        for line in lines.dropFirst(2) { events += reader.read(line: line, now: 2) }
        events += reader.flush(now: 3)
        #expect(events == [
            NetworkBootEvent(kind: .tftp, mac: "52:54:00:00:00:09", address: "10.77.0.9", given: "missing.kpxe", status: 404),
            NetworkBootEvent(kind: .tftp, mac: "52:54:00:00:00:09", address: "10.77.0.9", given: "undionly.kpxe", status: 500),
            NetworkBootEvent(kind: .dhcp, mac: "52:54:00:00:00:0a", address: "10.77.0.50", client: "other", given: "refused: wrong network", status: 403),
        ], "an unknown address's transfer, an offer alone and lines without a transaction are no events: \(events)")
    }

    /// Thousands of transactions that never complete, and thousands of addresses: the reader
    /// keeps a bounded number of each.
    @Test func memoryIsBounded() {
        var reader = DnsmasqLogReader(loaders: Self.loaders, tftpRoot: "/srv/tftp")
        for index in 0..<5_000 {
            let mac = String(format: "52:54:%02x:%02x:%02x:%02x", index >> 24 & 0xFF, index >> 16 & 0xFF, index >> 8 & 0xFF, index & 0xFF)
            _ = reader.read(line: "x dnsmasq-dhcp[1]: \(index) DHCPDISCOVER(nbr0) \(mac) ", now: 0)
            _ = reader.read(line: "x dnsmasq-dhcp[1]: \(index + 1_000_000) DHCPACK(nbr0) 10.\(index >> 16 & 0xFF).\(index >> 8 & 0xFF).\(index & 0xFF) \(mac) ", now: 0)
            _ = reader.flush(now: 0)
        }
        let pending = reader.flush(now: 10, force: true)
        #expect(pending.count <= DnsmasqLogReader.maximumTransactions)
        #expect(pending.allSatisfy { $0.kind == .dhcp })
    }
}
