import Foundation
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

        let verify = try TestServer.run("/usr/bin/systemd-analyze", ["verify", prefix.path + "/lib/systemd/system/pxe-catalog.socket",
                                                                     prefix.path + "/lib/systemd/system/pxe-catalog.service"])
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
    }
}
