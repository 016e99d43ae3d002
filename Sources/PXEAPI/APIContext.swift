import BootScripts
import PXECatalog
import StrictJSON

/// What the handlers need to know about the deployment, derived from the configuration.
package struct APIContext: Sendable {
    package var serverName: String
    package var version: String
    /// Catalog roots as configured (absolute, normalised); index = root index of entries.
    package var catalogRoots: [String]
    package var filesRoot: String
    package var locations: InternalLocations
    /// Decides which file names are containers (pattern and sidecar rules).
    package var scanner: CatalogScanner
    /// Non-sensitive configuration summary shown by `GET /` (never paths).
    package var publicConfig: [(String, JSONValue)]
    package var menu: MenuOptions
    /// Appended to every Linux entry's kernel command line (`boot.cmdline_append`).
    package var commandLineAppend: String
    /// Answer files: the templates, which one an entry gets, how long their URLs work.
    package var answers = AnswerSettings()

    package init(serverName: String = "pxe-catalog", version: String, catalogRoots: [String], filesRoot: String,
                internalPrefix: String, scanner: CatalogScanner, publicConfig: [(String, JSONValue)] = [],
                menu: MenuOptions = MenuOptions(), commandLineAppend: String = "") {
        self.serverName = serverName
        self.version = version
        self.catalogRoots = catalogRoots
        self.filesRoot = filesRoot
        self.locations = InternalLocations(prefix: internalPrefix, catalogRoots: catalogRoots, filesRoot: filesRoot)
        self.scanner = scanner
        self.publicConfig = publicConfig
        self.menu = menu
        self.commandLineAppend = commandLineAppend
    }
}

extension APIContext {
    /// The same context with `answers` set.
    package func with(answers: AnswerSettings) -> APIContext {
        var copy = self
        copy.answers = answers
        return copy
    }
}
