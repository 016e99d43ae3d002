import ArgumentParser
import Foundation
import PXECatalog
import PXESettings

/// `pxe-catalog plan`: what applying the menu file would change, like `terraform plan
/// -detailed-exitcode`: 0 nothing to change, 2 changes to make, 1 error.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what applying the menu file would change; write nothing.",
        discussion: """
        Scans the catalog and reads the saved settings (read-only), then compares them with the menu file \
        (menu.file, or --menu). Exit status: 0 nothing would change; 2 something would; 1 error.
        """)

    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("A menu file to plan instead of the configured one (e.g. before installing it); - reads standard input.", valueName: "file"))
    var menu: String?

    func validate() throws {
        if options.config == nil && menu == nil { throw ValidationError("Give --config FILE (with menu.file set) or --menu FILE.") }
    }

    func run() throws {
        let (configuration, menuFile) = try MenuFileCommand.load(options.config, menu: menu)
        let settings: PXESettings
        do {
            let store = try SavedSettings.openReadOnly(configuration)
            defer { store.close() }
            settings = try store.load().settings
        } catch {
            if SavedSettings.notCreatedYet(configuration) {
                settings = PXESettings()   // no worker has run yet: every entry would get its defaults
            } else {
                PXECatalogCommand.printError("The saved settings cannot be read: \(error.description)")
                throw ExitCode.failure
            }
        }
        let result = configuration.scanner.scan()
        for problem in result.rootProblems { PXECatalogCommand.printError(problem) }
        // New entries get their defaults first, as the worker gives them.
        var current = settings
        _ = current.adopt(result.entries.map(\.id))
        let plan = menuFile.menu.apply(to: current, entries: result.entries, setsOverridable: { _ in true }).plan
        print(plan.text(fileName: menuFile.menu.fileName), terminator: "")
        if !result.rootProblems.isEmpty { throw ExitCode.failure }
        if plan.changesSettings { throw ExitCode(2) }
    }
}

/// `pxe-catalog apply`: the menu file written to the settings store now; running workers (every
/// node of a fleet) take it from the store within a second, without a restart.
struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the menu file to the saved settings now; running workers pick it up without a restart.",
        discussion: "Run it as the worker's user. Prints what changed. Exit status: 0 applied (or nothing to do); 1 error.")

    @OptionGroup var options: ConfigOption

    func validate() throws {
        if options.config == nil { throw ValidationError("Give --config FILE with menu.file set.") }
    }

    func run() throws {
        let (configuration, menuFile) = try MenuFileCommand.load(options.config, menu: nil)
        let store: any SettingsStore
        let saved: (settings: PXESettings, revision: Int64)
        do {
            try SavedSettings.prepareStateDirectory(configuration)
            store = try SavedSettings.open(configuration, logger: .init(label: "pxe-catalog"))
            saved = try store.load()
        } catch {
            PXECatalogCommand.printError("The settings store cannot be used: \(error)")
            throw ExitCode.failure
        }
        defer { store.close() }
        guard store.health.available else {
            PXECatalogCommand.printError("The \(store.backendName) settings store is unreachable; nothing was applied.")
            throw ExitCode.failure
        }
        let catalog = CatalogStore(scanner: configuration.scanner, settingsStore: store, settings: saved.settings, revision: saved.revision,
                                   forgetMissingAfter: configuration.forgetMissingAfterSeconds)
        let summary = catalog.refresh()
        for problem in summary.rootProblems { PXECatalogCommand.printError(problem) }
        guard summary.rootProblems.isEmpty else {
            PXECatalogCommand.printError("Nothing was applied: a catalog root could not be read, and the menu file is applied to the whole catalog.")
            throw ExitCode.failure
        }
        do {
            let plan = try catalog.applyDesiredMenu(menuFile.menu, actor: "pxe-catalog apply")
            print(plan.text(fileName: menuFile.menu.fileName).replacingOccurrences(of: "Plan: ", with: "Applied: "), terminator: "")
        } catch {
            PXECatalogCommand.printError(String(describing: error))
            throw ExitCode.failure
        }
    }
}

enum MenuFileCommand {
    /// The configuration and the menu file to use (`--menu` over `menu.file`).
    static func load(_ configPath: String?, menu: String?) throws -> (Configuration, MenuFile) {
        var configuration = try PXECatalogCommand.loadConfiguration(configPath)
        if let menu {
            do {
                if menu == "-" {
                    // Named as the file it is meant to become (the role plans what it would install).
                    let name = configuration.menu.file.map { ($0 as NSString).lastPathComponent } ?? "standard input"
                    configuration.menuFile = try MenuFile.load(data: FileHandle.standardInput.readDataToEndOfFile(), fileName: name, source: .file("standard input"))
                } else {
                    configuration.menuFile = try MenuFile.load(path: menu)
                }
            } catch {
                PXECatalogCommand.printError(error.description)
                throw ExitCode.failure
            }
        }
        guard let menuFile = configuration.menuFile else {
            PXECatalogCommand.printError("No menu file: the configuration does not set menu.file (or give --menu FILE).")
            throw ExitCode.failure
        }
        return (configuration, menuFile)
    }
}
