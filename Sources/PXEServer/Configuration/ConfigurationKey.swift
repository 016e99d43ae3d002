import BootScripts
import Foundation
import Glibc
import PXECatalog
import PXEHosts
import StrictJSON

/// One documented configuration key: its JSON type, default, meaning and how it is applied.
/// Unknown keys, type errors and the environment-variable names all derive from this table.
struct ConfigurationKey: Sendable {
    enum Kind: String, Sendable {
        case string, integer, boolean, stringList = "list of strings", octalMode = "string (octal mode)"
        case hostRules = "list of host rules", hostLabels = "object (MAC to labels)"
    }

    /// How an environment variable writes a list (besides a JSON array): paths are `:`-separated
    /// as in `PATH`; addresses and names `,`-separated, since `:` is part of an IPv6 address.
    var environmentListSeparator: Character { path == "catalog.roots" ? ":" : "," }

    let path: String
    let kind: Kind
    let defaultText: String
    let summary: String
    let setter: @Sendable (inout Configuration, JSONValue, ConfigurationError.Source) throws -> Void

    init(path: String, kind: Kind, defaultText: String, summary: String,
         setter: @escaping @Sendable (inout Configuration, JSONValue, ConfigurationError.Source) throws -> Void) {
        self.path = path
        self.kind = kind
        self.defaultText = defaultText
        self.summary = summary
        self.setter = setter
    }

    /// Applies a value; setters only throw `ConfigurationError`.
    func apply(_ configuration: inout Configuration, _ value: JSONValue, _ source: ConfigurationError.Source) throws(ConfigurationError) {
        do {
            try setter(&configuration, value, source)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(source: source, key: path, reason: "could not be applied: \(error)")
        }
    }

