import Glibc

/// What the network-boot companion (dnsmasq) hands each kind of client, resolved from the
/// configuration and the interface it answers on. The dnsmasq configuration is made from this
/// value alone, so that it is checked once, and every refusal is a sentence naming its key.
package struct NetworkBootPlan: Sendable, Equatable {
    package var mode: Configuration.DHCP.Mode
    package var interface: String
    /// The interface's subnet that the machines are on.
    package var subnet: IPv4Network
    /// Server mode's addresses.
    package var range: DHCPRange?
    package var leaseSeconds: Int
    package var serverAddress: IPv4Address
    /// `http://SERVER[:PORT]` (or `menu.public_base_url`): where machines reach nginx.
    package var baseURL: String
    package var tftpRoot: String
    package var biosLoader: String
    package var uefiLoader: String
    package var httpBootLoader: String
    package var routerAdvertisements: Bool
    /// Server mode: name servers handed out with the address.
    package var dnsServers: [String] = []
    package var logFile: String
    package var leaseFile: String
    package var user: String

    /// iPXE's first script: the menu (with the machine's identity) comes from it.
    package var bootScriptURL: String { baseURL + "/pxe/boot.ipxe" }
    /// The HTTP Boot loader, served by nginx from the TFTP root.
    package var httpBootLoaderURL: String { baseURL + "/boot/" + httpBootLoader }

    /// Why a plan cannot be made: a sentence naming the key at fault.
    package struct Problem: Error, CustomStringConvertible, Equatable {
        package let key: String
        package let reason: String
        package var description: String { "Configuration key '\(key)' \(reason)." }
    }

    /// The plan for `configuration`; nil when `dhcp.mode` is off. `interfaces` answers which
    /// IPv4 subnets an interface has (nil: no such interface), `fileExists` whether a loader is
    /// there: both look at the machine, which `check-config` and `dnsmasq-config` do.
    package static func resolve(_ configuration: Configuration,
                                interfaces: (String) -> [IPv4Network]? = NetworkInterfaces.ipv4Networks(of:),
                                hasRoutableIPv6: (String) -> Bool = NetworkInterfaces.hasRoutableIPv6Address,
                                fileExists: (String) -> Bool = { access($0, R_OK) == 0 }) throws(Problem) -> NetworkBootPlan? {
        let dhcp = configuration.dhcp
        guard dhcp.mode != .off, let interface = dhcp.interface else { return nil }
        guard let networks = interfaces(interface) else {
            throw Problem(key: "dhcp.interface", reason: "names \(interface), which is not a network interface of this machine")
        }
        let range = dhcp.range.flatMap(DHCPRange.init)
        let serverAddress = dhcp.serverAddress.flatMap(IPv4Address.init)
        // The subnet the machines are on: the one holding the range (server mode) or the
        // server's address (proxy mode), else the interface's first.
        let subnet = networks.first { network in
            if let range { return network.containsHost(range.start) && network.containsHost(range.end) }
            if let serverAddress { return network.containsHost(serverAddress) }
            return true
        }
        guard let subnet else {
            if networks.isEmpty {
                throw Problem(key: "dhcp.interface", reason: "names \(interface), which has no IPv4 address; give it one in the machines' subnet")
            }
            let held = networks.map { IPv4Network(address: $0.network, prefixLength: $0.prefixLength).description }.joined(separator: ", ")
            if let range {
                throw Problem(key: "dhcp.range", reason: "is \(range), which is not inside the subnet of \(interface) (\(held))")
            }
            throw Problem(key: "dhcp.server_address", reason: "is \(serverAddress.map(\.description) ?? ""), which is not in the subnet of \(interface) (\(held))")
        }
        let server = serverAddress ?? subnet.address
        if let range, range.start <= server, server <= range.end {
            throw Problem(key: "dhcp.range", reason: "is \(range), which holds the server's own address \(server)")
        }
        if dhcp.routerAdvertisements {
            guard dhcp.mode == .server else {
                throw Problem(key: "dhcp.router_advertisements", reason: "is only for server mode (an isolated network): beside the site's DHCP server, the site's routers advertise")
            }
            guard hasRoutableIPv6(interface) else {
                throw Problem(key: "dhcp.router_advertisements", reason: "needs an IPv6 address on \(interface) other than its link-local one (a unique local one such as fd00:77::1/64 will do): dnsmasq advertises that address's /64")
            }
        }
        if !dhcp.dnsServers.isEmpty, dhcp.mode != .server {
            throw Problem(key: "dhcp.dns_servers", reason: "is only for server mode: beside the site's DHCP server, that server hands out the name servers")
        }
        var ipxeLoaders = [("dhcp.bios_loader", dhcp.biosLoader), ("dhcp.http_boot_loader", dhcp.httpBootLoader)]
        switch dhcp.uefiBoot {
        case .ipxe:
            ipxeLoaders.insert(("dhcp.uefi_loader", dhcp.uefiLoader), at: 1)
        case .shimGRUB:
            for (key, path, package) in [("dhcp.shim_loader", dhcp.shimLoader, "shim-signed"), ("dhcp.grub_loader", dhcp.grubLoader, "grub-efi-amd64-signed")]
            where !fileExists(path) {
                throw Problem(key: key, reason: "is \(path), which does not exist; install Debian's \(package) package (dhcp.uefi_boot is \"shim-grub\")")
            }
        }
        for (key, name) in ipxeLoaders {
            let path = dhcp.loaderDirectory + "/" + name
            guard fileExists(path) else {
                throw Problem(key: key, reason: "is \(name), which is not in \(dhcp.loaderDirectory) (dhcp.loader_directory); Debian's ipxe package installs undionly.kpxe, snponly.efi and ipxe.efi there")
            }
        }
        var plan = NetworkBootPlan(
            mode: dhcp.mode, interface: interface, subnet: subnet, range: range, leaseSeconds: dhcp.leaseSeconds,
            serverAddress: server, baseURL: baseURL(configuration, server: server), tftpRoot: configuration.effectiveTFTPRoot,
            biosLoader: dhcp.biosLoader, uefiLoader: dhcp.uefiFirstLoader, httpBootLoader: dhcp.httpBootLoader,
            routerAdvertisements: dhcp.routerAdvertisements, logFile: dhcp.logFile,
            leaseFile: configuration.state.directory + "/dnsmasq.leases", user: dhcp.user)
        plan.dnsServers = dhcp.dnsServers
        return plan
    }

    /// `menu.public_base_url` when set, else `http://` the server's address and nginx's port
    /// (left out when it is 80).
    static func baseURL(_ configuration: Configuration, server: IPv4Address) -> String {
        if var base = configuration.menu.publicBaseURL {
            while base.hasSuffix("/") { base.removeLast() }
            return base
        }
        let port = listenPort(configuration.nginx.listen)
        return "http://\(server)" + (port == 80 ? "" : ":\(port)")
    }

    /// The port of an nginx `listen` value (`80`, `8080`, `10.0.0.1:8080`, `[::]:8080`, `unix:...`).
    static func listenPort(_ listen: String) -> Int {
        let tail = listen.split(separator: ":").last.map(String.init) ?? listen
        return Int(tail).flatMap { (1...65535).contains($0) ? $0 : nil } ?? 80
    }
}
