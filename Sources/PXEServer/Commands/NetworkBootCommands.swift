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
        guard let plan = try Self.plan(configuration) else {
            PXECatalogCommand.printError("dhcp.mode is off: there is no dnsmasq configuration to make (set dhcp.mode to \"proxy\" or \"server\").")
            throw ExitCode.failure
        }
        let text = DnsmasqConfigGenerator.config(plan, sourceName: Self.sourceName(options.config))
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

extension DnsmasqConfig {
    static func sourceName(_ path: String?) -> String {
        path.map { ($0 as NSString).lastPathComponent } ?? "the default configuration"
    }

    /// The plan for `configuration`, nil when dhcp.mode is off; a refusal is printed.
    static func plan(_ configuration: Configuration) throws -> NetworkBootPlan? {
        do {
            return try NetworkBootPlan.resolve(configuration)
        } catch {
            PXECatalogCommand.printError(error.description)
            throw ExitCode.failure
        }
    }
}

/// `pxe-catalog dnsmasq-reload`: the unit's ExecReload. dnsmasq reads its configuration only when
/// it starts, so a reload makes the new one beside the running one, has dnsmasq test it, and
/// asks systemd for a restart only when it differs; a configuration that does not check out
/// fails the reload and the running dnsmasq keeps its own.
struct DnsmasqReload: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnsmasq-reload",
        abstract: "Regenerate dnsmasq's configuration and restart the dnsmasq unit only when it changed (its ExecReload).",
        discussion: """
        Writes the new configuration to FILE.next, runs `dnsmasq --test` on it, and compares it with         FILE (the one dnsmasq runs with). Unchanged: nothing happens. Changed: `systemctl --no-block         restart UNIT` (the unit makes FILE again as it starts). dhcp.mode off: `systemctl --no-block         stop UNIT`. A configuration that cannot be made or does not pass dnsmasq's test: exit 1 with         the sentence, and nothing is restarted.
        """)

    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("The configuration file dnsmasq runs with.", valueName: "file"))
    var output = "/run/pxe-catalog-dnsmasq/dnsmasq.conf"
    @Option(help: ArgumentHelp("The systemd unit that runs dnsmasq.", valueName: "unit"))
    var unit = "pxe-catalog-dnsmasq.service"
    @Option(help: ArgumentHelp("dnsmasq's executable, which tests the new configuration.", valueName: "path"))
    var dnsmasq = "/usr/sbin/dnsmasq"

    func run() throws {
        let configuration = try PXECatalogCommand.loadConfiguration(options.config, checkDirectories: false)
        guard let plan = try DnsmasqConfig.plan(configuration) else {
            print("dhcp.mode is off: stopping \(unit).")
            try Self.systemctl(["stop", unit])
            return
        }
        let text = DnsmasqConfigGenerator.config(plan, sourceName: DnsmasqConfig.sourceName(options.config))
        let candidate = output + ".next"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: candidate), options: .atomic)
        } catch {
            PXECatalogCommand.printError("Cannot write \(candidate): \(error.localizedDescription)")
            throw ExitCode.failure
        }
        defer { try? FileManager.default.removeItem(atPath: candidate) }
        let test = try Self.run(dnsmasq, ["--test", "--conf-file=\(candidate)"])
        guard test.status == 0 else {
            PXECatalogCommand.printError("dnsmasq refuses the new configuration, so \(unit) keeps running with its own: \(test.output)")
            throw ExitCode.failure
        }
        if (try? String(contentsOfFile: output, encoding: .utf8)) == text {
            print("dnsmasq's configuration is unchanged: \(unit) keeps running.")
            return
        }
        print("dnsmasq's configuration changed: restarting \(unit).")
        try Self.systemctl(["restart", unit])
    }

    /// Queued, not waited for: this runs inside the unit's own reload job.
    static func systemctl(_ arguments: [String]) throws {
        let result = try run("/usr/bin/systemctl", ["--no-block"] + arguments)
        guard result.status == 0 else {
            PXECatalogCommand.printError("systemctl \(arguments.joined(separator: " ")) failed: \(result.output)")
            throw ExitCode.failure
        }
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            PXECatalogCommand.printError("Cannot run \(executable): \(error.localizedDescription)")
            throw ExitCode.failure
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data.prefix(4096), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return (process.terminationStatus, output)
    }
}

/// `pxe-catalog tftp-root`: the TFTP root with the boot loaders linked into it.
struct TFTPRootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tftp-root",
        abstract: "Create dhcp.tftp_root and link the boot loaders into it (iPXE from dhcp.loader_directory; shim and GRUB with dhcp.uefi_boot shim-grub).",
        discussion: "Idempotent: links already in place are left alone. Says what it did, one line each.")

    @OptionGroup var options: ConfigOption

    func run() throws {
        let configuration = try PXECatalogCommand.loadConfiguration(options.config, checkDirectories: false)
        let dhcp = configuration.dhcp
        for (name, target) in dhcp.tftpLinks where access(target, R_OK) != 0 {
            let package = name == Configuration.DHCP.shimName ? "shim-signed" : name == Configuration.DHCP.grubName ? "grub-efi-amd64-signed" : "ipxe"
            PXECatalogCommand.printError("\(name): \(target) does not exist; install Debian's \(package) package.")
            throw ExitCode.failure
        }
        do {
            let changes = try TFTPRoot.prepare(root: configuration.effectiveTFTPRoot, links: dhcp.tftpLinks)
            for change in changes { print("\(configuration.effectiveTFTPRoot): \(change)") }
        } catch {
            PXECatalogCommand.printError(error.description)
            throw ExitCode.failure
        }
    }
}
