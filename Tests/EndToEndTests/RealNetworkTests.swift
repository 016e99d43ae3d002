import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

/// Real machines on a real network: QEMU machines on a lab's bridge broadcast DHCP, and the
/// dnsmasq that `pxe-catalog dnsmasq-config` configures answers them (as the network's server,
/// or as a proxy beside a site's DHCP server on another host), serves the loaders by TFTP or
/// HTTP, and iPXE comes to the real nginx and worker for the menu. Each test makes its own
/// network namespace, bridge, taps and hosts, and removes them; machines and dnsmasq are
/// stopped by PID.
@Suite(.serialized, .enabled(if: LabMachine.canRun, "needs root, qemu-system-x86_64, OVMF, dnsmasq and Debian's ipxe"))
struct RealNetworkTests {
    static let marker = "PXE-CATALOG-BOOTED name=lab-linux"

    struct Stack {
        let lab: NetworkLab
        let server: TestServer
        let dnsmasq: LabDnsmasq
        let linux: String
        var site: LabDnsmasq?
    }

    /// The server on `lab`: nginx on the bridge, a Linux container (Debian's kernel, the busybox
    /// initramfs) as the menu's default after 1 s, and dnsmasq with `dhcp` (JSON members).
    static func stack(_ lab: NetworkLab, dhcp: String, site: Bool = false) throws -> Stack {
        let bootParts = IPXEFirmwareTests.bootParts
        try #require(FileManager.default.fileExists(atPath: bootParts + "/vmlinuz"), "make boot-parts (part of make test) builds the kernel and initramfs")
        let server = TestServer(namespace: lab.namespace)
        server.listensOnAllAddresses = true
        let directory = server.directory.path
        server.extraConfig = """
            "menu": {"default": "first", "timeout": 1},
            "dhcp": {"interface": "\(NetworkLab.bridge)", "user": "root", "log_file": "\(directory)/dnsmasq.log", "tftp_root": "\(directory)/tftp", \(dhcp)}
            """
        let linux = server.catalogRoot + "/linux.rts.png"
        let packed = try TestServer.run(TestServer.binary, ["pack", linux, "--kernel", bootParts + "/vmlinuz", "--initrd", bootParts + "/initrd.img",
                                                            "--cmdline", "console=ttyS0 panic=-1 no_timer_check pxe_name=lab-linux", "--name", "Lab Linux"])
        try #require(packed.status == 0, "\(packed.stderr)")
        var siteServer: LabDnsmasq?
        if site {
            // The site's own DHCP server, on another host of the LAN: addresses only (and the
            // router advertisements a site's router sends).
            let host = try lab.host(address: "10.77.0.2/24")
            try NetworkLabSite.addIPv6(host)
            siteServer = try LabDnsmasq(siteIn: host, lab: lab, interface: "lan0", range: NetworkLab.range, directory: server.directory)
        }
        try server.start()
        let id = CatalogEntry.id(forRealPath: linux)
        try #require(TestServer.waitFor(seconds: 120) {
            (try? server.request("GET", "/pxe/menu.ipxe").text.contains(":entry1")) == true
        }, "the Linux container was prepared")
        let dnsmasq = try LabDnsmasq(lab: lab, server: server)
        return Stack(lab: lab, server: server, dnsmasq: dnsmasq, linux: id, site: siteServer)
    }

    static let serverMode = #""mode": "server", "range": "\#(NetworkLab.range)", "router_advertisements": true"#
    /// UEFI machines get iPXE (the default is shim + GRUB: RealNetworkTests+SecureBoot).
    static let serverModeIPXE = serverMode + #", "uefi_boot": "ipxe""#

    /// The boot log of one machine, oldest first, through the API.
    static func bootLog(_ server: TestServer, mac: String) throws -> [JSONValue] {
        let response = try server.request("GET", "/boots?limit=500", headers: ["Authorization: Bearer \(TestServer.adminToken)"])
        guard case let .array(events)? = try JSONParser.parse(response.body)["boots"] else { return [] }
        return events.filter { $0["mac"]?.stringValue == mac }.reversed()
    }

    static func kinds(_ events: [JSONValue]) -> [String] { events.compactMap { $0["kind"]?.stringValue } }

    static func summary(_ events: [JSONValue]) -> String {
        events.map { "\($0["kind"]?.stringValue ?? "?") \($0["status"].map { "\($0)" } ?? "") \($0["outcome"]?.stringValue ?? "")" }.joined(separator: "\n")
    }

    /// Waits for the boot log to hold what dnsmasq's log said (the worker reads it a few times a second).
    static func waitForBootLog(_ server: TestServer, mac: String, _ condition: @escaping ([JSONValue]) -> Bool) -> [JSONValue] {
        var events: [JSONValue] = []
        _ = TestServer.waitFor(seconds: 30) {
            events = (try? bootLog(server, mac: mac)) ?? []
            return condition(events)
        }
        return events
    }

    @Test func uefiFirmwarePXEBootsThroughServerModeDHCP() throws {
        let lab = try NetworkLab()
        let stack = try Self.stack(lab, dhcp: Self.serverModeIPXE)
        defer { stack.server.stop() }
        let mac = "52:54:00:77:10:01"
        let serial = try LabMachine.boot([LabMachine(.uefiPXE, mac: mac)], in: lab, directory: stack.server.directory.path, seconds: 240) {
            LabMachine.hasLine(Self.marker, in: $0)
        }[0]
        #expect(serial.contains(Self.marker), "serial:\n\(serial.suffix(3000))")
        #expect(serial.contains("NBP filename is snponly.efi"), "the firmware's own PXE loaded iPXE by TFTP")
        // The boot log: what dnsmasq gave the firmware and iPXE, then the HTTP requests.
        let events = Self.waitForBootLog(stack.server, mac: mac) { Self.kinds($0).contains("kernel") && Self.kinds($0).contains("tftp") }
        let answers = events.filter { $0["kind"]?.stringValue == "dhcp" }
        #expect(answers.first?["outcome"]?.stringValue == "uefi: snponly.efi", "\(Self.summary(events))")
        #expect(answers.first?["address"]?.stringValue?.hasPrefix("10.77.0.") == true)
        #expect(answers.contains { $0["outcome"]?.stringValue == "ipxe: http://\(NetworkLab.serverAddress):\(stack.server.port)/pxe/boot.ipxe" })
        #expect(events.contains { $0["kind"]?.stringValue == "tftp" && $0["outcome"]?.stringValue == "snponly.efi" && $0["status"] == .int(200) })
        // The firmware's DHCP and TFTP come seconds before iPXE's first HTTP request (iPXE's own
        // DHCP answer is recorded once dnsmasq's transaction is complete, which may be after the menu).
        let kinds = Self.kinds(events)
        let order = ["dhcp", "tftp", "menu", "kernel"].map { kinds.firstIndex(of: $0) ?? Int.max }
        #expect(order[0] < order[1] && order[1] < order[2] && order[2] < order[3] && order[3] < Int.max, "\(kinds)")
        let host = try JSONParser.parse(stack.server.request("GET", "/hosts/\(mac)", headers: ["Authorization: Bearer \(TestServer.adminToken)"]).body)
        #expect(host["platform"]?.stringValue == "efi")
    }

    @Test func uefiFirmwarePXEBootsThroughProxyDHCPBesideTheSitesServer() throws {
        let lab = try NetworkLab()
        let stack = try Self.stack(lab, dhcp: #""mode": "proxy", "server_address": "\#(NetworkLab.serverAddress)", "uefi_boot": "ipxe""#, site: true)
        defer { stack.server.stop() }
        let mac = "52:54:00:77:10:02"
        let serial = try LabMachine.boot([LabMachine(.uefiPXE, mac: mac)], in: lab, directory: stack.server.directory.path, seconds: 240) {
            LabMachine.hasLine(Self.marker, in: $0)
        }[0]
        #expect(serial.contains(Self.marker), "serial:\n\(serial.suffix(3000))")
        // The site's server handed out the address; pxe-catalog's dnsmasq only the boot files.
        let siteLog = (try? String(contentsOfFile: stack.server.directory.path + "/site-dnsmasq.log", encoding: .utf8)) ?? ""
        #expect(siteLog.contains("DHCPACK(lan0)") && siteLog.contains(mac))
        let ours = (try? String(contentsOfFile: stack.server.directory.path + "/dnsmasq.log", encoding: .utf8)) ?? ""
        #expect(!ours.contains("DHCPACK"), "proxy mode gives no addresses")
        let events = Self.waitForBootLog(stack.server, mac: mac) { Self.kinds($0).contains("kernel") }
        let answers = events.filter { $0["kind"]?.stringValue == "dhcp" }.compactMap { $0["outcome"]?.stringValue }
        #expect(answers.contains("uefi: snponly.efi") && answers.contains { $0.hasPrefix("ipxe: http://") }, "\(Self.summary(events))")
    }

    @Test func biosIPXEROMGetsTheBootScriptAtOnce() throws {
        let lab = try NetworkLab()
        let stack = try Self.stack(lab, dhcp: Self.serverModeIPXE)
        defer { stack.server.stop() }
        let mac = "52:54:00:77:10:03"
        let serial = try LabMachine.boot([LabMachine(.bios, mac: mac)], in: lab, directory: stack.server.directory.path, seconds: 180) {
            LabMachine.hasLine(Self.marker, in: $0)
        }[0]
        #expect(serial.contains(Self.marker), "serial:\n\(serial.suffix(3000))")
        let events = Self.waitForBootLog(stack.server, mac: mac) { Self.kinds($0).contains("kernel") }
        #expect(events.contains { $0["kind"]?.stringValue == "dhcp" && $0["outcome"]?.stringValue?.hasPrefix("ipxe: http://") == true }, "\(Self.summary(events))")
        #expect(!Self.kinds(events).contains("tftp"), "an iPXE ROM needs no loader")
    }

    /// `dhcp.bios_chainload`: the card's iPXE ROM loads Debian's undionly by TFTP once, and
    /// undionly goes on to the menu (DHCP alone could not tell them apart: a loop).
    @Test func biosIPXEROMChainloadsUndionlyOnceWhenAsked() throws {
        let lab = try NetworkLab()
        let stack = try Self.stack(lab, dhcp: Self.serverModeIPXE + #", "bios_chainload": true"#)
        defer { stack.server.stop() }
        let mac = "52:54:00:77:10:04"
        let serial = try LabMachine.boot([LabMachine(.bios, mac: mac)], in: lab, directory: stack.server.directory.path, seconds: 240) {
            LabMachine.hasLine(Self.marker, in: $0)
        }[0]
        #expect(serial.contains(Self.marker), "serial:\n\(serial.suffix(3000))")
        // The machine's requests (the test's own curl polls from 127.0.0.1).
        let access = stack.server.accessLog.split(separator: "\n").filter { $0.contains("\"iPXE/") }
        #expect(access.filter { $0.contains("\"GET /pxe/boot.ipxe") }.count == 2, "the ROM's request and undionly's, no more:\n\(access.joined(separator: "\n"))")
        #expect(access.filter { $0.contains("\"GET /pxe/menu.ipxe") }.count == 1, "\(access.joined(separator: "\n"))")
        let events = Self.waitForBootLog(stack.server, mac: mac) { Self.kinds($0).contains("kernel") && Self.kinds($0).contains("tftp") }
        let transfers = events.filter { $0["kind"]?.stringValue == "tftp" }
        #expect(transfers.count == 1 && transfers.first?["outcome"]?.stringValue == "undionly.kpxe", "\(Self.summary(events))")
    }

    @Test func uefiHTTPBootLoadsTheLoaderFromNginx() throws {
        let lab = try NetworkLab()
        let stack = try Self.stack(lab, dhcp: Self.serverModeIPXE)
        defer { stack.server.stop() }
        let mac = "52:54:00:77:10:05"
        let serial = try LabMachine.boot([LabMachine(.uefiHTTPBoot, mac: mac)], in: lab, directory: stack.server.directory.path, seconds: 240) {
            LabMachine.hasLine(Self.marker, in: $0)
        }[0]
        #expect(serial.contains(Self.marker), "serial:\n\(serial.suffix(3000))")
        #expect(serial.contains("Start HTTP Boot over IPv4"))
        let access = stack.server.accessLog
        #expect(access.contains("\"GET /boot/ipxe.efi HTTP/1.1\" 200 ") && access.contains("UefiHttpBoot"), "nginx sent the loader:\n\(access)")
        let events = Self.waitForBootLog(stack.server, mac: mac) { Self.kinds($0).contains("kernel") }
        #expect(events.contains { $0["outcome"]?.stringValue == "uefi-http: http://\(NetworkLab.serverAddress):\(stack.server.port)/boot/ipxe.efi" },
                "\(Self.summary(events))")
    }

    /// Eight UEFI machines power on together: real DHCP, TFTP and HTTP for all of them.
    @Test func eightUEFIMachinesBootTogether() throws {
        let lab = try NetworkLab()
        let stack = try Self.stack(lab, dhcp: Self.serverModeIPXE)
        defer { stack.server.stop() }
        let machines = (1...8).map { LabMachine(.uefiPXE, mac: String(format: "52:54:00:77:20:%02x", $0)) }
        let started = Date()
        let serials = try LabMachine.boot(machines, in: lab, directory: stack.server.directory.path, seconds: 480) {
            LabMachine.hasLine(Self.marker, in: $0)
        }
        print("eight UEFI machines through real DHCP, TFTP and HTTP: \(serials.filter { $0.contains(Self.marker) }.count) of 8 booted in \(Int(Date().timeIntervalSince(started))) s")
        for (machine, serial) in zip(machines, serials) {
            #expect(serial.contains(Self.marker), "\(machine.mac):\n\(serial.suffix(1500))")
        }
        for machine in machines {
            let events = Self.waitForBootLog(stack.server, mac: machine.mac) { Self.kinds($0).contains("kernel") && Self.kinds($0).contains("dhcp") }
            #expect(Self.kinds(events).contains("dhcp") && Self.kinds(events).contains("tftp") && Self.kinds(events).contains("kernel"),
                    "\(machine.mac):\n\(Self.summary(events))")
        }
        let hosts = try JSONParser.parse(stack.server.request("GET", "/hosts", headers: ["Authorization: Bearer \(TestServer.adminToken)"]).body)
        guard case let .array(list)? = hosts["hosts"] else { Issue.record("no hosts: \(hosts)"); return }
        let known = Set(list.compactMap { $0["mac"]?.stringValue })
        #expect(known.isSuperset(of: machines.map(\.mac)))
    }
}

/// The site host's IPv6: a site's router advertises its prefix (the lab's bridge has fd77::1).
enum NetworkLabSite {
    static func addIPv6(_ host: String) throws {
        let result = try TestServer.run("/usr/sbin/ip", ["-n", host, "-6", "addr", "add", "fd77::2/64", "dev", "lan0", "nodad"])
        guard result.status == 0 else { throw TestServerError(message: "ip -6 addr add failed: \(result.stderr)") }
    }
}
