import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

/// Debian 12's real netboot installer, packed into a container, boots on real machines (QEMU,
/// BIOS with the NIC's iPXE ROM) through real DHCP (dnsmasq), nginx and the worker, with
/// `auto=true priority=critical url=${provision_url}`: each machine's installer fetches its own
/// preseed with the token its entry script was given, and the preseed's `early_command` prints
/// what it was told. A URL already used gives nothing, and the installer says so.
@Suite(.serialized, .enabled(if: LabMachine.canRun, "needs root, qemu-system-x86_64, OVMF, dnsmasq and Debian's ipxe"))
struct UnattendedInstallTests {
    static var installer: String { TestServer.repositoryRoot + "/.build/installer" }

    static let preseed = """
        # pxe-catalog test preseed for {{hostname}} ({{entry.name}})
        d-i netcfg/get_hostname string {{hostname}}
        d-i preseed/early_command string echo PXE-ANSWERS host={{shell(hostname)}} nonce={{shell(vars.nonce)}} mac={{mac}} > /dev/console; sleep 1; poweroff -f

        """

    static let commandLine = "console=ttyS0 auto=true priority=critical url=${provision_url} DEBIAN_FRONTEND=text ipv6.disable=1"

    struct Machine {
        var mac: String
        var hostname: String
        var nonce: String
        var path: String { mac.replacingOccurrences(of: ":", with: "-") }
        var marker: String { "PXE-ANSWERS host=\(hostname) nonce=\(nonce) mac=\(mac)" }
    }

    /// The server on `lab` (not started): the installer packed into a container, the preseed
    /// template, a menu file whose entry asks for `${provision_url}` and gives template
    /// `debian`, a rule per machine (boot the installer, with its hostname and nonce), and
    /// dnsmasq's `dhcp` members (name servers included: the installer asks for them otherwise).
    static func installerServer(in lab: NetworkLab, machines: [Machine], dhcp: String) throws -> (server: TestServer, id: String) {
        let server = TestServer(namespace: lab.namespace)
        server.listensOnAllAddresses = true
        let directory = server.directory.path
        let container = server.catalogRoot + "/installer.rts.png"
        let packed = try TestServer.run(TestServer.binary, ["pack", container, "--kernel", installer + "/linux", "--initrd", installer + "/initrd.gz",
                                                            "--name", "Debian 12 installer"])
        try #require(packed.status == 0, "\(packed.stderr)")
        let id = CatalogEntry.id(forRealPath: container)
        try FileManager.default.createDirectory(atPath: directory + "/answers", withIntermediateDirectories: true)
        try preseed.write(toFile: directory + "/answers/debian.preseed", atomically: true, encoding: .utf8)
        let rules = machines.enumerated().map { index, machine in
            #"{"name": "m\#(index + 1)", "match": {"mac": "\#(machine.mac)"}, "boot": "\#(id)", "vars": {"hostname": "\#(machine.hostname)", "nonce": "\#(machine.nonce)"}}"#
        }
        try """
            {"entries": [{"path": "installer.rts.png", "cmdline": "\(commandLine)", "answers": "debian"}],
             "hosts": {"rules": [\(rules.joined(separator: ", "))]}}
            """.write(toFile: directory + "/menu.json", atomically: true, encoding: .utf8)
        server.extraConfig = """
            "menu": {"file": "\(directory)/menu.json"},
            "provision": {"templates": "\(directory)/answers"},
            "dhcp": {"interface": "\(NetworkLab.bridge)", "user": "root", "log_file": "\(directory)/dnsmasq.log", "tftp_root": "\(directory)/tftp", "dns_servers": ["\(NetworkLab.serverAddress)"], \(dhcp)}
            """
        return (server, id)
    }

