import CMalloc
import Foundation
import Logging
import PXEAPI
import PXECatalog
import StrictJSON

/// `pxe-catalog` subcommands. Hand-parsed: five commands and three options do not justify a
/// dependency that every CI run would have to build.
public enum CommandLineTool {
    static let usage = """
    usage: pxe-catalog serve --config FILE
           pxe-catalog scan (--config FILE | DIRECTORY...)
           pxe-catalog check-config --config FILE
           pxe-catalog nginx-config --config FILE [--standalone PREFIX]
           pxe-catalog config-reference
           pxe-catalog demo-catalog DIRECTORY
           pxe-catalog generate-catalog DIRECTORY COUNT [LARGE [LARGE_MIB]]
           pxe-catalog bench-scan DIRECTORY...
           pxe-catalog --version

    Configuration keys may be overridden by PXE_CATALOG_<SECTION>_<KEY> environment variables
    (see docs/configuration.md).
    """

    public static func main(_ arguments: [String]) -> Int32 {
        // One malloc arena for the whole process: with glibc's default of one per thread, the
        // scan's threads leave the catalog spread over arenas that cannot be trimmed (measured
        // 98 MB instead of 69 MB RSS at 100,000 entries). Per-thread caches keep the request
        // path off the arena lock (no change in req/s measured).
        mallopt(M_ARENA_MAX, 1)
        var rest = Array(arguments.dropFirst())
        guard let command = rest.first else { printError(usage); return 2 }
        rest.removeFirst()
        var configPath: String?
        var standalonePrefix: String?
        var positional: [String] = []
        var index = 0
        while index < rest.count {
            let argument = rest[index]
            switch argument {
            case "--config", "-c", "--standalone":
                guard index + 1 < rest.count else { printError("\(argument) needs a value.\n\n\(usage)"); return 2 }
                if argument == "--standalone" { standalonePrefix = rest[index + 1] } else { configPath = rest[index + 1] }
                index += 2
            default:
                if argument.hasPrefix("-") { printError("Unknown option \(argument).\n\n\(usage)"); return 2 }
                positional.append(argument)
                index += 1
            }
        }

        switch command {
        case "serve":
            guard let configuration = loadConfiguration(configPath) else { return 1 }
            let logger = makeLogger(level: configuration.log.level)
            do {
                return try WorkerApplication(configuration: configuration, configPath: configPath, logger: logger).run()
            } catch {
                logger.critical("\(error.description)")
                printError(error.description)
                return 1
            }
        case "scan":
            return scan(configPath: configPath, directories: positional)
        case "check-config":
            guard let configuration = loadConfiguration(configPath) else { return 1 }
            if let tokenFile = configuration.admin.tokenFile {
                do { _ = try AdminTokenFile.load(path: tokenFile) } catch { printError(error.description); return 1 }
            }
            print("Configuration \(configPath ?? "(defaults)") is valid: \(configuration.catalog.roots.count) catalog root(s), socket \(configuration.worker.socket).")
            return 0
        case "nginx-config":
            guard let configuration = loadConfiguration(configPath, checkDirectories: false) else { return 1 }
            let name = configPath.map { ($0 as NSString).lastPathComponent } ?? "the default configuration"
            let site = NginxConfigGenerator.site(for: configuration, sourceName: name)
            print(standalonePrefix.map { NginxConfigGenerator.standalone(site: site, prefix: $0) } ?? site, terminator: "")
            return 0
        case "config-reference":
            print(ConfigurationKey.markdownReference, terminator: "")
            return 0
        case "generate-catalog":
            // generate-catalog DIRECTORY COUNT [LARGE [LARGE_MIB]]: synthetic catalogs for benchmarks.
            guard (2...4).contains(positional.count), let count = Int(positional[1]) else { printError(usage); return 2 }
            let large = positional.count > 2 ? Int(positional[2]) ?? 0 : 0
            let largeMiB = positional.count > 3 ? Int64(positional[3]) ?? 300 : 300
            do {
                try SyntheticCatalog.write(to: positional[0], count: count, large: large, largeBytes: largeMiB << 20)
                return 0
            } catch {
                printError("Cannot write the catalog to \(positional[0]): \(error.localizedDescription)")
                return 1
            }
        case "bench-scan":
            return benchScan(directories: positional)
        case "demo-catalog":
            guard positional.count == 1 else { printError(usage); return 2 }
            do {
                try DemoCatalog.write(to: positional[0])
                return 0
            } catch {
                printError("Cannot write the demo catalog to \(positional[0]): \(error.localizedDescription)")
                return 1
            }
        case "--version", "version":
            print("pxe-catalog \(WorkerApplication.version)")
            return 0
        case "--help", "-h", "help":
            print(usage)
            return 0
        default:
            printError("Unknown command \(command).\n\n\(usage)")
            return 2
        }
    }

    static func loadConfiguration(_ path: String?, checkDirectories: Bool = true) -> Configuration? {
        do {
            return try ConfigurationLoader.load(file: path, checkDirectories: checkDirectories)
        } catch {
            printError(error.description)
            return nil
        }
    }

    static func scan(configPath: String?, directories: [String]) -> Int32 {
        var roots = directories
        var pattern = "*.rts.png"
        var settings = PXESettings()
        if roots.isEmpty || configPath != nil {
            guard let configuration = loadConfiguration(configPath) else { return 1 }
            roots = directories.isEmpty ? configuration.catalog.roots : directories
            pattern = configuration.catalog.pattern
            // Show the saved PXE settings too; read-only, nothing is written.
            if let (saved, _) = try? SettingsFile(directory: configuration.state.directory).load(removingStaleFiles: false) { settings = saved }
        }
        let scanner = CatalogScanner(roots: roots, pattern: pattern)
        let store = CatalogStore(scanner: scanner, settings: settings)
        let summary = store.refresh()
        for problem in summary.rootProblems { printError(problem) }
        let state = store.current
        let items = state.snapshot.entries.map { CatalogAPI.containerJSON($0, setting: state.settings[$0.id]) }
        let document = JSONValue.object([("containers", .array(items)), ("count", .int(Int64(items.count)))])
        FileHandle.standardOutput.write(Data(document.serialized(pretty: true)))
        return summary.rootProblems.isEmpty ? 0 : 1
    }

    /// The process-wide log level; SIGHUP applies `log.level` from the re-read configuration.
    static let logLevel = LogLevelControl(.info)

    /// Times a cold scan and a no-change refresh in one process; prints JSON (used by bench/).
    static func benchScan(directories: [String]) -> Int32 {
        guard !directories.isEmpty else { printError(usage); return 2 }
        let store = CatalogStore(scanner: CatalogScanner(roots: directories))
        let cold = store.refresh()
        let rssAfterCold = residentSetBytes()
        let refresh = store.refresh()
        let document = JSONValue.object([
            ("entries", .int(Int64(cold.count))),
            ("invalid", .int(Int64(cold.invalid))),
            ("cold_scan_seconds", .double(seconds(cold.duration))),
            ("no_change_refresh_seconds", .double(seconds(refresh.duration))),
            ("refresh_files_read", .int(Int64(refresh.parsed))),
            ("rss_bytes", .int(Int64(rssAfterCold))),
        ])
        print(document.serializedString())
        return 0
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// VmRSS from /proc/self/status, in bytes.
    static func residentSetBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    static func makeLogger(level: String) -> Logger {
        logLevel.level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { _ in WorkerLogHandler(control: logLevel) }
        return Logger(label: "pxe-catalog")
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
