import ArgumentParser
import Foundation

/// `pxe-catalog dnsmasq-config`: dnsmasq's configuration for network boot (DHCP or proxyDHCP,
/// and TFTP), made from the configuration file like `nginx-config` makes nginx's site.
struct DnsmasqConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnsmasq-config",
        abstract: "Print the dnsmasq configuration (DHCP and TFTP for network boot) that matches the configuration.",
        discussion: """
        Checks what the configuration names on this machine first: the interface exists, the \
        range lies in its subnet, the loaders are installed; each refusal is a sentence naming \
        the key, and nothing is written. The same configuration gives the same bytes.

        Exit status: 0 written; 1 it cannot be made (or dhcp.mode is off); with --enabled, 0 when \
        dhcp.mode is not off and 1 when it is (for systemd's ExecCondition).
        """)

    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("Write it to this file (atomically, only when it changed) instead of printing it.", valueName: "file"))
    var output: String?
    @Flag(help: "Only say whether dhcp.mode asks for dnsmasq (exit 0) or is off (exit 1); print nothing.")
    var enabled = false

    func run() throws {
        let configuration = try PXECatalogCommand.loadConfiguration(options.config, checkDirectories: false)
        if enabled { throw configuration.dhcp.mode == .off ? ExitCode.failure : ExitCode.success }
        let plan: NetworkBootPlan
        do {
            guard let resolved = try NetworkBootPlan.resolve(configuration) else {
                PXECatalogCommand.printError("dhcp.mode is off: there is no dnsmasq configuration to make (set dhcp.mode to \"proxy\" or \"server\").")
                throw ExitCode.failure
            }
            plan = resolved
        } catch let problem as NetworkBootPlan.Problem {
            PXECatalogCommand.printError(problem.description)
            throw ExitCode.failure
        }
        let name = options.config.map { ($0 as NSString).lastPathComponent } ?? "the default configuration"
        let text = DnsmasqConfigGenerator.config(plan, sourceName: name)
        guard let output else {
            print(text, terminator: "")
            return
        }
        if (try? String(contentsOfFile: output, encoding: .utf8)) == text { return }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            PXECatalogCommand.printError("Cannot write \(output): \(error.localizedDescription)")
            throw ExitCode.failure
        }
    }
}

/// `pxe-catalog tftp-root`: the TFTP root with the boot loaders linked into it.
struct TFTPRootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tftp-root",
        abstract: "Create dhcp.tftp_root and link the boot loaders from dhcp.loader_directory into it.",
        discussion: "Idempotent: links already in place are left alone. Says what it did, one line each.")

    @OptionGroup var options: ConfigOption

    func run() throws {
        let configuration = try PXECatalogCommand.loadConfiguration(options.config, checkDirectories: false)
        let dhcp = configuration.dhcp
        for name in [dhcp.biosLoader, dhcp.uefiLoader, dhcp.httpBootLoader] where access(dhcp.loaderDirectory + "/" + name, R_OK) != 0 {
            PXECatalogCommand.printError("\(name) is not in \(dhcp.loaderDirectory) (dhcp.loader_directory); install Debian's ipxe package.")
            throw ExitCode.failure
        }
        do {
            let changes = try TFTPRoot.prepare(root: configuration.effectiveTFTPRoot, source: dhcp.loaderDirectory,
                                               loaders: [dhcp.biosLoader, dhcp.uefiLoader, dhcp.httpBootLoader])
            for change in changes { print("\(configuration.effectiveTFTPRoot): \(change)") }
        } catch {
            PXECatalogCommand.printError(error.description)
            throw ExitCode.failure
        }
    }
}
