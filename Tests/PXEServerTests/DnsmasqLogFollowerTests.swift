import Foundation
import Logging
import PXEHosts
@testable import PXEServer
import TestSupport
import Testing

/// The worker's follower of dnsmasq's log, on a real file: it starts at the end, reads what is
/// appended, survives rotation and truncation, and stops when asked.
@Suite struct DnsmasqLogFollowerTests {
    static func lines(mac: String, address: String, xid: Int) -> String {
        """
        Dec  7 12:50:10 dnsmasq-dhcp[1]: \(xid) DHCPREQUEST(lab0) \(address) \(mac)
        Dec  7 12:50:10 dnsmasq-dhcp[1]: \(xid) tags: efi64, lab0
        Dec  7 12:50:10 dnsmasq-dhcp[1]: \(xid) DHCPACK(lab0) \(address) \(mac)
        Dec  7 12:50:10 dnsmasq-tftp[1]: sent /srv/tftp/snponly.efi to \(address)

        """
    }

    func append(_ text: String, to path: String) {
        let handle = FileHandle(forWritingAtPath: path)!
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
        try? handle.close()
    }

    func macs(_ log: BootLog, kind: BootRequestKind) -> Set<String> {
        Set(log.events(limit: 1000).filter { $0.kind == kind }.compactMap(\.machine.mac))
    }

    @Test func followsAppendsRotationAndTruncation() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/dnsmasq.log"
        // History from before the worker started is not replayed.
        directory.write(Array(Self.lines(mac: "52:54:00:00:00:01", address: "10.0.0.1", xid: 1).utf8), to: "dnsmasq.log")
        let log = BootLog(clock: { Date().timeIntervalSince1970 })
        let reader = DnsmasqLogReader(loaders: .init(bios: "undionly.kpxe", uefi: "snponly.efi"), tftpRoot: "/srv/tftp")
        let follower = DnsmasqLogFollower(path: path, reader: reader, bootLog: log, logger: Logger(label: "test"))
        follower.start()
        var stopped = false
        defer { if !stopped { follower.stop() } }

        append(Self.lines(mac: "52:54:00:00:00:02", address: "10.0.0.2", xid: 2), to: path)
        #expect(TestServer.waitFor(seconds: 30) { macs(log, kind: .dhcp) == ["52:54:00:00:00:02"] && macs(log, kind: .tftp) == ["52:54:00:00:00:02"] })
        let answer = try #require(log.events(limit: 10, mac: "52:54:00:00:00:02").first { $0.kind == .dhcp })
        #expect(answer.outcome == "uefi: snponly.efi" && answer.address == "10.0.0.2" && answer.status == 200 && answer.machine.platform == "efi")

        // Rotation: the file is renamed away and a new one starts at the path.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        directory.write(Array(Self.lines(mac: "52:54:00:00:00:03", address: "10.0.0.3", xid: 3).utf8), to: "dnsmasq.log")
        #expect(TestServer.waitFor(seconds: 30) { macs(log, kind: .dhcp).contains("52:54:00:00:00:03") })

        // Truncation (logrotate's copytruncate): read from the start again. (It shows when the
        // file is shorter than what was read: here the new lines are fewer than the old.)
        truncate(path, 0)
        append("""
            Dec  7 12:50:10 dnsmasq-dhcp[1]: 4 tags: efi64, lab0
            Dec  7 12:50:10 dnsmasq-dhcp[1]: 4 DHCPACK(lab0) 10.0.0.4 52:54:00:00:00:04

            """, to: path)
        #expect(TestServer.waitFor(seconds: 30) { macs(log, kind: .dhcp).contains("52:54:00:00:00:04") })
        #expect(!macs(log, kind: .dhcp).contains("52:54:00:00:00:01"))

        // A line longer than any dnsmasq writes is dropped, the next one is read.
        append(String(repeating: "x", count: 100_000) + "\n" + Self.lines(mac: "52:54:00:00:00:05", address: "10.0.0.5", xid: 5), to: path)
        #expect(TestServer.waitFor(seconds: 30) { macs(log, kind: .dhcp).contains("52:54:00:00:00:05") })

        let before = Date()
        follower.stop()
        stopped = true
        #expect(Date().timeIntervalSince(before) < 5, "stops within a poll")
    }

    /// A log that does not exist yet (dnsmasq not started) is waited for.
    @Test func waitsForTheFile() {
        let directory = TemporaryDirectory()
        let log = BootLog(clock: { Date().timeIntervalSince1970 })
        let follower = DnsmasqLogFollower(path: directory.path + "/later.log", reader: DnsmasqLogReader(loaders: .init(bios: "b", uefi: "u"), tftpRoot: "/t"),
                                          bootLog: log, logger: Logger(label: "test"))
        follower.start()
        defer { follower.stop() }
        directory.write(Array(Self.lines(mac: "52:54:00:00:00:06", address: "10.0.0.6", xid: 6).utf8), to: "later.log")
        #expect(TestServer.waitFor(seconds: 30) { macs(log, kind: .dhcp) == ["52:54:00:00:00:06"] }, "a file that appears later is read from its start")
    }
}
