import ArgumentParser
import Foundation
import Logging
import PXEAPI
import PXEHosts
import PXECatalog
import PXESettings
import PixelRTS
import StrictJSON

/// `pxe-catalog`: the worker and its tools, one subcommand each. Exit status: 0 on success, 1
/// when the command could not do its work (the message says why), 64 for a usage error (an
/// unknown command or option, a missing or extra argument).
package struct PXECatalogCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "pxe-catalog",
        abstract: "A catalog-driven network-boot server: a FastCGI worker behind nginx.",
        discussion: """
        Configuration keys may be overridden by PXE_CATALOG_<SECTION>_<KEY> environment variables \
        (see docs/configuration.md).

        Exit status: 0 success; 1 the command failed (the message says why); 64 usage error.
        """,
        version: WorkerApplication.version,
        subcommands: [Serve.self, Scan.self, CheckConfig.self, Plan.self, Apply.self, NginxConfig.self, DnsmasqConfig.self, DnsmasqReload.self, TFTPRootCommand.self, ConfigReference.self,
                      Database.self, Pack.self, Unpack.self, Inspect.self, TryBoot.self, DemoCatalogCommand.self, GenerateCatalog.self, BenchScan.self, BenchDecode.self, BenchHash.self, Forward.self, AnalyzeOCR.self])

    package init() {}

    /// The process-wide log level; SIGHUP applies `log.level` from the re-read configuration.
    static let logLevel = LogLevelControl(.info)

    static func makeLogger(level: String) -> Logger {
        logLevel.level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { _ in WorkerLogHandler(control: logLevel) }
        return Logger(label: "pxe-catalog")
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// The configuration, or exit 1 with the loader's sentence (it names the key).
    static func loadConfiguration(_ path: String?, checkDirectories: Bool = true) throws -> Configuration {
        do {
            return try ConfigurationLoader.load(file: path, checkDirectories: checkDirectories)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
    }
}

/// `--config FILE`, shared by the commands that read a configuration.
struct ConfigOption: ParsableArguments {
    @Option(name: [.customShort("c"), .long], help: ArgumentHelp("The JSON configuration file (defaults and PXE_CATALOG_* variables apply without one).", valueName: "file"))
    var config: String?
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the worker: the socket from the configuration, systemd's fd 3, or spawn-fcgi's fd 0.")

    @OptionGroup var options: ConfigOption

    func run() throws {
        let configuration = try PXECatalogCommand.loadConfiguration(options.config)
        let logger = PXECatalogCommand.makeLogger(level: configuration.log.level)
        let status: Int32
        do {
            status = try WorkerApplication(configuration: configuration, configPath: options.config, logger: logger).run()
        } catch {
            // One line on stderr (the log is stderr): the journal under systemd, the terminal otherwise.
            logger.critical("\(error.description)")
            throw ExitCode.failure
        }
        if status != 0 { throw ExitCode(status) }
    }
}

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the catalog as JSON; start nothing and write nothing.",
        discussion: "With --config the configured roots (or the directories given) and the saved PXE settings are shown.")

    @OptionGroup var options: ConfigOption
    @Argument(help: ArgumentHelp("Directories to scan instead of the configured roots.", valueName: "directory"))
    var directories: [String] = []

    func validate() throws {
        if directories.isEmpty && options.config == nil { throw ValidationError("Give directories to scan, or --config FILE.") }
    }

    func run() throws {
        var roots = directories
        var pattern = "*.rts.png"
        var settings = PXESettings()
        if options.config != nil {
            let configuration = try PXECatalogCommand.loadConfiguration(options.config)
            roots = directories.isEmpty ? configuration.catalog.roots : directories
            pattern = configuration.catalog.pattern
            // Show the saved PXE settings too; read-only, nothing is written.
            do {
                settings = try SavedSettings.openReadOnly(configuration).load().settings
            } catch {
                PXECatalogCommand.printError("The saved settings are not shown: \(error.description)")
            }
        }
        let store = CatalogStore(scanner: CatalogScanner(roots: roots, pattern: pattern), settings: settings)
        let summary = store.refresh()
        for problem in summary.rootProblems { PXECatalogCommand.printError(problem) }
        let state = store.current
        let items = state.snapshot.entries.map { CatalogJSON.container($0, setting: state.settings[$0.id], boot: state.bootStatus($0.id)) }
        let document = JSONValue.object([("containers", .array(items)), ("count", .int(Int64(items.count)))])
        FileHandle.standardOutput.write(Data(document.serialized(pretty: true)))
        if !summary.rootProblems.isEmpty { throw ExitCode.failure }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration; exit 0 when it is valid, 1 with a message naming the key otherwise.",
        discussion: "With --connect the settings store is opened as the worker would (for PostgreSQL: connected to, nothing written).")

    @OptionGroup var options: ConfigOption
    @Flag(help: "Also open the settings store: connect to PostgreSQL, or read the SQLite file if it exists.")
    var connect = false
    @Option(help: ArgumentHelp("Check this menu file (instead of menu.file; alone without --config).", valueName: "file"))
    var menu: String?

    func run() throws {
        if let menu, options.config == nil {
            // The menu file alone (config management validates it before installing it).
            do {
                let file = try MenuFile.load(path: menu)
                if let conflict = HostRules(rules: file.rules).conflicts().first {
                    throw ConfigurationError(source: .file(menu), key: "hosts.rules", reason: "is ambiguous: \(conflict)")
                }
                print("Menu file \(menu) is valid: \(file.menu.items.count) item(s), \(file.rules.count) host rule(s).")
                return
            } catch let error as ConfigurationError {
                PXECatalogCommand.printError(error.description)
                throw ExitCode.failure
            }
        }
        var configuration = try PXECatalogCommand.loadConfiguration(options.config)
        if let menu {
            do {
                configuration.menuFile = try MenuFile.load(path: menu)
                if let conflict = configuration.hostRules.conflicts().first {
                    throw ConfigurationError(source: .file(menu), key: "hosts.rules", reason: "is ambiguous with the configuration's rules: \(conflict)")
                }
            } catch let error as ConfigurationError {
                PXECatalogCommand.printError(error.description)
                throw ExitCode.failure
            }
        }
        if let tokenFile = configuration.admin.tokenFile {
            do { _ = try AdminTokenFile.load(path: tokenFile) } catch {
                PXECatalogCommand.printError(error.description)
                throw ExitCode.failure
            }
        }
        // Network boot: what dhcp.* names must be on this machine (interface, subnet, loaders).
        var networkBoot = ""
        do {
            if let plan = try NetworkBootPlan.resolve(configuration) {
                networkBoot = " Network boot: dnsmasq in \(plan.mode.rawValue) mode on \(plan.interface) (\(plan.subnet.network)/\(plan.subnet.prefixLength)), machines reach \(plan.baseURL)."
            }
        } catch {
            PXECatalogCommand.printError(error.description)
            throw ExitCode.failure
        }
        var store = ""
        if connect {
            do {
                let opened = try SavedSettings.openReadOnly(configuration)
                defer { opened.close() }
                let (settings, revision) = try opened.load()
                store = " Settings store \(opened.backendName): \(settings.byID.count) entries, revision \(revision)."
            } catch {
                if SavedSettings.notCreatedYet(configuration) {
                    store = " Settings store sqlite: not created yet (the worker creates it at start)."
                } else {
                    PXECatalogCommand.printError("The settings store cannot be used: \(error.description)")
                    throw ExitCode.failure
                }
            }
        }
        print("Configuration \(options.config ?? "(defaults)") is valid: \(configuration.catalog.roots.count) catalog root(s), socket \(configuration.worker.socket), settings in \(configuration.state.backend.rawValue).\(networkBoot)\(store)")
    }
}