    /// `PXE_CATALOG_` + the key in upper case with `.` as `_`: `worker.threads` -> `PXE_CATALOG_WORKER_THREADS`.
    var environmentName: String {
        "PXE_CATALOG_" + path.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    static let all: [ConfigurationKey] = [
        ConfigurationKey(path: "worker.socket", kind: .string, defaultText: "\"/run/pxe-catalog/fcgi.sock\"",
                         summary: "Unix socket the worker listens on when no socket is inherited (systemd fd 3, spawn-fcgi fd 0).") {
            $0.worker.socket = try string($1, "worker.socket", $2)
        },
        ConfigurationKey(path: "worker.socket_mode", kind: .octalMode, defaultText: "\"0660\"",
                         summary: "Permission bits of the socket the worker creates; nginx's user must be able to write to it.") {
            let text = try string($1, "worker.socket_mode", $2)
            guard let mode = mode_t(text, radix: 8), mode <= 0o777 else {
                throw ConfigurationError(source: $2, key: "worker.socket_mode", reason: "must be an octal mode such as \"0660\", not \"\(text)\"")
            }
            $0.worker.socketMode = mode
        },
        ConfigurationKey(path: "worker.threads", kind: .integer, defaultText: "0 (two per core)",
                         summary: "Threads accepting requests on the socket.") {
            $0.worker.threads = try integer($1, "worker.threads", $2, in: 0...256)
        },
        ConfigurationKey(path: "worker.max_body_bytes", kind: .integer, defaultText: "65536",
                         summary: "Largest request body accepted (413 beyond); also nginx's client_max_body_size.") {
            $0.worker.maximumBodyBytes = try integer($1, "worker.max_body_bytes", $2, in: 1...(64 << 20))
        },
        ConfigurationKey(path: "worker.shutdown_timeout", kind: .integer, defaultText: "10",
                         summary: "Seconds in-flight requests get to finish after SIGTERM.") {
            $0.worker.shutdownTimeoutSeconds = try integer($1, "worker.shutdown_timeout", $2, in: 0...3600)
        },
        ConfigurationKey(path: "catalog.roots", kind: .stringList, defaultText: "[\"/srv/pxe-catalog\"]",
                         summary: "Directories scanned recursively for containers. Each must exist.") {
            let roots = try stringList($1, "catalog.roots", $2)
            guard !roots.isEmpty else {
                throw ConfigurationError(source: $2, key: "catalog.roots", reason: "must name at least one directory")
            }
            $0.catalog.roots = roots
        },
        ConfigurationKey(path: "catalog.pattern", kind: .string, defaultText: "\"*.rts.png\"",
                         summary: "Shell pattern (fnmatch) a file name must match to be a container.") {
            let pattern = try string($1, "catalog.pattern", $2)
            guard !pattern.isEmpty, !pattern.contains("/") else {
                throw ConfigurationError(source: $2, key: "catalog.pattern", reason: "must be a non-empty file-name pattern without '/'")
            }
            $0.catalog.pattern = pattern
        },
        ConfigurationKey(path: "catalog.watch", kind: .boolean, defaultText: "true",
                         summary: "Notice added, removed, replaced or renamed files with inotify and rescan by itself.") {
            $0.catalog.watch = try boolean($1, "catalog.watch", $2)
        },
        ConfigurationKey(path: "catalog.settle_ms", kind: .integer, defaultText: "2000",
                         summary: "Quiet time after the last change before an automatic rescan; files modified more recently are not offered yet.") {
            $0.catalog.settleMilliseconds = try integer($1, "catalog.settle_ms", $2, in: 0...600_000)
        },
        ConfigurationKey(path: "catalog.analyzer", kind: .stringList, defaultText: "the built-in OCR analyzer when tesseract is installed",
                         summary: "Command and arguments run on each new or changed container (its path and its thumbnail's are appended) at low priority; it prints `{\"description\": ..., \"labels\": [...]}`, shown as `visual_description` and `detected_objects`. `[]`: no analysis.") {
            let command = try stringList($1, "catalog.analyzer", $2)
            guard command.isEmpty || command[0].hasPrefix("/") else {
                throw ConfigurationError(source: $2, key: "catalog.analyzer", reason: "must start with the command's absolute path, not \"\(command[0])\"")
            }
            $0.catalog.analyzer = command
        },
        ConfigurationKey(path: "catalog.analyzer_timeout", kind: .integer, defaultText: "60",
                         summary: "Seconds the analyzer may take for one container before it (and whatever it started) is killed and the failure recorded.") {
            $0.catalog.analyzerTimeoutSeconds = try integer($1, "catalog.analyzer_timeout", $2, in: 1...3600)
        },
        ConfigurationKey(path: "catalog.rescan_interval", kind: .integer, defaultText: "300",
                         summary: "Seconds between periodic rescans (the fallback when inotify is unavailable or out of watches); 0 disables.") {
            $0.catalog.rescanIntervalSeconds = try integer($1, "catalog.rescan_interval", $2, in: 0...86_400)
        },
        ConfigurationKey(path: "files.root", kind: .string, defaultText: "the first catalog root",
                         summary: "Directory `GET /files/{name}` serves plain file names from.") {
            $0.files.root = try string($1, "files.root", $2)
        },
        ConfigurationKey(path: "nginx.listen", kind: .string, defaultText: "\"80\"",
                         summary: "nginx `listen` value written by `pxe-catalog nginx-config`.") {
            $0.nginx.listen = try nginxWord($1, "nginx.listen", $2)
        },
        ConfigurationKey(path: "nginx.server_name", kind: .string, defaultText: "\"_\"",
                         summary: "nginx `server_name` written by `pxe-catalog nginx-config`.") {
            $0.nginx.serverName = try nginxWord($1, "nginx.server_name", $2)
        },
        ConfigurationKey(path: "nginx.internal_prefix", kind: .string, defaultText: "\"/_pxe_internal/\"",
                         summary: "URI prefix of the `internal` locations X-Accel-Redirect points at (one per root).") {
            let prefix = try string($1, "nginx.internal_prefix", $2)
            guard prefix.hasPrefix("/"), prefix.count > 1,
                  prefix.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || "0123456789/_-".unicodeScalars.contains($0)) }) else {
                throw ConfigurationError(source: $2, key: "nginx.internal_prefix",
                                         reason: "must be an absolute URI path of letters, digits, '/', '_' and '-', not \"\(prefix)\"")
            }
            $0.nginx.internalPrefix = prefix.hasSuffix("/") ? prefix : prefix + "/"
        },
        ConfigurationKey(path: "nginx.admin_allow", kind: .stringList, defaultText: "[] (no IP restriction)",
                         summary: "Addresses or CIDR networks nginx lets send POSTs (`allow`/`deny` in front of the admin token check).") {
            $0.nginx.adminAllow = try addressList($1, "nginx.admin_allow", $2)
        },
        ConfigurationKey(path: "nginx.static_root", kind: .string, defaultText: "`share/pxe-catalog/static` beside the binary's `bin`",
                         summary: "Directory of the static files nginx serves itself (`openapi.json`); `make install` fills the default one.") {
            $0.nginx.staticRoot = try string($1, "nginx.static_root", $2)
        },
        ConfigurationKey(path: "nginx.tls_certificate", kind: .string, defaultText: "none (no TLS server)",
                         summary: "PEM certificate (chain) of a TLS server `pxe-catalog nginx-config` adds for the console and the admin API; with nginx.tls_certificate_key. Booting machines stay on plain HTTP.") {
            $0.nginx.tlsCertificate = try string($1, "nginx.tls_certificate", $2)
        },
        ConfigurationKey(path: "nginx.tls_certificate_key", kind: .string, defaultText: "none",
                         summary: "The private key of nginx.tls_certificate (readable by nginx's master process only).") {
            $0.nginx.tlsCertificateKey = try string($1, "nginx.tls_certificate_key", $2)
        },
        ConfigurationKey(path: "nginx.tls_listen", kind: .string, defaultText: "\"443\"",
                         summary: "nginx `listen` address of the TLS server (`ssl` is added).") {
            $0.nginx.tlsListen = try nginxWord($1, "nginx.tls_listen", $2)
        },
        ConfigurationKey(path: "nginx.https_url", kind: .string, defaultText: "https:// and the request's host (with the TLS port unless 443)",
                         summary: "The HTTPS address the plain-HTTP server names when it refuses an admin request and redirects `/console/` to, e.g. `https://boot.example.com`.") {
            let url = try nginxWord($1, "nginx.https_url", $2)
            guard url.hasPrefix("https://"), url.count > 8, !url.contains(where: { $0.isNewline || !$0.isASCII }) else {
                throw ConfigurationError(source: $2, key: "nginx.https_url", reason: "must be an https:// address such as \"https://boot.example.com\", not \"\(url)\"")
            }
            $0.nginx.httpsURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        },
        ConfigurationKey(path: "nginx.admin_over_plain_http", kind: .boolean, defaultText: "false",
                         summary: "With TLS configured, still accept admin requests (a bearer token, or any change) over plain HTTP, where anyone on the boot network can read the token. For labs that accept the risk.") {
            $0.nginx.adminOverPlainHTTP = try boolean($1, "nginx.admin_over_plain_http", $2)
        },
        ConfigurationKey(path: "state.directory", kind: .string, defaultText: "\"/var/lib/pxe-catalog\"",
                         summary: "The worker's own files: the SQLite settings (`settings.sqlite3`), a fleet node's local copy of the shared settings, the boot cache; created if missing.") {
            $0.state.directory = try string($1, "state.directory", $2)
        },
        ConfigurationKey(path: "state.forget_after_days", kind: .integer, defaultText: "30",
                         summary: "Days the settings and metric series of an entry that left the catalog are kept (they come back if it returns); then they are forgotten. 0 keeps them forever.") {
            $0.state.forgetAfterDays = try integer($1, "state.forget_after_days", $2, in: 0...36_500)
        },
        ConfigurationKey(path: "state.backend", kind: .string, defaultText: "\"sqlite\"",
                         summary: "Where the settings are kept: `sqlite` (`settings.sqlite3` in state.directory) or `postgresql` (a database several boot servers share; see docs/fleet.md).") {
            let name = try string($1, "state.backend", $2)
            guard let backend = Configuration.State.Backend(rawValue: name) else {
                throw ConfigurationError(source: $2, key: "state.backend", reason: "must be \"sqlite\" or \"postgresql\", not \"\(name)\"")
            }
            $0.state.backend = backend
        },
        ConfigurationKey(path: "state.postgresql_url", kind: .string, defaultText: "none",
                         summary: "libpq connection string or URI of the fleet's database, e.g. `host=db.example.com dbname=pxe user=pxe` (a password belongs in `~/.pgpass` or `passfile=`, not here). Required with state.backend postgresql.") {
            let url = try string($1, "state.postgresql_url", $2)
            guard !url.trimmingCharacters(in: .whitespaces).isEmpty, !url.contains(where: { $0.isNewline }) else {
                throw ConfigurationError(source: $2, key: "state.postgresql_url", reason: "must be a libpq connection string or postgresql:// URI on one line")
            }
            $0.state.postgresqlURL = url
        },
        ConfigurationKey(path: "admin.token_file", kind: .string, defaultText: "none",
                         summary: "File of admin bearer tokens, one a line (`#` comments allowed); must not be readable by others. POSTs need one of them.") {
            $0.admin.tokenFile = try string($1, "admin.token_file", $2)
        },
        ConfigurationKey(path: "admin.allow_unauthenticated", kind: .boolean, defaultText: "false",
                         summary: "Without a token file, allow POSTs from anyone (labs only; logged as a warning at start).") {
            $0.admin.allowUnauthenticated = try boolean($1, "admin.allow_unauthenticated", $2)
        },
        ConfigurationKey(path: "menu.title", kind: .string, defaultText: "\"pxe-catalog boot menu\"",
                         summary: "Title of the iPXE boot menu.") {
            $0.menu.title = try string($1, "menu.title", $2)
        },
        ConfigurationKey(path: "menu.timeout", kind: .integer, defaultText: "10",
                         summary: "Seconds before the menu boots its default; 0 waits for a key press.") {
            $0.menu.timeoutSeconds = try integer($1, "menu.timeout", $2, in: 0...3600)
        },
        ConfigurationKey(path: "menu.default", kind: .string, defaultText: "\"local\"",
                         summary: "What the menu boots after the timeout: `local` (local disk), `first` (first entry) or an entry id.") {
            let choice = try string($1, "menu.default", $2)
            guard choice == "local" || choice == "first" || CatalogEntry.isWellFormedID(choice) else {
                throw ConfigurationError(source: $2, key: "menu.default", reason: "must be \"local\", \"first\" or a 12-hex-digit entry id, not \"\(choice)\"")
            }
            $0.menu.defaultChoice = choice
        },
        ConfigurationKey(path: "menu.file", kind: .string, defaultText: "none",
                         summary: "A desired-state file of the menu (entries by id or path glob with enabled, order, name, description, cmdline; host rules) applied at start, on SIGHUP and by `pxe-catalog apply`; the settings it sets are refused through the API with 409. See docs/menu-file.md.") {
            $0.menu.file = try string($1, "menu.file", $2)
        },
        ConfigurationKey(path: "menu.public_base_url", kind: .string, defaultText: "none (URIs relative to the script)",
                         summary: "Absolute base URL for the URIs in iPXE scripts, e.g. `http://boot.example.com`; never taken from the Host header.") {
            let url = try string($1, "menu.public_base_url", $2)
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), !url.contains(where: { " \t\"'$;&|#{}\\".contains($0) }) else {
                throw ConfigurationError(source: $2, key: "menu.public_base_url", reason: "must be an http:// or https:// URL without spaces or shell-like characters, not \"\(url)\"")
            }
            $0.menu.publicBaseURL = url
        },
        ConfigurationKey(path: "boot.cache_directory", kind: .string, defaultText: "`boot-cache` in state.directory",
                         summary: "Where prepared boot parts (kernels, initrds, disk images, payloads) are kept; nginx serves them from here, so its user must be able to read it (the state directory needs mode 0751 or wider).") {
            $0.boot.cacheDirectory = try string($1, "boot.cache_directory", $2)
        },
        ConfigurationKey(path: "boot.cache_max_bytes", kind: .integer, defaultText: "21474836480 (20 GiB)",
                         summary: "Most bytes the boot cache may take; an entry whose parts do not fit is listed as not prepared, with the reason. 0: no limit.") {
            $0.boot.cacheMaximumBytes = Int64(try integer($1, "boot.cache_max_bytes", $2, in: 0...Int(Int64.max)))
        },
        ConfigurationKey(path: "boot.max_payload_bytes", kind: .integer, defaultText: "68719476736 (64 GiB)",
                         summary: "Largest payload a container may state or decompress to; larger ones are refused (decompression bombs).") {
            $0.boot.maximumPayloadBytes = Int64(try integer($1, "boot.max_payload_bytes", $2, in: 1...Int(Int64.max)))
        },
        ConfigurationKey(path: "boot.retry_after_seconds", kind: .integer, defaultText: "60",
                         summary: "After the boot cache's disk failed (full, I/O error), seconds before an entry is prepared again.") {
            $0.boot.retryAfterSeconds = try integer($1, "boot.retry_after_seconds", $2, in: 1...86_400)
        },
        ConfigurationKey(path: "boot.cmdline_append", kind: .string, defaultText: "\"\" (nothing)",
                         summary: "Appended to the kernel command line of every Linux entry (after the container's own or the entry's override), e.g. `console=ttyS0`. Printable ASCII, no braces, no `&&`, `||`, `;` or `#` words.") {
            let text = try string($1, "boot.cmdline_append", $2)
            if let problem = IPXEText.commandLineProblem(text) {
                throw ConfigurationError(source: $2, key: "boot.cmdline_append", reason: problem)
            }
            $0.boot.commandLineAppend = text
        },
        ConfigurationKey(path: "status.public", kind: .stringList, defaultText: "[\"healthz\"]",
                         summary: "Which of `status`, `metrics`, `healthz` anyone may fetch; nginx limits the others to `status.allow`.") {
            let names = try stringList($1, "status.public", $2)
            for name in names where !["status", "metrics", "healthz"].contains(name) {
                throw ConfigurationError(source: $2, key: "status.public", reason: "holds \"\(name)\"; the endpoints are status, metrics and healthz")
            }
            $0.status.publicEndpoints = names
        },
        ConfigurationKey(path: "status.allow", kind: .stringList, defaultText: "[\"127.0.0.1\", \"::1\"]",
                         summary: "Addresses or CIDR networks nginx lets fetch the endpoints that are not public.") {
            $0.status.allow = try addressList($1, "status.allow", $2)
        },
        ConfigurationKey(path: "hosts.rules", kind: .hostRules, defaultText: "[] (every machine gets the menu)",
                         summary: "Per-machine boot policy: each rule has a `name`, a `match` (mac, mac_prefix, uuid, serial, hostname glob, platform, buildarch, labels) and what it sets (`default`, `timeout`, `entries`, `boot`, `cmdline_append`). The most specific matching rule wins; see docs/hosts.md.") {
            let rules = try hostRules($1, "hosts.rules", $2)
            for rule in rules {
                if let text = rule.policy.commandLineAppend, let problem = IPXEText.commandLineProblem(text) {
                    throw ConfigurationError(source: $2, key: "hosts.rules (rule \"\(rule.name)\").cmdline_append", reason: problem)
                }
            }
            if let conflict = HostRules(rules: rules).conflicts().first {
                throw ConfigurationError(source: $2, key: "hosts.rules", reason: "is ambiguous: \(conflict)")
            }
            $0.hosts.rules = rules
        },
        ConfigurationKey(path: "hosts.labels", kind: .hostLabels, defaultText: "{} (no labels)",
                         summary: "Labels per machine, by MAC address, for rules to match: `{\"52:54:00:12:34:56\": {\"role\": \"staff\"}}`.") {
            do {
                $0.hosts.labels = try HostRules.parseLabels($1)
            } catch let error as HostRulesError {
                throw ConfigurationError(source: $2, key: error.key, reason: error.reason)
            }
        },
        ConfigurationKey(path: "provision.templates", kind: .string, defaultText: "none (no answer files)",
                         summary: "Directory of answer-file templates (Mustache; `.preseed`/`.cfg`, `.ks`, `.yaml`/`.yml`, `.json`/`.ign`; a subdirectory is one template of several files, e.g. cloud-init's user-data and meta-data). Each is checked when the configuration is loaded (start, SIGHUP, check-config): a template that does not parse or names a variable no machine has is refused, naming file and line. See docs/provisioning.md.") {
            $0.provision.templatesDirectory = try string($1, "provision.templates", $2)
        },
        ConfigurationKey(path: "provision.token_minutes", kind: .integer, defaultText: "60",
                         summary: "Minutes an answer-file URL works after the machine's entry script was rendered.") {
            $0.provision.tokenMinutes = try integer($1, "provision.token_minutes", $2, in: 1...10_080)
        },
        ConfigurationKey(path: "provision.token_fetches", kind: .integer, defaultText: "1",
                         summary: "How many times an answer-file URL gives each file; 0: any number within `provision.token_minutes`.") {
            $0.provision.tokenFetches = try integer($1, "provision.token_fetches", $2, in: 0...1000)
        },
        ConfigurationKey(path: "hosts.boot_log_size", kind: .integer, defaultText: "10000",
                         summary: "Boot events kept in memory for `GET /boots` (the oldest go first); host summaries are kept for up to ten times as many machines.") {
            $0.hosts.bootLogSize = try integer($1, "hosts.boot_log_size", $2, in: 1...1_000_000)
        },
        ConfigurationKey(path: "dhcp.mode", kind: .string, defaultText: "\"off\"",
                         summary: "Network boot of real machines through dnsmasq (`pxe-catalog dnsmasq-config`, the pxe-catalog-dnsmasq unit): `off` (the site's DHCP server points machines here itself), `proxy` (answers only network-boot requests beside the site's DHCP server, which keeps handing out addresses; ports 67 and 4011) or `server` (hands out addresses from `dhcp.range` too: isolated labs). `make run` never answers DHCP.") {
            let text = try string($1, "dhcp.mode", $2)
            guard let mode = Configuration.DHCP.Mode(rawValue: text) else {
                throw ConfigurationError(source: $2, key: "dhcp.mode", reason: "must be \"off\", \"proxy\" or \"server\", not \"\(text)\"")
            }
            $0.dhcp.mode = mode
        },
        ConfigurationKey(path: "dhcp.interface", kind: .string, defaultText: "none (required unless dhcp.mode is off)",
                         summary: "The network interface dnsmasq answers on, e.g. `eno1` or a bridge.") {
            let name = try string($1, "dhcp.interface", $2)
            guard !name.isEmpty, name.utf8.count < 16, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@".contains($0)) }) else {
                throw ConfigurationError(source: $2, key: "dhcp.interface", reason: "must be an interface name such as \"eno1\" (letters, digits, '-', '_', '.', '@'; at most 15 bytes), not \"\(name)\"")
            }
            $0.dhcp.interface = name
        },
        ConfigurationKey(path: "dhcp.range", kind: .string, defaultText: "none (required in server mode)",
                         summary: "The addresses server mode hands out, `START-END` (two IPv4 addresses in the interface's subnet), e.g. `10.77.0.100-10.77.0.199`.") {
            let text = try string($1, "dhcp.range", $2)
            guard let range = DHCPRange(text) else {
                throw ConfigurationError(source: $2, key: "dhcp.range", reason: "must be two IPv4 addresses START-END with START not after END, such as \"10.77.0.100-10.77.0.199\", not \"\(text)\"")
            }
            $0.dhcp.range = range.description
        },
        ConfigurationKey(path: "dhcp.lease_seconds", kind: .integer, defaultText: "3600",
                         summary: "How long an address handed out in server mode is leased.") {
            $0.dhcp.leaseSeconds = try integer($1, "dhcp.lease_seconds", $2, in: 120...604_800)
        },
        ConfigurationKey(path: "dhcp.server_address", kind: .string, defaultText: "the interface's address (server mode); required in proxy mode",
                         summary: "The IPv4 address machines reach this server on: the TFTP server and the host of the `http://` URLs handed out (with nginx's port, unless `menu.public_base_url` is set).") {
            let text = try string($1, "dhcp.server_address", $2)
            guard IPv4Address(text) != nil else {
                throw ConfigurationError(source: $2, key: "dhcp.server_address", reason: "must be an IPv4 address such as \"10.77.0.1\", not \"\(text)\"")
            }
            $0.dhcp.serverAddress = text
        },
        ConfigurationKey(path: "dhcp.tftp_root", kind: .string, defaultText: "`tftp` in state.directory",
                         summary: "The directory dnsmasq serves by TFTP (and nginx over HTTP at `/boot/`); `pxe-catalog tftp-root` links the loaders into it.") {
            $0.dhcp.tftpRoot = try string($1, "dhcp.tftp_root", $2)
        },
        ConfigurationKey(path: "dhcp.loader_directory", kind: .string, defaultText: "\"/usr/lib/ipxe\"",
                         summary: "Where the boot loaders come from (Debian's `ipxe` package); `pxe-catalog tftp-root` links them from here.") {
            $0.dhcp.loaderDirectory = try string($1, "dhcp.loader_directory", $2)
        },
        ConfigurationKey(path: "dhcp.bios_loader", kind: .string, defaultText: "\"undionly.kpxe\"",
                         summary: "The loader BIOS PXE clients get by TFTP (a file name in `dhcp.loader_directory`).") {
            $0.dhcp.biosLoader = try loaderName($1, "dhcp.bios_loader", $2)
        },
        ConfigurationKey(path: "dhcp.uefi_loader", kind: .string, defaultText: "\"snponly.efi\"",
                         summary: "The loader x86-64 UEFI PXE clients get by TFTP: `snponly.efi` drives the NIC through the firmware's own driver (4 s faster to start here), `ipxe.efi` brings iPXE's drivers.") {
            $0.dhcp.uefiLoader = try loaderName($1, "dhcp.uefi_loader", $2)
        },
        ConfigurationKey(path: "dhcp.http_boot_loader", kind: .string, defaultText: "\"ipxe.efi\"",
                         summary: "The loader UEFI HTTP Boot clients get, as an `http://` URL nginx serves from the TFTP root (`snponly.efi` does not start under OVMF's HTTP Boot).") {
            $0.dhcp.httpBootLoader = try loaderName($1, "dhcp.http_boot_loader", $2)
        },
        ConfigurationKey(path: "dhcp.uefi_boot", kind: .string, defaultText: "\"shim-grub\"",
                         summary: "What x86-64 UEFI PXE clients boot: `shim-grub` (Debian's signed shim and network GRUB, `dhcp.shim_loader` and `dhcp.grub_loader`: boots with Secure Boot on and off; GRUB reads the menu, kernels and initrds by TFTP from files the worker keeps in the TFTP root; docs/secure-boot.md) or `ipxe` (`dhcp.uefi_loader`, which fetches by HTTP and is faster, but firmware with Secure Boot on refuses it: it is not signed). BIOS and UEFI HTTP Boot keep iPXE.") {
            let text = try string($1, "dhcp.uefi_boot", $2)
            guard let choice = Configuration.DHCP.UEFIBoot(rawValue: text) else {
                throw ConfigurationError(source: $2, key: "dhcp.uefi_boot", reason: "must be \"ipxe\" or \"shim-grub\", not \"\(text)\"")
            }
            $0.dhcp.uefiBoot = choice
        },
        ConfigurationKey(path: "dhcp.shim_loader", kind: .string, defaultText: "\"/usr/lib/shim/shimx64.efi.signed\"",
                         summary: "Debian's signed shim (package `shim-signed`), linked into the TFTP root as `shimx64.efi` when `dhcp.uefi_boot` is `shim-grub`.") {
            $0.dhcp.shimLoader = try string($1, "dhcp.shim_loader", $2)
        },
        ConfigurationKey(path: "dhcp.grub_loader", kind: .string, defaultText: "\"/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed\"",
                         summary: "Debian's signed network GRUB (package `grub-efi-amd64-signed`), linked as `grubx64.efi` beside shim, which loads it from there.") {
            $0.dhcp.grubLoader = try string($1, "dhcp.grub_loader", $2)
        },
        ConfigurationKey(path: "dhcp.bios_chainload", kind: .boolean, defaultText: "false",
                         summary: "Whether a BIOS machine running another iPXE (a NIC's option ROM) loads `dhcp.bios_loader` by TFTP first. DHCP cannot tell the two apart; the boot script does, from `${net0/chip}`, so the loader is loaded once, not in a loop.") {
            $0.dhcp.biosChainload = try boolean($1, "dhcp.bios_chainload", $2)
        },
        ConfigurationKey(path: "dhcp.router_advertisements", kind: .boolean, defaultText: "false",
                         summary: "Server mode: dnsmasq sends IPv6 router advertisements that announce no route, so iPXE's IPv6 autoconfiguration ends at once (it otherwise waits about 10 s per start). For isolated networks only.") {
            $0.dhcp.routerAdvertisements = try boolean($1, "dhcp.router_advertisements", $2)
        },
        ConfigurationKey(path: "dhcp.dns_servers", kind: .stringList, defaultText: "[] (none)",
                         summary: "Server mode: the name servers (IPv4) DHCP hands out. Installers need them: Debian's asks for name servers when DHCP gives none, which stops an unattended install.") {
            let servers = try stringList($1, "dhcp.dns_servers", $2)
            for server in servers where IPv4Address(server) == nil {
                throw ConfigurationError(source: $2, key: "dhcp.dns_servers", reason: "must list IPv4 addresses such as \"10.77.0.1\", not \"\(server)\"")
            }
            $0.dhcp.dnsServers = servers
        },
        ConfigurationKey(path: "dhcp.log_file", kind: .string, defaultText: "\"/var/log/pxe-catalog/dnsmasq.log\"",
                         summary: "dnsmasq's log: the worker follows it and puts each machine's DHCP answer and TFTP transfer into the boot log (`/boots`, `/hosts/{mac}`).") {
            $0.dhcp.logFile = try string($1, "dhcp.log_file", $2)
        },
        ConfigurationKey(path: "dhcp.user", kind: .string, defaultText: "\"pxe-catalog\"",
                         summary: "The user dnsmasq runs as after binding its ports; it writes the log (which the worker reads) and its lease file in the state directory.") {
            $0.dhcp.user = try nginxWord($1, "dhcp.user", $2)
        },
        ConfigurationKey(path: "log.level", kind: .string, defaultText: "\"info\"",
                         summary: "Lowest level logged to stderr: trace, debug, info, notice, warning, error, critical.") {
            let level = try string($1, "log.level", $2)
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                throw ConfigurationError(source: $2, key: "log.level", reason: "must be one of trace, debug, info, notice, warning, error, critical, not \"\(level)\"")
            }
            $0.log.level = level
        },
    ]

    /// The key table as Markdown, for docs/configuration.md (a test keeps the two in step).
    static var markdownReference: String {
        var text = "| key | type | default | environment variable | meaning |\n|---|---|---|---|---|\n"
        for key in all {
            text += "| `\(key.path)` | \(key.kind.rawValue) | \(key.defaultText.replacingOccurrences(of: "|", with: "\\|")) | `\(key.environmentName)` | \(key.summary) |\n"
        }
        return text
    }

    static func string(_ value: JSONValue, _ key: String, _ source: ConfigurationError.Source) throws(ConfigurationError) -> String {
        guard case let .string(text) = value else {
            throw ConfigurationError(source: source, key: key, reason: "must be a string, not a \(value.typeName)")
        }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ConfigurationError(source: source, key: key, reason: "must not contain control characters")
        }
        return text
    }

    static func hostRules(_ value: JSONValue, _ key: String, _ source: ConfigurationError.Source) throws(ConfigurationError) -> [HostRule] {
        do {
            return try HostRules.parseRules(value, key: key, isEntryID: CatalogEntry.isWellFormedID)
        } catch {
            throw ConfigurationError(source: source, key: error.key, reason: error.reason)
        }
    }

    static func integer(_ value: JSONValue, _ key: String, _ source: ConfigurationError.Source, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard case let .int(number) = value else {
            throw ConfigurationError(source: source, key: key, reason: "must be an integer, not a \(value.typeName)")
        }
        guard range.contains(Int(number)) else {
            throw ConfigurationError(source: source, key: key, reason: "must be between \(range.lowerBound) and \(range.upperBound), not \(number)")
        }
        return Int(number)
    }

    /// Addresses or CIDR networks for nginx `allow` lines: IPv4 or IPv6 addresses with an
    /// optional prefix length, `unix:` or `all`, each checked with inet_pton.
    static func addressList(_ value: JSONValue, _ key: String, _ source: ConfigurationError.Source) throws(ConfigurationError) -> [String] {
        let list = try stringList(value, key, source)
        for item in list where !isAddressOrNetwork(item) {
            throw ConfigurationError(source: source, key: key, reason: "holds \"\(item)\", which is not an IP address or CIDR network (such as 192.0.2.0/24 or ::1), \"unix:\" or \"all\"")
        }
        return list
    }

    static func isAddressOrNetwork(_ text: String) -> Bool {
        if text == "unix:" || text == "all" { return true }
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let address = String(parts[0])
        var buffer = [UInt8](repeating: 0, count: 16)
        let family: Int32 = address.contains(":") ? AF_INET6 : AF_INET
        guard inet_pton(family, address, &buffer) == 1 else { return false }
        guard parts.count == 2 else { return true }
        guard let length = Int(parts[1]), parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber) else { return false }
        return (0...(family == AF_INET6 ? 128 : 32)).contains(length)
    }

    static func boolean(_ value: JSONValue, _ key: String, _ source: ConfigurationError.Source) throws(ConfigurationError) -> Bool {
        guard case let .bool(flag) = value else {
            throw ConfigurationError(source: source, key: key, reason: "must be true or false, not a \(value.typeName)")
        }
        return flag
    }

    static func stringList(_ value: JSONValue, _ key: String, _ source: ConfigurationError.Source) throws(ConfigurationError) -> [String] {
        guard case let .array(items) = value else {
            throw ConfigurationError(source: source, key: key, reason: "must be a list of strings, not a \(value.typeName)")
        }
        var result: [String] = []
        for item in items {
            let text = try string(item, key, source)
            guard !text.isEmpty else { throw ConfigurationError(source: source, key: key, reason: "holds an empty item") }
            result.append(text)
        }
        return result
    }

    /// A loader's file name: one path component of printable ASCII, nothing dnsmasq or a URL
    /// would read another way.
    static func loaderName(_ value: JSONValue, _ key: String, _ source: ConfigurationError.Source) throws(ConfigurationError) -> String {
        let name = try string(value, key, source)
        guard !name.isEmpty, name != ".", name != "..", name.utf8.count <= 100,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw ConfigurationError(source: source, key: key, reason: "must be a file name of letters, digits, '-', '_' and '.', such as \"ipxe.efi\", not \"\(name)\"")
        }
        return name
    }

    /// A value pasted into nginx's configuration as one word.
    static func nginxWord(_ value: JSONValue, _ key: String, _ source: ConfigurationError.Source) throws(ConfigurationError) -> String {
        let text = try string(value, key, source)
        guard !text.isEmpty, !text.contains(where: { " \t;{}\"'$\\#".contains($0) }) else {
            throw ConfigurationError(source: source, key: key, reason: "must be a single nginx word without spaces, quotes, ';', '{', '}', '$', '#' or '\\', not \"\(text)\"")
        }
        return text
    }
}

/// A configuration mistake, naming the key and where the value came from.
package struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    package enum Source: Sendable, Equatable, CustomStringConvertible {
        case file(String)
        case environment(String)
        case defaults

        package var description: String {
            switch self {
            case let .file(path): return "in \(path)"
            case let .environment(name): return "from environment variable \(name)"
            case .defaults: return "in the defaults"
            }
        }
    }

    package let source: Source
    package let key: String
    package let reason: String

    package var description: String { "Configuration key '\(key)' \(source) \(reason)." }
}
