import BootScripts
import Foundation
import PXECatalog
import StrictJSON

/// Reads the configuration. Precedence, lowest first: built-in defaults, the JSON file, then
/// `PXE_CATALOG_*` environment variables (see `ConfigurationKey.environmentName`).
/// Relative paths in the file are resolved against the file's directory.
package enum ConfigurationLoader {
    package static let environmentPrefix = "PXE_CATALOG_"

    package static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            checkDirectories: Bool = true) throws(ConfigurationError) -> Configuration {
        var configuration = Configuration()
        var sources: [String: ConfigurationError.Source] = [:]
        var baseDirectory = FileManager.default.currentDirectoryPath
        if let file {
            let source = ConfigurationError.Source.file(file)
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigurationError(source: source, key: "(file)", reason: "cannot be read: the file does not exist or is not readable")
            }
            let document: JSONValue
            do {
                document = try JSONParser.parse([UInt8](data))
            } catch {
                throw ConfigurationError(source: source, key: "(file)", reason: "is not valid JSON: \(error.description)")
            }
            try apply(document: document, to: &configuration, source: source, sources: &sources)
            baseDirectory = (absolute(file, base: baseDirectory) as NSString).deletingLastPathComponent
        }
        try applyEnvironment(environment, to: &configuration, sources: &sources)
        resolvePaths(&configuration, base: baseDirectory)
        try validate(configuration, checkDirectories: checkDirectories, sources: sources)
        if let path = configuration.menu.file {
            let menuFile = try MenuFile.load(path: path)
            configuration.menuFile = menuFile
            if let conflict = configuration.hostRules.conflicts().first {
                throw ConfigurationError(source: .file(path), key: "hosts.rules", reason: "is ambiguous with the configuration's rules: \(conflict)")
            }
        }
        try loadAnswerTemplates(&configuration, sources: sources)
        return configuration
    }

    /// Reads `provision.templates` and checks that every template a rule or the menu file names
    /// is there; any error names the file (and line) at fault, and the configuration is refused
    /// as a whole (a reload keeps the running one).
    static func loadAnswerTemplates(_ configuration: inout Configuration, sources: [String: ConfigurationError.Source]) throws(ConfigurationError) {
        if let directory = configuration.provision.templatesDirectory {
            do {
                configuration.provision.templates = try AnswerTemplateSet.load(directory: directory)
            } catch {
                let at = error.file.hasPrefix("(") ? directory : directory + "/" + error.file
                throw ConfigurationError(source: .file(at), key: "provision.templates",
                                         reason: error.line.map { "line \($0): \(error.reason)" } ?? error.reason)
            }
        }
        let templates = configuration.provision.templates
        for rule in configuration.hostRules.rules {
            if let name = rule.policy.answers, templates[name] == nil {
                throw ConfigurationError(source: sources["hosts.rules"] ?? .file(configuration.menu.file ?? "(menu file)"), key: "hosts.rules (rule \"\(rule.name)\").answers",
                                         reason: "names template \"\(name)\", which provision.templates does not hold\(templates.names.isEmpty ? "" : " (it holds \(templates.names.joined(separator: ", ")))")")
            }
        }
        for (index, item) in (configuration.menuFile?.menu.items ?? []).enumerated() {
            if let name = item.answers, templates[name] == nil {
                throw ConfigurationError(source: .file(configuration.menu.file ?? "(menu file)"), key: "entries[\(index)].answers",
                                         reason: "names template \"\(name)\", which provision.templates does not hold\(templates.names.isEmpty ? "" : " (it holds \(templates.names.joined(separator: ", ")))")")
            }
        }
    }

    static func apply(document: JSONValue, to configuration: inout Configuration, source: ConfigurationError.Source,
                      sources: inout [String: ConfigurationError.Source]) throws(ConfigurationError) {
        guard case let .object(sections) = document else {
            throw ConfigurationError(source: source, key: "(file)", reason: "must hold a JSON object of sections")
        }
        for (section, content) in sections {
            guard ConfigurationKey.all.contains(where: { $0.path.hasPrefix(section + ".") }) else {
                throw ConfigurationError(source: source, key: section, reason: "is not a known section; known sections are \(knownSections.joined(separator: ", "))")
            }
            guard case let .object(members) = content else {
                throw ConfigurationError(source: source, key: section, reason: "must be an object, not a \(content.typeName)")
            }
            for (name, value) in members {
                let path = "\(section).\(name)"
                guard let key = ConfigurationKey.all.first(where: { $0.path == path }) else {
                    throw ConfigurationError(source: source, key: path, reason: "is not a known key")
                }
                try key.apply(&configuration, value, source)
                sources[path] = source
            }
        }
    }

    static var knownSections: [String] {
        var seen: [String] = []
        for key in ConfigurationKey.all {
            let section = String(key.path.split(separator: ".")[0])
            if !seen.contains(section) { seen.append(section) }
        }
        return seen
    }

    static func applyEnvironment(_ environment: [String: String], to configuration: inout Configuration,
                                 sources: inout [String: ConfigurationError.Source]) throws(ConfigurationError) {
        for (name, text) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(environmentPrefix) {
            let source = ConfigurationError.Source.environment(name)
            guard let key = ConfigurationKey.all.first(where: { $0.environmentName == name }) else {
                throw ConfigurationError(source: source, key: name, reason: "does not name a configuration key")
            }
            let value: JSONValue
            switch key.kind {
            case .string, .octalMode:
                value = .string(text)
            case .boolean:
                switch text.lowercased() {
                case "true", "1", "yes", "on": value = .bool(true)
                case "false", "0", "no", "off": value = .bool(false)
                default: throw ConfigurationError(source: source, key: key.path, reason: "must be true or false, not \"\(text)\"")
                }
            case .integer:
                guard let number = Int64(text.trimmingCharacters(in: .whitespaces)) else {
                    throw ConfigurationError(source: source, key: key.path, reason: "must be an integer, not \"\(text)\"")
                }
                value = .int(number)
            case .hostRules, .hostLabels:
                do { value = try JSONParser.parse(text) } catch {
                    throw ConfigurationError(source: source, key: key.path, reason: "is not valid JSON: \(error.description)")
                }
            case .stringList:
                if text.hasPrefix("[") {
                    do { value = try JSONParser.parse(text) } catch {
                        throw ConfigurationError(source: source, key: key.path, reason: "is not a valid JSON list: \(error.description)")
                    }
                } else {
                    // Empty items are kept, so that the key's own check refuses them by name.
                    let separator = key.environmentListSeparator
                    value = .array(text.split(separator: separator, omittingEmptySubsequences: false).map { .string(String($0)) })
                }
            }
            try key.apply(&configuration, value, source)
            sources[key.path] = source
        }
    }

    static func absolute(_ path: String, base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }

    static func resolvePaths(_ configuration: inout Configuration, base: String) {
        configuration.worker.socket = absolute(configuration.worker.socket, base: base)
        configuration.catalog.roots = configuration.catalog.roots.map { absolute($0, base: base) }
        configuration.files.root = configuration.files.root.map { absolute($0, base: base) }
        configuration.state.directory = absolute(configuration.state.directory, base: base)
        configuration.admin.tokenFile = configuration.admin.tokenFile.map { absolute($0, base: base) }
        configuration.menu.file = configuration.menu.file.map { absolute($0, base: base) }
        configuration.provision.templatesDirectory = configuration.provision.templatesDirectory.map { absolute($0, base: base) }
        configuration.boot.cacheDirectory = configuration.boot.cacheDirectory.map { absolute($0, base: base) }
        configuration.nginx.staticRoot = configuration.nginx.staticRoot.map { absolute($0, base: base) }
        configuration.nginx.tlsCertificate = configuration.nginx.tlsCertificate.map { absolute($0, base: base) }
        configuration.nginx.tlsCertificateKey = configuration.nginx.tlsCertificateKey.map { absolute($0, base: base) }
        configuration.dhcp.tftpRoot = configuration.dhcp.tftpRoot.map { absolute($0, base: base) }
        configuration.dhcp.loaderDirectory = absolute(configuration.dhcp.loaderDirectory, base: base)
        configuration.dhcp.shimLoader = absolute(configuration.dhcp.shimLoader, base: base)
        configuration.dhcp.grubLoader = absolute(configuration.dhcp.grubLoader, base: base)
        configuration.dhcp.logFile = absolute(configuration.dhcp.logFile, base: base)
    }

    /// What `dhcp.mode` needs, checked without looking at the machine (`check-config` and
    /// `dnsmasq-config` also check the interface, the range's subnet and the loader files).
    static func validateDHCP(_ dhcp: Configuration.DHCP, sources: [String: ConfigurationError.Source]) throws(ConfigurationError) {
        let modeSource = sources["dhcp.mode"] ?? .defaults
        switch dhcp.mode {
        case .off:
            return
        case .proxy:
            guard dhcp.serverAddress != nil else {
                throw ConfigurationError(source: modeSource, key: "dhcp.server_address",
                                         reason: "is required with dhcp.mode \"proxy\": the site's DHCP server hands out the addresses, so machines must be told this server's own (such as \"10.77.0.1\")")
            }
        case .server:
            guard dhcp.range != nil else {
                throw ConfigurationError(source: modeSource, key: "dhcp.range", reason: "is required with dhcp.mode \"server\": the addresses to hand out, such as \"10.77.0.100-10.77.0.199\"")
            }
        }
        guard dhcp.interface != nil else {
            throw ConfigurationError(source: modeSource, key: "dhcp.interface", reason: "is required with dhcp.mode \"\(dhcp.mode.rawValue)\": the network interface to answer on, such as \"eno1\"")
        }
        for (key, path) in [("dhcp.tftp_root", dhcp.tftpRoot ?? ""), ("dhcp.log_file", dhcp.logFile), ("dhcp.loader_directory", dhcp.loaderDirectory)]
        where path.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\"" || $0 == "\\" || $0 == "$" || $0 == "," }) {
            throw ConfigurationError(source: sources[key] ?? .defaults, key: key, reason: "holds \(path), which contains a newline, '\"', '\\', '$' or ','; dnsmasq and nginx cannot use such a path")
        }
    }

    static func validate(_ configuration: Configuration, checkDirectories: Bool,
                         sources: [String: ConfigurationError.Source]) throws(ConfigurationError) {
        var paths = configuration.catalog.roots.map { ("catalog.roots", $0) }
        if let root = configuration.files.root { paths.append(("files.root", root)) }
        let cacheKey = configuration.boot.cacheDirectory == nil ? "state.directory" : "boot.cache_directory"
        var tlsPaths: [(String, String)] = []
        if let certificate = configuration.nginx.tlsCertificate { tlsPaths.append(("nginx.tls_certificate", certificate)) }
        if let key = configuration.nginx.tlsCertificateKey { tlsPaths.append(("nginx.tls_certificate_key", key)) }
        for (key, path) in paths + tlsPaths + [("worker.socket", configuration.worker.socket), (cacheKey, configuration.effectiveCacheDirectory),
                                   ("nginx.static_root", configuration.effectiveStaticRoot)] {
            // These go into nginx's configuration inside double quotes; `$` would be a variable.
            if path.contains(where: { "\"\\$".contains($0) }) {
                throw ConfigurationError(source: sources[key] ?? .defaults, key: key, reason: "holds \(path), which contains '\"', '\\' or '$'; nginx cannot use such a path")
            }
        }
        if configuration.state.backend == .postgresql && configuration.state.postgresqlURL == nil {
            throw ConfigurationError(source: sources["state.backend"] ?? .defaults, key: "state.postgresql_url",
                                     reason: "is required with state.backend \"postgresql\" (a libpq connection string such as \"host=db dbname=pxe user=pxe\")")
        }
        if (configuration.nginx.tlsCertificate == nil) != (configuration.nginx.tlsCertificateKey == nil) {
            let missing = configuration.nginx.tlsCertificate == nil ? "nginx.tls_certificate" : "nginx.tls_certificate_key"
            let given = missing == "nginx.tls_certificate" ? "nginx.tls_certificate_key" : "nginx.tls_certificate"
            throw ConfigurationError(source: sources[given] ?? .defaults, key: missing, reason: "is required with \(given): a TLS server needs both the certificate and its key")
        }
        try validateDHCP(configuration.dhcp, sources: sources)
        if configuration.worker.socket.utf8.count >= 108 {
            throw ConfigurationError(source: sources["worker.socket"] ?? .defaults, key: "worker.socket", reason: "is longer than the 107 bytes a unix socket path may have")
        }
        guard checkDirectories else { return }
        for (key, path) in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigurationError(source: sources[key] ?? .defaults, key: key, reason: "names \(path), which is not an existing directory")
            }
        }
    }
}
