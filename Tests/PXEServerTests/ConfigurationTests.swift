import Foundation
@testable import PXEServer
import TestSupport
import Testing

@Suite struct ConfigurationTests {
    func load(_ json: String, environment: [String: String] = [:], in directory: TemporaryDirectory = TemporaryDirectory()) throws(ConfigurationError) -> Configuration {
        let file = directory.write(Array(json.utf8), to: "config.json")
        return try ConfigurationLoader.load(file: file, environment: environment)
    }

    @Test func appliesDefaultsAndFileValues() throws {
        let directory = TemporaryDirectory()
        let roots = directory.subdirectory("images")
        let configuration = try load(#"{"catalog": {"roots": ["\#(roots)"]}, "worker": {"threads": 3}}"#, in: directory)
        #expect(configuration.catalog.roots == [roots])
        #expect(configuration.worker.threads == 3)
        #expect(configuration.catalog.pattern == "*.rts.png")
        #expect(configuration.effectiveFilesRoot == roots)
        #expect(configuration.nginx.internalPrefix == "/_pxe_internal/")
        #expect(configuration.worker.socketMode == 0o660)
    }

    @Test func resolvesRelativePathsAgainstTheFilesDirectory() throws {
        let directory = TemporaryDirectory()
        _ = directory.subdirectory("images")
        let configuration = try load(#"{"catalog": {"roots": ["images"]}, "worker": {"socket": "run/w.sock"}}"#, in: directory)
        #expect(configuration.catalog.roots == [directory.path + "/images"])
        #expect(configuration.worker.socket == directory.path + "/run/w.sock")
    }

    @Test(arguments: [
        (#"{"worker": {"treads": 2}}"#, "worker.treads", "is not a known key"),
        (#"{"workers": {}}"#, "workers", "is not a known section; known sections are worker, catalog, files, nginx, state, admin, menu, boot, status, hosts, provision, dhcp, log"),
        (#"{"worker": {"threads": "2"}}"#, "worker.threads", "must be an integer, not a string"),
        (#"{"worker": {"threads": 1000}}"#, "worker.threads", "must be between 0 and 256, not 1000"),
        (#"{"catalog": {"roots": "/srv"}}"#, "catalog.roots", "must be a list of strings, not a string"),
        (#"{"catalog": {"roots": []}}"#, "catalog.roots", "must name at least one directory"),
        (#"{"catalog": {"roots": ["/nonexistent/pxe"]}}"#, "catalog.roots", "names /nonexistent/pxe, which is not an existing directory"),
        (#"{"worker": {"socket_mode": "rw"}}"#, "worker.socket_mode", "must be an octal mode such as \"0660\", not \"rw\""),
        (#"{"nginx": {"listen": "80; evil"}}"#, "nginx.listen", "must be a single nginx word"),
        (#"{"log": {"level": "loud"}}"#, "log.level", "must be one of"),
        (#"{"catalog": {"roots": ["/tmp/$x"]}}"#, "catalog.roots", "holds /tmp/$x, which contains"),
        (#"{"hosts": {"rules": [{"name": "a", "match": {"mac_prefix": "52:54"}}, {"name": "b", "match": {"mac_prefix": "52:54"}}]}}"#,
         "hosts.rules", "is ambiguous: host rules \"a\" and \"b\" are equally specific and can match the same machine"),
        (#"{"hosts": {"rules": [{"name": "a", "match": {"mac": "nonsense"}}]}}"#, "hosts.rules[0].match.mac", "holds \"nonsense\", which is not a MAC address"),
        (#"{"hosts": {"rules": [{"name": "a", "cmdline_append": "x && reboot"}]}}"#, "hosts.rules (rule \"a\").cmdline_append", ""),
        (#"{"hosts": {"labels": {"nonsense": {}}}}"#, "hosts.labels.nonsense", "is not a MAC address"),
    ])
    func refusesBadValuesNamingTheKey(json: String, key: String, reason: String) {
        do {
            _ = try load(json)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.key == key)
            #expect(error.reason.hasPrefix(reason), "\(error.description)")
            #expect(error.description.contains("'\(key)'"))
        }
    }

    @Test func environmentOverridesTheFile() throws {
        let directory = TemporaryDirectory()
        let a = directory.subdirectory("a"), b = directory.subdirectory("b")
        let configuration = try load(#"{"catalog": {"roots": ["\#(a)"]}, "worker": {"threads": 3}}"#,
                                     environment: ["PXE_CATALOG_WORKER_THREADS": "5", "PXE_CATALOG_CATALOG_ROOTS": "\(a):\(b)",
                                                   "UNRELATED": "x"], in: directory)
        #expect(configuration.worker.threads == 5)
        #expect(configuration.catalog.roots == [a, b])
    }

    @Test func unknownEnvironmentVariableIsRefusedByName() {
        do {
            _ = try load(#"{"catalog": {"roots": ["/tmp"]}}"#, environment: ["PXE_CATALOG_WORKER_THREDS": "5"])
            Issue.record("accepted an unknown variable")
        } catch {
            #expect(error.key == "PXE_CATALOG_WORKER_THREDS")
            #expect(error.description == "Configuration key 'PXE_CATALOG_WORKER_THREDS' from environment variable PXE_CATALOG_WORKER_THREDS does not name a configuration key.")
        }
    }

    /// `:` belongs to IPv6 addresses: address lists are split on commas; paths keep `:`.
    @Test func environmentListsKeepIPv6AddressesWhole() throws {
        let configuration = try load(#"{"catalog": {"roots": ["/tmp"]}}"#, environment: [
            "PXE_CATALOG_STATUS_ALLOW": "127.0.0.1,::1,fd00::/8",
            "PXE_CATALOG_NGINX_ADMIN_ALLOW": "192.0.2.0/24",
            "PXE_CATALOG_CATALOG_ROOTS": "/tmp:/",
        ])
        #expect(configuration.status.allow == ["127.0.0.1", "::1", "fd00::/8"])
        #expect(configuration.nginx.adminAllow == ["192.0.2.0/24"])
        #expect(configuration.catalog.roots == ["/tmp", "/"])
    }

    @Test(arguments: [
        ("PXE_CATALOG_STATUS_ALLOW", "127.0.0.1,", "status.allow", "holds an empty item"),
        ("PXE_CATALOG_STATUS_ALLOW", "1", "status.allow", "holds \"1\", which is not an IP address"),
        ("PXE_CATALOG_STATUS_ALLOW", "::1:", "status.allow", "holds \"::1:\", which is not an IP address"),
        ("PXE_CATALOG_STATUS_ALLOW", "10.0.0.0/33", "status.allow", "holds \"10.0.0.0/33\", which is not an IP address"),
        ("PXE_CATALOG_NGINX_ADMIN_ALLOW", "300.1.1.1", "nginx.admin_allow", "holds \"300.1.1.1\", which is not an IP address"),
        ("PXE_CATALOG_NGINX_ADMIN_ALLOW", "fe80::1/x", "nginx.admin_allow", "holds \"fe80::1/x\", which is not an IP address"),
        ("PXE_CATALOG_CATALOG_ROOTS", "/tmp::/", "catalog.roots", "holds an empty item"),
    ])
    func environmentListsThatDoNotParseAreRefusedByKey(variable: String, value: String, key: String, reason: String) {
        do {
            _ = try load(#"{"catalog": {"roots": ["/tmp"]}}"#, environment: [variable: value])
            Issue.record("accepted \(variable)=\(value)")
        } catch {
            #expect(error.key == key)
            #expect(error.reason.hasPrefix(reason), "\(error.reason)")
        }
    }

    @Test func addressListsInTheFileAreCheckedToo() {
        #expect(throws: ConfigurationError.self) { _ = try load(#"{"catalog": {"roots": ["/tmp"]}, "status": {"allow": ["localhost"]}}"#) }
        #expect((try? load(#"{"catalog": {"roots": ["/tmp"]}, "status": {"allow": ["all", "unix:", "2001:db8::/32", "0.0.0.0/0"]}}"#)) != nil)
    }

    @Test func malformedFileIsRefused() {
        do {
            _ = try load("{ not json")
            Issue.record("accepted malformed JSON")
        } catch {
            #expect(error.description.hasPrefix("Configuration key '(file)' in "))
            #expect(error.reason.hasPrefix("is not valid JSON"))
        }
    }
}

@Suite struct ShippedFilesTests {
    static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    @Test func shippedNginxSiteIsTheGeneratorOutputForTheExampleConfig() throws {
        let configuration = try ConfigurationLoader.load(file: Self.repository + "/deploy/pxe-catalog.json", environment: [:], checkDirectories: false)
        let generated = NginxConfigGenerator.site(for: configuration, sourceName: "pxe-catalog.json")
        let shipped = try String(contentsOfFile: Self.repository + "/nginx/pxe-catalog.conf", encoding: .utf8)
        #expect(shipped == generated, "regenerate with: pxe-catalog nginx-config --config deploy/pxe-catalog.json > nginx/pxe-catalog.conf")
    }

    @Test func configurationDocsListEveryKey() throws {
        let docs = try String(contentsOfFile: Self.repository + "/docs/configuration.md", encoding: .utf8)
        #expect(docs.contains(ConfigurationKey.markdownReference), "regenerate the table with: pxe-catalog config-reference")
    }

    @Test func generatedSiteHasOneInternalLocationPerRoot() {
        var configuration = Configuration()
        configuration.catalog.roots = ["/srv/a", "/srv/b c"]
        configuration.files.root = "/srv/files"
        let site = NginxConfigGenerator.site(for: configuration, sourceName: "test")
        #expect(site.contains("location /_pxe_internal/0/ {\n        internal;\n        alias \"/srv/a/\";"))
        #expect(site.contains("location /_pxe_internal/1/ {\n        internal;\n        alias \"/srv/b c/\";"))
        #expect(site.contains("location /_pxe_internal/2/ {\n        internal;\n        alias \"/srv/files/\";"))
        #expect(!site.contains("/_pxe_internal/3/"))
        #expect(site.contains("server \"unix:/run/pxe-catalog/fcgi.sock\";"))
    }
}