/// `pxe-catalog db migrate`: the settings database's schema, created or upgraded now.
struct Database: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Manage the settings database.", subcommands: [Migrate.self])

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or upgrade the settings database's schema (the worker also does it at start).",
            discussion: "Exit status 1 when the database cannot be reached or has a schema newer than this pxe-catalog's.")

        @OptionGroup var options: ConfigOption

        func run() throws {
            let configuration = try PXECatalogCommand.loadConfiguration(options.config, checkDirectories: false)
            do {
                let backendName = try SavedSettings.migrate(configuration)
                print("The \(backendName) settings database is at schema version \(settingsSchemaVersion).")
            } catch {
                PXECatalogCommand.printError(String(describing: error))
                throw ExitCode.failure
            }
        }
    }
}

struct NginxConfig: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the nginx site that matches the configuration.")

    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("Wrap the site in a complete nginx.conf for an unprivileged nginx under this prefix (tests, make run).", valueName: "prefix"))
    var standalone: String?
    @Option(help: ArgumentHelp("Print an edge node's caching site instead, in front of this central boot server (docs/fleet.md).", valueName: "http://host:port"))
    var edge: String?
    @Option(help: ArgumentHelp("With --edge: where the edge keeps its cache.", valueName: "directory"))
    var edgeCache: String = "/var/cache/pxe-catalog-edge"
    @Option(help: ArgumentHelp("With --edge: the address the edge listens on (default: nginx.listen).", valueName: "address"))
    var listen: String?

    func validate() throws {
        if edge == nil && (listen != nil || edgeCache != "/var/cache/pxe-catalog-edge") {
            throw ValidationError("--listen and --edge-cache belong to --edge.")
        }
        if let edge {
            guard edge.hasPrefix("http://") || edge.hasPrefix("https://"), edge.count > 8,
                  !edge.contains(where: { $0 == ";" || $0 == "\"" || $0 == "$" || $0 == "{" || $0 == "}" || $0.isWhitespace }) else {
                throw ValidationError("--edge must be the central server's URL, such as http://boot-centre.example:80, not '\(edge)'.")
            }
        }
        for (name, value) in [("--edge-cache", edgeCache), ("--listen", listen ?? "")] where value.contains(where: { $0 == ";" || $0 == "\"" || $0 == "$" }) {
            throw ValidationError("\(name) must not contain ';', '\"' or '$'.")
        }
    }

    func run() throws {
        let configuration = try PXECatalogCommand.loadConfiguration(options.config, checkDirectories: false)
        let name = options.config.map { ($0 as NSString).lastPathComponent } ?? "the default configuration"
        let site = edge.map { NginxConfigGenerator.edgeSite(centre: $0, cacheDirectory: edgeCache, listen: listen ?? configuration.nginx.listen,
                                                            serverName: configuration.nginx.serverName) }
            ?? NginxConfigGenerator.site(for: configuration, sourceName: name)
        print(standalone.map { NginxConfigGenerator.standalone(site: site, prefix: $0) } ?? site, terminator: "")
    }
}

