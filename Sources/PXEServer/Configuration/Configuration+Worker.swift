import Foundation
import Logging
import PXEAPI
import PXECatalog
import PXEHosts

/// What the worker's parts are built from, derived from the configuration in one place (at
/// start and again on SIGHUP).
extension Configuration {
    var scanner: CatalogScanner {
        CatalogScanner(roots: catalog.roots, pattern: catalog.pattern)
    }

    func apiContext(scanner: CatalogScanner, version: String) -> APIContext {
        APIContext(
            version: version, catalogRoots: catalog.roots, filesRoot: effectiveFilesRoot,
            internalPrefix: nginx.internalPrefix, scanner: scanner,
            publicConfig: [
                ("catalog_roots", .int(Int64(catalog.roots.count))),
                ("file_pattern", .string(catalog.pattern)),
                ("threads", .int(Int64(effectiveThreadCount))),
                ("max_body_bytes", .int(Int64(worker.maximumBodyBytes))),
                ("admin_authentication", .bool(admin.tokenFile != nil)),
                ("menu_timeout", .int(Int64(menu.timeoutSeconds))),
                ("menu_default", .string(menu.defaultChoice)),
                ("watch", .bool(catalog.watch)),
                // nginx sends every download itself (X-Accel-Redirect), and it answers Range for
                // each one: the previous server's clients read this to decide whether to resume.
                ("range_requests", .bool(true)),
            ],
            menu: menuOptions, commandLineAppend: boot.commandLineAppend)
            .with(answers: answerSettings)
    }

    var answerSettings: AnswerSettings {
        let menu = menuFile?.menu
        // GRUB's menus are files: the base URL its machines reach nginx at is the network boot's.
        let plan = provision.templates.templates.isEmpty ? nil : (try? NetworkBootPlan.resolve(self)) ?? nil
        return AnswerSettings(templates: provision.templates,
                              tokenPolicy: AnswerTokenBook.Policy(lifetimeSeconds: Double(provision.tokenMinutes * 60), fetchesPerFile: provision.tokenFetches),
                              entryTemplate: { entry in menu?.answerTemplate(for: entry) }, tftpMachinesBaseURL: plan?.baseURL)
    }

    func bootPreparerSettings(logger: Logger) -> BootPreparer.Settings {
        var settings = BootPreparer.Settings(directory: effectiveCacheDirectory, budgetBytes: boot.cacheMaximumBytes)
        settings.decoderLimits.maximumPayloadBytes = boot.maximumPayloadBytes
        settings.storageRetry = .seconds(boot.retryAfterSeconds)
        settings.log = { logger.log(level: $0 ? .warning : .info, "\($1)") }
        if let command = effectiveAnalyzer {
            settings.analyzer = ContainerAnalyzer(command: command, timeout: .seconds(catalog.analyzerTimeoutSeconds))
        }
        return settings
    }

    /// The analyzer command: the configured one, else the built-in OCR analyzer (this binary's
    /// `analyze-ocr`) when tesseract is installed; nil: none.
    var effectiveAnalyzer: [String]? {
        if let command = catalog.analyzer { return command.isEmpty ? nil : command }
        guard OCRAnalyzer.tesseractPath() != nil, let binary = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return [binary, "analyze-ocr"]
    }

    /// The start-up log line's fields.
    var summary: Logger.Metadata {
        [
            "roots": .array(catalog.roots.map { .string($0) }),
            "pattern": .string(catalog.pattern),
            "threads": .stringConvertible(effectiveThreadCount),
            "socket": .string(worker.socket),
            "state": .string(state.directory),
            "admin": .string(admin.tokenFile != nil ? "token file" : admin.allowUnauthenticated ? "open" : "disabled"),
            "watch": .stringConvertible(catalog.watch),
            "menu_default": .string(menu.defaultChoice),
            "log_level": .string(log.level),
        ]
    }

    /// Keys that changed between `self` (running) and `new` but only apply at a restart.
    func keysNeedingRestart(_ new: Configuration) -> [String] {
        [
            ("worker.socket", worker.socket != new.worker.socket),
            ("worker.socket_mode", worker.socketMode != new.worker.socketMode),
            ("worker.threads", worker.threads != new.worker.threads),
            ("worker.max_body_bytes", worker.maximumBodyBytes != new.worker.maximumBodyBytes),
            ("state.directory", state.directory != new.state.directory),
        ].filter(\.1).map(\.0)
    }

    /// Whether `new` changes what the generated nginx site serves (it must be regenerated).
    func changesNginxSite(_ new: Configuration) -> Bool {
        catalog.roots != new.catalog.roots || nginx.internalPrefix != new.nginx.internalPrefix || files != new.files
            || (dhcp.mode == .off) != (new.dhcp.mode == .off) || effectiveTFTPRoot != new.effectiveTFTPRoot
    }

    /// `new` with what cannot change while running kept as it is now.
    func applyingWhileRunning(_ new: Configuration) -> Configuration {
        var applied = new
        applied.worker = worker
        applied.state = state
        return applied
    }
}
