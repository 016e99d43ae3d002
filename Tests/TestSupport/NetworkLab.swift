import Foundation

/// A network of the test's own: a network namespace with a bridge on which machines (QEMU on
/// taps) and other hosts (namespaces on veth pairs) meet, as on a real LAN. The server's
/// processes run inside the namespace (`TestServer(namespace:)`), so nothing reaches or leaves
/// the machine's own networks. Removing the namespaces removes every interface in them.
public final class NetworkLab: @unchecked Sendable {
    public let namespace: String
    public static let bridge = "pxelab0"
    /// The server's address on the bridge, and the subnet's.
    public static let serverAddress = "10.77.0.1"
    public static let prefixLength = 24
    /// What server-mode DHCP hands out.
    public static let range = "10.77.0.100-10.77.0.199"
    /// A unique local IPv6 address on the bridge: dnsmasq advertises its /64 (dhcp.router_advertisements).
    public static let ipv6Address = "fd77::1/64"

    private var taps = 0
    private var hosts: [String] = []
    private let lock = NSLock()

    public init() throws {
        namespace = "pxe-lab-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try Self.ip(["netns", "add", namespace])
        do {
            try Self.ip(["-n", namespace, "link", "set", "lo", "up"])
            try Self.ip(["-n", namespace, "link", "add", Self.bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
            try Self.ip(["-n", namespace, "addr", "add", "\(Self.serverAddress)/\(Self.prefixLength)", "dev", Self.bridge])
            try Self.ip(["-n", namespace, "-6", "addr", "add", Self.ipv6Address, "dev", Self.bridge, "nodad"])
            try Self.ip(["-n", namespace, "link", "set", Self.bridge, "up"])
        } catch {
            _ = try? TestServer.run("/usr/sbin/ip", ["netns", "del", namespace])
            throw error
        }
    }

    deinit {
        for host in hosts { _ = try? TestServer.run("/usr/sbin/ip", ["netns", "del", host]) }
        _ = try? TestServer.run("/usr/sbin/ip", ["netns", "del", namespace])
    }

    static func ip(_ arguments: [String]) throws {
        let result = try TestServer.run("/usr/sbin/ip", arguments)
        guard result.status == 0 else { throw TestServerError(message: "ip \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
    }

    /// A new tap on the bridge, for one QEMU machine.
    public func tap() throws -> String {
        let name = lock.withLock { () -> String in
            defer { taps += 1 }
            return "pxetap\(taps)"
        }
        try Self.ip(["-n", namespace, "tuntap", "add", "dev", name, "mode", "tap"])
        try Self.ip(["-n", namespace, "link", "set", name, "master", Self.bridge, "up"])
        return name
    }

    /// Another host on the LAN: a namespace of its own with `address` (CIDR) on a veth pair
    /// whose other end is on the bridge. Returns the namespace's name.
    public func host(address: String) throws -> String {
        let index = lock.withLock { () -> Int in
            hosts.append("")
            return hosts.count - 1
        }
        let name = "\(namespace)-h\(index)"
        lock.withLock { hosts[index] = name }
        try Self.ip(["netns", "add", name])
        try Self.ip(["-n", name, "link", "set", "lo", "up"])
        try Self.ip(["-n", namespace, "link", "add", "pxeh\(index)", "type", "veth", "peer", "name", "lan0", "netns", name])
        try Self.ip(["-n", namespace, "link", "set", "pxeh\(index)", "master", Self.bridge, "up"])
        try Self.ip(["-n", name, "addr", "add", address, "dev", "lan0"])
        try Self.ip(["-n", name, "link", "set", "lan0", "up"])
        return name
    }

    /// `executable arguments` run inside `namespace` (the lab's by default).
    public func command(_ executable: String, _ arguments: [String], in namespace: String? = nil) -> (URL, [String]) {
        (URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "exec", namespace ?? self.namespace, executable] + arguments)
    }

    /// Starts `executable arguments` in `namespace` under `TestServer.supervised` (every signal
    /// unblocked, SIGTERM passed on; safe for programs that close what they inherit), its output
    /// into `log`; the caller stops it by PID.
    public func start(_ executable: String, _ arguments: [String], in namespace: String? = nil, log: String) throws -> Process {
        let process = Process()
        let (ip, inNamespace) = command(executable, arguments, in: namespace)
        (process.executableURL, process.arguments) = TestServer.supervised(ip.path, inNamespace)
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }
}

/// A dnsmasq the test runs in a lab (stopped by PID when released).
public final class LabDnsmasq: @unchecked Sendable {
    public let process: Process
    public let configPath: String

    /// dnsmasq with the configuration `pxe-catalog dnsmasq-config` makes from `server`'s
    /// configuration, inside the lab (where `dhcp.interface` exists), after `pxe-catalog
    /// tftp-root` linked the loaders. Waits until it answers (its log says so).
    public init(lab: NetworkLab, server: TestServer) throws {
        configPath = server.directory.path + "/dnsmasq.conf"
        let (executable, arguments) = lab.command(TestServer.binary, ["dnsmasq-config", "--config", server.configPath, "--output", configPath])
        let generated = try TestServer.run(executable.path, arguments)
        guard generated.status == 0 else { throw TestServerError(message: "dnsmasq-config failed: \(generated.stderr)") }
        let linked = try TestServer.run(TestServer.binary, ["tftp-root", "--config", server.configPath])
        guard linked.status == 0 else { throw TestServerError(message: "tftp-root failed: \(linked.stderr)") }
        let logFile = try Self.setting("log-facility", in: configPath)
        process = try lab.start("/usr/sbin/dnsmasq", ["--keep-in-foreground", "--conf-file=\(configPath)", "--pid-file="],
                                log: server.directory.path + "/dnsmasq.out")
        try Self.waitUntilListening(process, logFile: logFile, output: server.directory.path + "/dnsmasq.out")
    }

    static func setting(_ name: String, in file: String) throws -> String {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + "=") }) else {
            throw TestServerError(message: "\(file) has no \(name)")
        }
        return String(line.dropFirst(name.count + 1))
    }

