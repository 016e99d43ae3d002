import Foundation
@testable import PXEServer
import TestSupport
import Testing

/// dnsmasq's configuration from `dhcp.*`: what each kind of client is handed, checked against
/// the machine first, the same bytes every time.
@Suite struct NetworkBootConfigTests {
    func load(_ dhcp: String, extra: String = "") throws(ConfigurationError) -> Configuration {
        let directory = TemporaryDirectory()
        let json = #"{"catalog": {"roots": ["\#(directory.path)"]}, "state": {"directory": "/var/lib/pxe-catalog"}, "dhcp": {\#(dhcp)}\#(extra)}"#
        return try ConfigurationLoader.load(file: directory.write(Array(json.utf8), to: "config.json"), environment: [:])
    }

    /// A machine with `lab0` at 10.77.0.1/24 (and a unique local IPv6 address) and Debian's loaders.
    func plan(_ configuration: Configuration, ipv6: Bool = true, loaders: Set<String> = ["undionly.kpxe", "snponly.efi", "ipxe.efi", "shimx64.efi.signed", "grubnetx64.efi.signed"])
        throws(NetworkBootPlan.Problem) -> NetworkBootPlan? {
        try NetworkBootPlan.resolve(configuration, interfaces: { $0 == "lab0" ? [IPv4Network(address: IPv4Address("10.77.0.1")!, prefixLength: 24)] : $0 == "down0" ? [] : nil },
                                    hasRoutableIPv6: { _ in ipv6 },
                                    fileExists: { path in
                                        // Debian's ipxe, shim-signed and grub-efi-amd64-signed where they install them.
                                        let name = (path as NSString).lastPathComponent
                                        return loaders.contains(name) && (path.hasPrefix("/usr/lib/ipxe/") || path == "/usr/lib/shim/" + name
                                                                          || path == "/usr/lib/grub/x86_64-efi-signed/" + name)
                                    })
    }

    static func golden(_ name: String) throws -> String {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        return try String(contentsOf: url.appendingPathComponent("Golden/\(name)"), encoding: .utf8)
    }

    @Test func serverModeHandsEachClientKindItsLoader() throws {
        let configuration = try load(#""mode": "server", "interface": "lab0", "range": "10.77.0.100-10.77.0.199", "router_advertisements": true"#,
                                     extra: #", "nginx": {"listen": "8080"}"#)
        let plan = try #require(try plan(configuration))
        #expect(plan.baseURL == "http://10.77.0.1:8080")
        let text = DnsmasqConfigGenerator.config(plan, sourceName: "config.json")
        #expect(text == (try Self.golden("dnsmasq-server.conf")))
        #expect(DnsmasqConfigGenerator.config(try #require(try self.plan(configuration)), sourceName: "config.json") == text,
                "the same configuration gives the same bytes (configuration management sees no change)")
    }

