import Foundation
import PXECatalog
import TestSupport
import Testing

/// The rollout kit: `make install-files`, the systemd units, the Ansible role.
@Suite(.serialized) struct DeploymentTests {
    static let root = TestServer.repositoryRoot

    @Test func installPutsEveryFileInPlaceAndTheUnitsPassSystemdAnalyzeVerify() throws {
        let prefix = TemporaryDirectory("pxe-catalog-install")
        let make = try TestServer.run("/usr/bin/make", ["-C", Self.root, "-s", "install-files", "INSTALL_BIN=\(TestServer.binary)",
                                                         "PREFIX=\(prefix.path)", "SYSCONFDIR=\(prefix.path)/etc"])
        try #require(make.status == 0, "\(make.stderr)")
        for file in ["bin/pxe-catalog", "lib/systemd/system/pxe-catalog.service", "lib/systemd/system/pxe-catalog.socket",
                     "lib/systemd/system/pxe-catalog-dnsmasq.service", "etc/logrotate.d/pxe-catalog",
                     "lib/sysusers.d/pxe-catalog.conf", "share/doc/pxe-catalog/config.example.json",
                     "share/doc/pxe-catalog/nginx-site.example.conf", "etc/pxe-catalog/config.json",
                     "share/pxe-catalog/static/openapi.json", "share/doc/pxe-catalog/openapi.yaml",
                     "share/bash-completion/completions/pxe-catalog", "share/zsh/site-functions/_pxe-catalog",
                     "share/fish/vendor_completions.d/pxe-catalog.fish"] {
            #expect(FileManager.default.fileExists(atPath: prefix.path + "/" + file), "\(file) missing")
        }
        // The example configuration names where this installation put the static files.
        let example = try String(contentsOfFile: prefix.path + "/share/doc/pxe-catalog/config.example.json", encoding: .utf8)
        #expect(example.contains(#""static_root": "\#(prefix.path)/share/pxe-catalog/static""#))
        // bash completion offers the subcommands.
        let completion = try TestServer.run("/bin/bash", ["-c", """
            source "$0"; COMP_WORDS=(pxe-catalog check-c); COMP_CWORD=1; COMP_LINE="pxe-catalog check-c"; COMP_POINT=${#COMP_LINE}
            $(complete -p pxe-catalog | sed -E 's/.*-F ([^ ]+).*/\\1/') pxe-catalog check-c pxe-catalog; printf '%s\\n' "${COMPREPLY[@]}"
            """, prefix.path + "/share/bash-completion/completions/pxe-catalog"])
        #expect(completion.stdout.split(separator: "\n").contains("check-config"), "\(completion.stdout)\(completion.stderr)")
        let service = try String(contentsOfFile: prefix.path + "/lib/systemd/system/pxe-catalog.service", encoding: .utf8)
        #expect(service.contains("ExecStart=\(prefix.path)/bin/pxe-catalog serve --config \(prefix.path)/etc/pxe-catalog/config.json\n"))
        #expect(service.range(of: "@[A-Z_]+@", options: .regularExpression) == nil, "a placeholder was left")
        for hardening in ["ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "StateDirectory=pxe-catalog",
                          "User=pxe-catalog", "ReadOnlyPaths=/srv/pxe-catalog/images"] {
            #expect(service.contains(hardening + "\n"), "\(hardening) missing")
        }
        let socket = try String(contentsOfFile: prefix.path + "/lib/systemd/system/pxe-catalog.socket", encoding: .utf8)
        #expect(socket.contains("ListenStream=/run/pxe-catalog/fcgi.sock\n"))

        let dnsmasq = try String(contentsOfFile: prefix.path + "/lib/systemd/system/pxe-catalog-dnsmasq.service", encoding: .utf8)
        #expect(dnsmasq.contains("ExecCondition=\(prefix.path)/bin/pxe-catalog dnsmasq-config --config \(prefix.path)/etc/pxe-catalog/config.json --enabled\n"),
                "dnsmasq runs only when dhcp.mode is not off")
        #expect(dnsmasq.range(of: "@[A-Z_]+@", options: .regularExpression) == nil, "a placeholder was left")
        #expect(dnsmasq.contains("ExecReload=\(prefix.path)/bin/pxe-catalog dnsmasq-reload --config \(prefix.path)/etc/pxe-catalog/config.json --output /run/pxe-catalog-dnsmasq/dnsmasq.conf\n")
                && dnsmasq.contains("ReloadPropagatedFrom=pxe-catalog.service\n"), "a reload of either unit regenerates dnsmasq's configuration")
        let verify = try TestServer.run("/usr/bin/systemd-analyze", ["verify", prefix.path + "/lib/systemd/system/pxe-catalog.socket",
                                                                     prefix.path + "/lib/systemd/system/pxe-catalog.service",
                                                                     prefix.path + "/lib/systemd/system/pxe-catalog-dnsmasq.service"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stderr.isEmpty, "\(verify.stderr)")

        // A second install keeps an existing configuration.
        try "{}".write(toFile: prefix.path + "/etc/pxe-catalog/config.json", atomically: true, encoding: .utf8)
        _ = try TestServer.run("/usr/bin/make", ["-C", Self.root, "-s", "install-files", "INSTALL_BIN=\(TestServer.binary)",
                                                 "PREFIX=\(prefix.path)", "SYSCONFDIR=\(prefix.path)/etc"])
        #expect(try String(contentsOfFile: prefix.path + "/etc/pxe-catalog/config.json", encoding: .utf8) == "{}")
    }

    @Test func ansibleTemplatesAreGeneratedFromTheShippedUnits() throws {
        let check = try TestServer.run("/bin/bash", [Self.root + "/deploy/ansible/sync-templates.sh", "--check"])
        #expect(check.status == 0, "run deploy/ansible/sync-templates.sh: \(check.stdout)")
    }

    /// The dnsmasq unit's ExecReload (`pxe-catalog dnsmasq-reload`) with dnsmasq's own test of
    /// each candidate: unchanged, nothing happens; changed, a restart of the unit is asked of
    /// systemd (which does not run here: its refusal shows the request was made); a
    /// configuration that cannot be made fails the reload and asks for nothing; dhcp.mode off
    /// asks for a stop. The running file is never touched and no candidate is left behind.
    @Test func theDnsmasqUnitsReloadRestartsOnlyWhenTheConfigurationChanged() throws {
        let directory = TemporaryDirectory("pxe-catalog-dnsmasq-reload")
        let loaders = directory.subdirectory("loaders")
        for loader in ["undionly.kpxe", "snponly.efi", "ipxe.efi"] { directory.write(Array("loader".utf8), to: "loaders/\(loader)") }
        func config(_ dhcp: String) -> String {
            directory.write(Array(#"{"state": {"directory": "\#(directory.path)/state"}, "dhcp": {"loader_directory": "\#(loaders)", "uefi_boot": "ipxe", "user": "root", \#(dhcp)}}"#.utf8),
                            to: "config.json")
        }
        let server = #""mode": "server", "interface": "lo", "range": "127.0.0.100-127.0.0.199""#
        let running = directory.path + "/dnsmasq.conf"
        let made = try TestServer.run(TestServer.binary, ["dnsmasq-config", "--config", config(server), "--output", running])
        try #require(made.status == 0, "\(made.stderr)")
        let original = try String(contentsOfFile: running, encoding: .utf8)
        let unit = "pxe-catalog-reload-test-\(getpid()).service"
        func reload() throws -> TestServer.RunResult {
            try TestServer.run(TestServer.binary, ["dnsmasq-reload", "--config", directory.path + "/config.json", "--output", running, "--unit", unit])
        }

        let unchanged = try reload()
        #expect(unchanged.status == 0 && unchanged.stdout.contains("unchanged: \(unit) keeps running"), "\(unchanged.stdout)\(unchanged.stderr)")
        #expect(!unchanged.stderr.contains("systemctl"), "nothing was asked of systemd: \(unchanged.stderr)")

        _ = config(server + #", "lease_seconds": 600"#)
        let changed = try reload()
        #expect(changed.stdout.contains("changed: restarting \(unit)"), "\(changed.stdout)\(changed.stderr)")
        #expect(changed.stderr.contains("systemctl restart \(unit) failed"), "the restart was asked of systemd: \(changed.stderr)")

        _ = config(#""mode": "server", "interface": "lo", "range": "10.9.0.100-10.9.0.199""#)
        let refused = try reload()
        #expect(refused.status == 1 && refused.stderr.contains("dhcp.range") && !refused.stdout.contains("restarting"), "\(refused.stdout)\(refused.stderr)")
        #expect(!refused.stderr.contains("systemctl"), "nothing was asked of systemd: \(refused.stderr)")

        _ = config(#""mode": "off""#)
        let off = try reload()
        #expect(off.stdout.contains("dhcp.mode is off: stopping \(unit)") && off.stderr.contains("systemctl stop \(unit)"), "\(off.stdout)\(off.stderr)")

        #expect(try String(contentsOfFile: running, encoding: .utf8) == original, "the running configuration is untouched")
        #expect(!FileManager.default.fileExists(atPath: running + ".next"), "no candidate is left behind")
    }

    static var ansiblePlaybook: String { root + "/.build/ansible/bin/ansible-playbook" }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: DeploymentTests.ansiblePlaybook), "ansible-core is installed by make deps"))
    func ansibleRolePassesSyntaxCheckAndACheckModeRunOnLocalhost() throws {
        let playbook = Self.root + "/deploy/ansible/site.yml"
        let syntax = try TestServer.run(Self.ansiblePlaybook, ["-i", "localhost,", "--syntax-check", playbook])
        #expect(syntax.status == 0, "\(syntax.stdout)\(syntax.stderr)")

        let directory = TemporaryDirectory("pxe-catalog-ansible")
        let inventory = directory.write(Array("[pxe_servers]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n".utf8), to: "inventory.ini")
        let check = try TestServer.run(Self.ansiblePlaybook, [
            "-i", inventory, "--check", playbook, "-e", "pxe_catalog_binary_src=\(TestServer.binary)",
            "-e", #"{"pxe_catalog_admin_tokens": ["check-mode-token-0123456789"], "pxe_catalog_roots": ["\#(directory.path)/images"]}"#,
        ], environment: ProcessInfo.processInfo.environment.merging(["ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": directory.path + "/tmp"]) { $1 })
        #expect(check.status == 0, "\(check.stdout.suffix(3000))\(check.stderr.suffix(2000))")
        #expect(check.stdout.contains("failed=0"))

        // With network boot: dnsmasq, the loaders, the unit and the log's rotation join.
        let withDHCP = try TestServer.run(Self.ansiblePlaybook, [
            "-i", inventory, "--check", playbook, "-e", "pxe_catalog_binary_src=\(TestServer.binary)",
            "-e", #"{"pxe_catalog_admin_tokens": ["check-mode-token-0123456789"], "pxe_catalog_roots": ["\#(directory.path)/images"], "pxe_catalog_dhcp_mode": "server", "pxe_catalog_dhcp_interface": "lo", "pxe_catalog_dhcp_range": "127.0.0.100-127.0.0.199"}"#,
        ], environment: ProcessInfo.processInfo.environment.merging(["ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": directory.path + "/tmp"]) { $1 })
        #expect(withDHCP.status == 0 && withDHCP.stdout.contains("failed=0"), "\(withDHCP.stdout.suffix(3000))\(withDHCP.stderr.suffix(2000))")
        #expect(withDHCP.stdout.contains("Install dnsmasq and Debian's iPXE loaders") && withDHCP.stdout.contains("Rotate dnsmasq's log"))
    }

    /// The role's menu-file tasks, run for real into a directory of the test's own, then again
    /// in check mode: the second run changes nothing and its plan says the settings match.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: DeploymentTests.ansiblePlaybook), "ansible-core is installed by make deps"))
    func theRoleInstallsTheMenuFileAndASecondRunInCheckModeChangesNothing() throws {
        let directory = TemporaryDirectory("pxe-catalog-ansible-menu")
        directory.write(PNGFixtures.named("lab"), to: "images/lab/one.rts.png")
        let etc = directory.subdirectory("etc")
        let id = CatalogEntry.id(forRealPath: directory.path + "/images/lab/one.rts.png")
        directory.write(Array(#"{"catalog": {"roots": ["\#(directory.path)/images"]}, "state": {"directory": "\#(directory.path)/state"}, "worker": {"socket": "\#(directory.path)/fcgi.sock"}, "menu": {"file": "\#(etc)/menu.json"}}"#.utf8), to: "etc/config.json")
        let playbook = directory.write(Array("""
        - hosts: all
          gather_facts: false
          vars:
            ansible_service_mgr: none
          tasks:
            - ansible.builtin.import_role:
                name: pxe-catalog
                tasks_from: menu
        """.utf8), to: "menu.yml")
        let variables = #"{"pxe_catalog_config_dir": "\#(etc)", "pxe_catalog_bindir": "\#((TestServer.binary as NSString).deletingLastPathComponent)", "pxe_catalog_menu_file": {"entries": [{"id": "\#(id)", "name": "Lab one", "enabled": true}]}}"#
        let environment = ProcessInfo.processInfo.environment.merging([
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": directory.path + "/tmp", "ANSIBLE_ROLES_PATH": Self.root + "/deploy/ansible/roles",
        ]) { $1 }
        func play(_ extra: [String]) throws -> TestServer.RunResult {
            try TestServer.run(Self.ansiblePlaybook, ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=/usr/bin/python3",
                                                       "-e", variables, playbook] + extra, environment: environment)
        }
        let first = try play([])
        #expect(first.status == 0 && first.stdout.contains("changed=1"), "first run:\n\(first.stdout.suffix(3000))\(first.stderr.suffix(1000))")
        let installed = try String(contentsOfFile: etc + "/menu.json", encoding: .utf8)
        #expect(installed.contains("\"name\": \"Lab one\""))
        // The worker applies it on reload; here the command line does, as a fleet's operator would.
        let apply = try TestServer.run(TestServer.binary, ["apply", "--config", etc + "/config.json"])
        #expect(apply.status == 0 && apply.stdout.contains("~ \(id) lab/one.rts.png: name (the container's) -> \"Lab one\""), "apply: \(apply.stdout)\(apply.stderr)")
        let second = try play(["--check", "--diff"])
        #expect(second.status == 0 && second.stdout.contains("changed=0"), "check-mode run:\n\(second.stdout.suffix(3000))\(second.stderr.suffix(1000))")
        #expect(second.stdout.contains("No changes: the settings match menu.json."), "the plan is shown:\n\(second.stdout.suffix(3000))")
        // A file the worker would reject is not installed.
        let bad = try TestServer.run(Self.ansiblePlaybook, ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=/usr/bin/python3",
                                                             "-e", variables, "-e", #"{"pxe_catalog_menu_file": {"entries": [{"id": "nope"}]}}"#, playbook],
                                     environment: environment)
        #expect(bad.status != 0 && bad.stdout.contains("entries[0].id"), "\(bad.stdout.suffix(2000))")
        #expect(try String(contentsOfFile: etc + "/menu.json", encoding: .utf8) == installed, "the installed file is untouched")
    }
}