    /// A plain dnsmasq that only hands out addresses (a site's DHCP server) in `namespace`.
    public init(siteIn namespace: String, lab: NetworkLab, interface: String, range: String, directory: TemporaryDirectory) throws {
        configPath = directory.path + "/site-dnsmasq.conf"
        let parts = range.split(separator: "-")
        try """
        port=0
        interface=\(interface)
        bind-interfaces
        dhcp-range=\(parts[0]),\(parts[1]),255.255.255.0,600
        dhcp-leasefile=\(directory.path)/site.leases
        dhcp-authoritative
        no-ping
        enable-ra
        ra-param=\(interface),0,0
        dhcp-range=::,constructor:\(interface),ra-only
        log-dhcp
        log-facility=\(directory.path)/site-dnsmasq.log

        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        process = try lab.start("/usr/sbin/dnsmasq", ["--keep-in-foreground", "--conf-file=\(configPath)", "--pid-file=", "--user=root", "--group=root"],
                                in: namespace, log: directory.path + "/site-dnsmasq.out")
        try Self.waitUntilListening(process, logFile: directory.path + "/site-dnsmasq.log", output: directory.path + "/site-dnsmasq.out")
    }

    /// Until dnsmasq's log says its DHCP sockets are bound (or it stopped: a bad configuration).
    static func waitUntilListening(_ process: Process, logFile: String, output: String) throws {
        let bound = TestServer.waitFor(seconds: 30) {
            !process.isRunning || ((try? String(contentsOfFile: logFile, encoding: .utf8))?.contains("sockets bound exclusively to interface") ?? false)
        }
        guard bound, process.isRunning else {
            throw TestServerError(message: "dnsmasq did not start: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        }
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            if !TestServer.waitFor(seconds: 10, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
    }
}