    @Test func proxyModeAnswersOnlyNetworkBootBesideTheSitesServer() throws {
        let configuration = try load(#""mode": "proxy", "interface": "lab0", "server_address": "10.77.0.1""#,
                                     extra: #", "menu": {"public_base_url": "http://boot.lab.example/"}"#)
        let plan = try #require(try plan(configuration))
        #expect(plan.bootScriptURL == "http://boot.lab.example/pxe/boot.ipxe", "menu.public_base_url wins over the address")
        #expect(DnsmasqConfigGenerator.config(plan, sourceName: "config.json") == (try Self.golden("dnsmasq-proxy.conf")))
    }

    @Test func offMakesNoPlan() throws {
        #expect(try plan(try load(#""mode": "off""#)) == nil)
        #expect(try plan(try load("")) == nil, "off is the default: make run never answers DHCP")
    }

    /// What the configuration names must be on this machine; each refusal names its key.
    @Test(arguments: [
        (#""mode": "server", "interface": "eth9", "range": "10.77.0.100-10.77.0.199""#, true, "dhcp.interface",
         "names eth9, which is not a network interface of this machine"),
        (#""mode": "server", "interface": "down0", "range": "10.77.0.100-10.77.0.199""#, true, "dhcp.interface",
         "names down0, which has no IPv4 address; give it one in the machines' subnet"),
        (#""mode": "server", "interface": "lab0", "range": "10.1.0.100-10.1.0.199""#, true, "dhcp.range",
         "is 10.1.0.100-10.1.0.199, which is not inside the subnet of lab0 (10.77.0.0/24)"),
        (#""mode": "server", "interface": "lab0", "range": "10.77.0.100-10.77.1.5""#, true, "dhcp.range",
         "is 10.77.0.100-10.77.1.5, which is not inside the subnet of lab0 (10.77.0.0/24)"),
        (#""mode": "server", "interface": "lab0", "range": "10.77.0.1-10.77.0.50""#, true, "dhcp.range",
         "is 10.77.0.1-10.77.0.50, which holds the server's own address 10.77.0.1"),
        (#""mode": "proxy", "interface": "lab0", "server_address": "192.168.9.9""#, true, "dhcp.server_address",
         "is 192.168.9.9, which is not in the subnet of lab0 (10.77.0.0/24)"),
        (#""mode": "server", "interface": "lab0", "range": "10.77.0.100-10.77.0.199", "uefi_boot": "ipxe", "uefi_loader": "grubx64.efi""#, true, "dhcp.uefi_loader",
         "is grubx64.efi, which is not in /usr/lib/ipxe (dhcp.loader_directory); Debian's ipxe package installs undionly.kpxe, snponly.efi and ipxe.efi there"),
        (#""mode": "server", "interface": "lab0", "range": "10.77.0.100-10.77.0.199", "router_advertisements": true"#, false, "dhcp.router_advertisements",
         "needs an IPv6 address on lab0 other than its link-local one"),
        (#""mode": "proxy", "interface": "lab0", "server_address": "10.77.0.1", "router_advertisements": true"#, true, "dhcp.router_advertisements",
         "is only for server mode"),
    ] as [(String, Bool, String, String)])
    func refusesWhatTheMachineDoesNotHave(dhcp: String, ipv6: Bool, key: String, reason: String) throws {
        let configuration = try load(dhcp)
        do {
            _ = try plan(configuration, ipv6: ipv6)
            Issue.record("accepted \(dhcp)")
        } catch {
            #expect(error.key == key)
            #expect(error.reason.hasPrefix(reason), "\(error.description)")
            #expect(error.description.hasPrefix("Configuration key '\(key)' "))
        }
    }

    /// Mistakes in the file itself are refused when it is loaded (so a malformed range never
    /// reaches dnsmasq, whatever command reads the configuration).
    @Test(arguments: [
        (#""mode": "on""#, "dhcp.mode", "must be \"off\", \"proxy\" or \"server\", not \"on\""),
        (#""mode": "proxy", "interface": "lab0""#, "dhcp.server_address", "is required with dhcp.mode \"proxy\""),
        (#""mode": "server", "interface": "lab0""#, "dhcp.range", "is required with dhcp.mode \"server\""),
        (#""mode": "server", "range": "10.77.0.100-10.77.0.199""#, "dhcp.interface", "is required with dhcp.mode \"server\""),
        (#""range": "10.77.0.199-10.77.0.100""#, "dhcp.range", "must be two IPv4 addresses START-END with START not after END"),
        (#""range": "10.77.0.100,10.77.0.199""#, "dhcp.range", "must be two IPv4 addresses"),
        (#""range": "10.77.0.100-10.77.0.256""#, "dhcp.range", "must be two IPv4 addresses"),
        (#""range": "10.77.0.100-10.77.0.19\n9""#, "dhcp.range", "must not contain control characters"),
        (#""range": "010.77.0.100-10.77.0.199""#, "dhcp.range", "must be two IPv4 addresses"),
        (#""server_address": "10.77.0""#, "dhcp.server_address", "must be an IPv4 address"),
        (#""interface": "eth0\ndhcp-range=1""#, "dhcp.interface", "must not contain control characters"),
        (#""interface": "eth0 dhcp-range=1""#, "dhcp.interface", "must be an interface name"),
        (#""uefi_loader": "../../etc/shadow""#, "dhcp.uefi_loader", "must be a file name of letters, digits"),
        (#""bios_loader": "a,b""#, "dhcp.bios_loader", "must be a file name of letters, digits"),
        (#""lease_seconds": 5"#, "dhcp.lease_seconds", "must be between 120 and 604800"),
        (#""user": "root\nport=53""#, "dhcp.user", "must not contain control characters"),
        (#""user": "root port=53""#, "dhcp.user", "must be a single nginx word"),
        (#""mode": "server", "interface": "lab0", "range": "10.77.0.100-10.77.0.199", "log_file": "/var/log/a,b""#, "dhcp.log_file", "holds /var/log/a,b, which contains"),
    ])
    func refusesMalformedKeys(dhcp: String, key: String, reason: String) {
        do {
            _ = try load(dhcp)
            Issue.record("accepted \(dhcp)")
        } catch {
            #expect(error.key == key)
            #expect(error.reason.hasPrefix(reason), "\(error.description)")
        }
    }

    @Test func bootScriptChainloadsUndionlyOnlyFromAnotherIPXEOnABIOS() throws {
        let configuration = try load(#""mode": "server", "interface": "lab0", "range": "10.77.0.100-10.77.0.199", "bios_chainload": true"#)
        #expect(configuration.menuOptions.biosChainload == "undionly.kpxe")
        #expect(try load(#""bios_chainload": true"#).menuOptions.biosChainload == nil, "nothing to chainload without dnsmasq's TFTP")
    }

    @Test func nginxServesTheTFTPRootAtBootOnlyWithNetworkBoot() throws {
        let on = try load(#""mode": "server", "interface": "lab0", "range": "10.77.0.100-10.77.0.199", "tftp_root": "/srv/tftp""#)
        let site = NginxConfigGenerator.site(for: on, sourceName: "config.json")
        #expect(site.contains("""
                location /boot/ {
                    alias "/srv/tftp/";
                    types { }
                    default_type application/octet-stream;
            """))
        #expect(!NginxConfigGenerator.site(for: try load(""), sourceName: "config.json").contains("location /boot/"))
    }

    @Test(arguments: [("80", 80), ("8080", 8080), ("10.0.0.1:8081", 8081), ("[::]:8082", 8082), ("unix:/run/x.sock", 80), ("[::1]", 80)])
    func nginxsPortGoesIntoTheURLs(listen: String, port: Int) {
        #expect(NetworkBootPlan.listenPort(listen) == port)
    }
}

/// `dhcp.dns_servers`: handed out in server mode (installers need name servers), refused elsewhere.
@Suite struct DNSServersConfigTests {
    @Test func serverModeHandsOutTheNameServersAndOtherModesRefuseThem() throws {
        let tests = NetworkBootConfigTests()
        let server = try tests.load(#""mode": "server", "interface": "lab0", "range": "10.77.0.100-10.77.0.199", "dns_servers": ["10.77.0.1", "192.0.2.53"]"#)
        let text = DnsmasqConfigGenerator.config(try #require(try tests.plan(server)), sourceName: "config.json")
        #expect(text.contains("\ndhcp-option=option:dns-server,10.77.0.1,192.0.2.53\n"))
        let proxy = try tests.load(#""mode": "proxy", "interface": "lab0", "server_address": "10.77.0.1", "dns_servers": ["10.77.0.1"]"#)
        #expect(throws: NetworkBootPlan.Problem.self) { _ = try tests.plan(proxy) }
        #expect(throws: ConfigurationError.self) { _ = try tests.load(#""mode": "server", "dns_servers": ["dns.example"]"#) }
    }
}