struct ConfigReference: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print every configuration key as a Markdown table.")

    func run() throws {
        print(ConfigurationKey.markdownReference, terminator: "")
    }
}

struct DemoCatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-catalog", abstract: "Write a few demo containers into a directory.",
        discussion: "Prints the entry id and the path of each container that boots, one per line (`make run` makes the Linux one the menu's default).")

    @Argument(help: ArgumentHelp("Where to write them (created if missing).", valueName: "directory"))
    var directory: String
    @Option(help: ArgumentHelp("A directory with vmlinuz and initrd.img for the Linux demo (deploy/dev/boot-parts.sh makes them).", valueName: "directory"))
    var bootParts: String?

    func run() throws {
        do {
            for missing in try DemoCatalog.write(to: directory, bootParts: bootParts) {
                PXECatalogCommand.printError("demo-catalog: left out \(missing)")
            }
        } catch {
            PXECatalogCommand.printError("Cannot write the demo catalog to \(directory): \(error.localizedDescription)")
            throw ExitCode.failure
        }
        for file in [DemoCatalog.linuxFile, DemoCatalog.diskFile] {
            guard let real = realpath(directory + "/" + file, nil) else { continue }
            defer { free(real) }
            print("\(CatalogEntry.id(forRealPath: String(cString: real)))\t\(String(cString: real))")
        }
    }
}

struct GenerateCatalog: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate-catalog", abstract: "Write a synthetic catalog for benchmarks and scale tests.")

    @Argument(help: ArgumentHelp("Where to write it.", valueName: "directory")) var directory: String
    @Argument(help: "How many small containers (in folders of 1,000).") var count: Int
    @Argument(help: "How many large, sparse containers besides.") var large: Int = 0
    @Argument(help: "Size of each large container in MiB.") var largeMiB: Int64 = 300

    func run() throws {
        do {
            try SyntheticCatalog.write(to: directory, count: count, large: large, largeBytes: largeMiB << 20)
        } catch {
            PXECatalogCommand.printError("Cannot write the catalog to \(directory): \(error.localizedDescription)")
            throw ExitCode.failure
        }
    }
}

struct BenchScan: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-scan", abstract: "Time a cold scan and a no-change refresh in one process; print JSON (used by bench/).")

    @Argument(help: ArgumentHelp("Directories to scan.", valueName: "directory")) var directories: [String]

    func validate() throws {
        if directories.isEmpty { throw ValidationError("Give at least one directory to scan.") }
    }

    func run() throws {
        let store = CatalogStore(scanner: CatalogScanner(roots: directories))
        let cold = store.refresh()
        let rssAfterCold = ProcessTuning.residentSetBytes()
        let refresh = store.refresh()
        let document = JSONValue.object([
            ("entries", .int(Int64(cold.count))),
            ("invalid", .int(Int64(cold.invalid))),
            ("cold_scan_seconds", .double(ProcessTuning.seconds(cold.duration))),
            ("no_change_refresh_seconds", .double(ProcessTuning.seconds(refresh.duration))),
            ("refresh_files_read", .int(Int64(refresh.parsed))),
            ("rss_bytes", .int(Int64(rssAfterCold))),
        ])
        print(document.serializedString())
    }
}