    @Test func eachMachineInstallsWithItsOwnAnswersAndAUsedURLGivesNone() throws {
        try #require(FileManager.default.fileExists(atPath: Self.installer + "/initrd.gz"),
                     "make installer-parts (part of make test) unpacks Debian's netboot installer")
        let machines = [
            Machine(mac: "52:54:00:77:40:01", hostname: "web-1", nonce: UUID().uuidString.prefix(8).lowercased()),
            Machine(mac: "52:54:00:77:40:02", hostname: "db-2", nonce: UUID().uuidString.prefix(8).lowercased()),
            Machine(mac: "52:54:00:77:40:03", hostname: "spent-3", nonce: UUID().uuidString.prefix(8).lowercased()),
        ]
        let lab = try NetworkLab()
        // The namespace (and dnsmasq, below) must outlive every request the test makes.
        defer { withExtendedLifetime(lab) {} }
        let (server, id) = try Self.installerServer(in: lab, machines: machines, dhcp: RealNetworkTests.serverModeIPXE)
        let directory = server.directory.path
        try server.start()
        defer { server.stop() }
        try #require(TestServer.waitFor(seconds: 180) {
            (try? server.request("GET", "/pxe/\(id)/boot.ipxe").text.contains("initrd --name initrd")) == true
        }, "the installer container was prepared")
        let dnsmasq = try LabDnsmasq(lab: lab, server: server)
        defer { withExtendedLifetime(dnsmasq) {} }

        // The third machine's URL is used before it boots (as a copied URL would be): its entry
        // script is rendered for it, and its answers fetched once.
        let third = machines[2]
        let script = try server.request("GET", "/pxe/\(id)/boot.ipxe?mac=\(third.path)", headers: ["Host: \(NetworkLab.serverAddress)"]).text
        let kernelLine = try #require(script.split(separator: "\n").first { $0.hasPrefix("kernel ") }, "\(script)")
        let arguments = kernelLine.split(separator: " ").dropFirst(2).prefix { $0 != "||" }.joined(separator: " ")
        let url = try #require(arguments.split(separator: " ").first { $0.hasPrefix("url=http://") }.map { String($0.dropFirst(4)) }, "\(arguments)")
        let prefix = "http://\(NetworkLab.serverAddress):\(server.port)"
        try #require(url.hasPrefix(prefix + "/provision/\(third.path)/") && url.hasSuffix("/debian.preseed"), "\(url)")
        let spent = try server.request("GET", String(url.dropFirst(prefix.count)))
        #expect(spent.status == 200 && spent.text.contains("host='spent-3'"), "\(spent.status) \(spent.text)")
        #expect(spent.headers["cache-control"] == "no-store")

        // The first two boot from the network; the third boots the command line it was handed.
        var labMachines = machines.map { LabMachine(.bios, mac: $0.mac) }
        labMachines[2].directKernel = (Self.installer + "/linux", Self.installer + "/initrd.gz", arguments)
        for index in labMachines.indices { labMachines[index].memoryMiB = 1024 }
        let started = Date()
        let serials = try LabMachine.boot(labMachines, in: lab, directory: directory, seconds: 900) {
            $0.contains("PXE-ANSWERS") && $0.contains("Power down") || $0.contains("Failed to retrieve the preconfiguration file")
        }
        print("Debian installer, three BIOS machines at once: answers in \(Int(Date().timeIntervalSince(started))) s")
        for index in [0, 1] {
            #expect(LabMachine.hasLine(machines[index].marker, in: serials[index]), "\(machines[index].mac):\n\(serials[index].suffix(3000))")
            let other = machines[1 - index]
            #expect(!serials[index].contains(other.nonce), "a machine got only its own answers")
        }
        #expect(serials[2].contains("Failed to retrieve the preconfiguration file"), "the installer says so:\n\(serials[2].suffix(3000))")
        #expect(!serials[2].contains("PXE-ANSWERS"))

        // The boot log: each machine's entry script minted its URL, its installer fetched it.
        for machine in machines.prefix(2) {
            let events = RealNetworkTests.waitForBootLog(server, mac: machine.mac) { $0.contains { $0["kind"]?.stringValue == "answers" } }
            #expect(events.contains { $0["kind"]?.stringValue == "entry_script" && $0["outcome"]?.stringValue == "answers: debian" },
                    "\(RealNetworkTests.summary(events))")
            let fetch = events.first { $0["kind"]?.stringValue == "answers" }
            #expect(fetch?["status"] == .int(200) && fetch?["outcome"]?.stringValue == "served debian.preseed (debian)" && fetch?["entry_id"]?.stringValue == id,
                    "\(RealNetworkTests.summary(events))")
            #expect(fetch?["address"]?.stringValue?.hasPrefix("10.77.0.") == true, "the installer's own address")
        }
        let thirdEvents = RealNetworkTests.waitForBootLog(server, mac: third.mac) { $0.contains { $0["status"] == .int(410) } }
        #expect(thirdEvents.contains { $0["kind"]?.stringValue == "answers" && $0["status"] == .int(410) && $0["outcome"]?.stringValue == "refused: already used" },
                "\(RealNetworkTests.summary(thirdEvents))")

        // Another machine's token opens nothing; a used one, nothing again.
        let fetched = server.accessLog.split(separator: "\n").compactMap { line -> String? in
            guard let start = line.range(of: "GET /provision/\(machines[0].path)/") else { return nil }
            return line[start.upperBound...].split(separator: "/").first.map(String.init)
        }
        let token = try #require(fetched.first, "\(server.accessLog)")
        let stolen = try server.request("GET", "/provision/" + machines[1].path + "/" + token + "/debian.preseed")
        #expect(stolen.status == 403 && !stolen.text.contains("web-1"), "\(stolen.status) \(stolen.text)")
        let again = try server.request("GET", "/provision/" + machines[0].path + "/" + token + "/debian.preseed")
        #expect(again.status == 410, "\(again.status) \(again.text)")
    }

    /// A UEFI machine with Secure Boot on: shim and GRUB read its own menu by TFTP, which the
    /// worker wrote with the machine's answer-file URL in it (GRUB has no HTTP); Debian's signed
    /// installer kernel boots and fetches its answers once; the menu then gets a new URL.
    @Test func aSecureBootMachineInstallsWithTheURLItsGRUBMenuCarries() throws {
        try #require(FileManager.default.fileExists(atPath: Self.installer + "/initrd.gz"),
                     "make installer-parts (part of make test) unpacks Debian's netboot installer")
        try #require(FileManager.default.fileExists(atPath: RealNetworkTests.secureBootLoaders + "/shimx64.efi.signed"),
                     "make secure-boot-loaders (part of make test) unpacks Debian's signed shim and GRUB")
        let machine = Machine(mac: "52:54:00:77:40:11", hostname: "uefi-1", nonce: UUID().uuidString.prefix(8).lowercased())
        let lab = try NetworkLab()
        defer { withExtendedLifetime(lab) {} }
        let (server, _) = try Self.installerServer(in: lab, machines: [machine], dhcp: RealNetworkTests.serverMode + ", " + RealNetworkTests.shimGRUB)
        let directory = server.directory.path
        try server.start()
        defer { server.stop() }
        let own = directory + "/tftp/" + "grub/host-\(machine.path).cfg"
        let prefix = "url=http://\(NetworkLab.serverAddress):\(server.port)/provision/\(machine.path)/"
        var menu = ""
        try #require(TestServer.waitFor(seconds: 180) {
            menu = (try? String(contentsOfFile: own, encoding: .utf8)) ?? ""
            return menu.contains(prefix)
        }, "the machine's GRUB menu carries its URL:\n\(menu)")
        let dnsmasq = try LabDnsmasq(lab: lab, server: server)
        defer { withExtendedLifetime(dnsmasq) {} }

        var labMachine = LabMachine(.uefiSecureBootPXE, mac: machine.mac)
        labMachine.memoryMiB = 1024
        let started = Date()
        let serial = try LabMachine.boot([labMachine], in: lab, directory: directory, seconds: 900) {
            $0.contains("PXE-ANSWERS") && $0.contains("Power down") || $0.contains("Failed to retrieve the preconfiguration file")
        }[0]
        print("Debian installer, UEFI with Secure Boot through shim and GRUB: answers in \(Int(Date().timeIntervalSince(started))) s")
        #expect(LabMachine.hasLine(machine.marker, in: serial), "\(serial.suffix(3000))")
        #expect(serial.contains("Secure boot enabled"), "the installer's kernel says Secure Boot is on")
        let events = RealNetworkTests.waitForBootLog(server, mac: machine.mac) { $0.contains { $0["kind"]?.stringValue == "answers" } }
        #expect(events.contains { $0["kind"]?.stringValue == "answers" && $0["status"] == .int(200) }, "\(RealNetworkTests.summary(events))")
        // Used: the machine's menu gets a new URL for its next install.
        let used = try #require(menu.split(separator: "\n").first { $0.contains(prefix) }.flatMap { line in
            line.split(separator: " ").first { $0.contains(prefix) } }).replacingOccurrences(of: "'", with: "")
        #expect(TestServer.waitFor(seconds: 10) {
            let now = (try? String(contentsOfFile: own, encoding: .utf8)) ?? ""
            return now.contains(prefix) && !now.contains(used)
        }, "a new URL after the old one was used")
    }
}
