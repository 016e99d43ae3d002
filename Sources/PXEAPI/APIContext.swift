import BootScripts
import PXECatalog
import StrictJSON

/// What the handlers need to know about the deployment, derived from the configuration.
public struct APIContext: Sendable {
    public var serverName: String
    public var version: String
    /// Catalog roots as configured (absolute, normalised); index = root index of entries.
    public var catalogRoots: [String]
    public var filesRoot: String
    public var locations: InternalLocations
    /// Decides which file names are containers (pattern and sidecar rules).
    public var scanner: CatalogScanner
    /// Non-sensitive configuration summary shown by `GET /` (never paths).
    public var publicConfig: [(String, JSONValue)]
    public var menu: MenuOptions
    /// Appended to every Linux entry's kernel command line (`boot.cmdline_append`).
    public var commandLineAppend: String

    public init(serverName: String = "pxe-catalog", version: String, catalogRoots: [String], filesRoot: String,
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
