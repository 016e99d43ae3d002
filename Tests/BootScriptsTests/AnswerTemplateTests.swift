import BootScripts
import Foundation
import StrictJSON
import TestSupport
import Testing

@Suite struct AnswerTemplateTests {
    static let debian = """
        # {{entry.name}} for {{hostname}} ({{mac}}), from {{server}}
        d-i netcfg/get_hostname string {{hostname}}
        d-i netcfg/get_domain string {{vars.domain}}
        {{#labels.role}}
        d-i pkgsel/include string {{labels.role}}-tools
        {{/labels.role}}
        {{^vars.disk}}
        d-i partman-auto/disk string /dev/sda
        {{/vars.disk}}
        {{#vars.disk}}
        d-i partman-auto/disk string {{vars.disk}}
        {{/vars.disk}}
        d-i preseed/late_command string in-target sh -c {{shell(vars.motd)}}

        """

    static let userData = """
        #cloud-config
        hostname: "{{hostname}}"
        {{#vars.ssh_key}}
        ssh_authorized_keys:
          - "{{vars.ssh_key}}"
        {{/vars.ssh_key}}
        runcmd:
          - ["sh", "-c", "echo {{entry.id}} > /etc/pxe-entry"]

        """

    /// A templates directory with `files` (relative path to text).
    static func directory(_ files: [String: String]) throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        for (path, text) in files {
            let full = directory.path + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        return directory
    }

    static func variables(hostname: String = "web-1", vars: [String: String] = [:]) -> AnswerVariables {
        var variables = AnswerVariables(entryID: "0123456789ab", entryName: "Debian 12 installer", entryCommandLine: "auto=true", template: "debian")
        variables.identity = ["mac": "52:54:00:12:34:56", "platform": "pcbios"]
        variables.vars = ["hostname": hostname].merging(vars) { $1 }
        variables.labels = ["role": "web"]
        variables.server = "http://10.0.0.1"
        variables.address = "10.0.0.50"
        return variables
    }

    @Test func aPreseedAndACloudInitDirectoryRenderTheirGoldenText() throws {
        let directory = try Self.directory(["debian.preseed": Self.debian, "ubuntu/user-data.yaml": Self.userData,
                                            "ubuntu/meta-data.yaml": "instance-id: \"{{mac}}\"\n", ".hidden.txt": "skipped"])
        let set = try AnswerTemplateSet.load(directory: directory.path)
        #expect(set.names == ["debian", "ubuntu"])
        let debian = try #require(set["debian"])
        #expect(!debian.isDirectory && debian.files.map(\.servedName) == ["debian.preseed"] && debian.files[0].format == .preseed)
        let rendered = debian.files[0].render(Self.variables(vars: ["domain": "lab.example", "motd": "echo it's up > /etc/motd"]))
        #expect(rendered == (try IPXEScriptsTests.golden("answers-debian.preseed")))
        // The other branch of a section: a disk given, no role label.
        var other = Self.variables(vars: ["disk": "/dev/vda", "domain": "x", "motd": ""])
        other.labels = [:]
        let otherText = debian.files[0].render(other)
        #expect(otherText.contains("d-i partman-auto/disk string /dev/vda\n") && !otherText.contains("/dev/sda") && !otherText.contains("pkgsel"))

        let ubuntu = try #require(set["ubuntu"])
        #expect(ubuntu.isDirectory && ubuntu.files.map(\.servedName) == ["meta-data", "user-data"])
        let userData = try #require(ubuntu.file(named: "user-data"))
        #expect(userData.render(Self.variables(vars: ["ssh_key": #"ssh-ed25519 AAAAC3 admin@"lab""#])) == (try IPXEScriptsTests.golden("answers-user-data.yaml")))
        #expect(ubuntu.file(named: "meta-data")?.render(Self.variables()) == "instance-id: \"52:54:00:12:34:56\"\n")
    }

    /// A refused template names its file and line, and why.
    @Test(arguments: [
        ("line 1\nline 2\nhost {{hostnme}}\n", 3, "\"hostnme\", which no machine has"),
        ("{{entry.size}}", 1, "not a field of the entry"),
        ("{{vars.a.b}}", 1, "one level deep"),
        ("{{mac.vendor}}", 1, "has no fields"),
        ("a\n{{{hostname}}}", 2, "unescaped"),
        ("a\nb\n{{&hostname}}", 3, "unescaped"),
        ("{{>common}}", 1, "partials"),
        ("{{=<% %>=}}", 1, "delimiters"),
        ("{{% CONTENT_TYPE: TEXT}}", 1, "pragmas"),
        ("x\n{{base64(hostname)}}", 2, "not a known transform"),
        ("{{#vars.disk}}\n{{/vars.role}}", 2, "closes section"),
        ("\n\n{{/hostname}}", 3, "never opened"),
        ("\n{{hostname", 2, "never closed"),
        ("{{ }}", 1, "empty tag"),
        ("{{host name}}", 1, "not a variable name"),
    ] as [(String, Int, String)])
    func aTemplateThatCannotWorkIsRefusedWithItsFileAndLine(source: String, line: Int, reason: String) throws {
        let directory = try Self.directory(["good.ks": "network --hostname={{hostname}}\n", "bad.preseed": source])
        do {
            _ = try AnswerTemplateSet.load(directory: directory.path)
            Issue.record("loaded \(source)")
        } catch {
            #expect(error.file == "bad.preseed" && error.line == line, "\(error)")
            #expect(error.reason.contains(reason), "\(error)")
            #expect(error.description.hasPrefix("bad.preseed line \(line): "))
        }
    }

    @Test func aDirectoryThatCannotBeATemplateSetIsRefusedByName() throws {
        let cases: [([String: String], String, String)] = [
            (["notes.txt": "x"], "notes.txt", "no answer-file extension"),
            (["a.preseed": "x", "a.cfg": "y"], "a.preseed", "second template named \"a\""),
            (["empty/.keep.yaml": "x"], "empty", "holds no template files"),
            (["big.json": String(repeating: "x", count: AnswerFile.maximumBytes + 1)], "big.json", "larger than"),
            (["sec tion.ks": "x"], "sec tion.ks", "not a template name"),
        ]
        for (files, file, reason) in cases {
            let directory = try Self.directory(files)
            #expect(throws: AnswerTemplateError.self) { _ = try AnswerTemplateSet.load(directory: directory.path) }
            do { _ = try AnswerTemplateSet.load(directory: directory.path) } catch {
                #expect(error.file == file && error.reason.contains(reason), "\(error)")
            }
        }
        #expect(throws: AnswerTemplateError.self) { _ = try AnswerTemplateSet.load(directory: "/nonexistent/answers") }
    }

    static let hostile = [
        "web-1\nd-i preseed/late_command string reboot",
        "a\r\nb", "line\u{2028}separator", "next\u{85}line", "tab\there", "nul\u{0}byte",
        #"quote" and 'single' and \backslash"#, "${provision_url} ${HOME} $(touch /tmp/pwned-by-template) `id`",
        "; reboot; #", "x || shutdown && y | z > /etc/passwd", "tag\u{E0041}character",
    ]

    /// The characters that end a line in some reader, as the line formats write them.
    static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { breaks($0) ? " " : $0 }))
    }

    static func breaks(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// Preseed: every value stays on its line (the line count and each line's start do not
    /// move), and `shell(...)` is one word to a real shell, which prints it back as it was.
    @Test(arguments: hostile)
    func aHostileValueStaysOnItsPreseedLineAndIsOneShellWord(value: String) throws {
        let template = """
            d-i netcfg/get_hostname string {{hostname}}
            d-i preseed/early_command string printf '%s' {{shell(vars.note)}}
            d-i passwd/username string {{labels.owner}}

            """
        let file = try AnswerFile(path: "t.preseed", servedName: "t.preseed", format: .preseed, source: template)
        var variables = Self.variables(hostname: value, vars: ["note": value])
        variables.labels = ["owner": value]
        let rendered = file.render(variables)
        let lines = rendered.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines[3].isEmpty, "\(rendered)")
        #expect(lines[0] == "d-i netcfg/get_hostname string " + Self.oneLine(value))
        #expect(lines[2] == "d-i passwd/username string " + Self.oneLine(value))
        #expect(!rendered.unicodeScalars.contains { $0 != "\n" && Self.breaks($0) })
        let command = String(lines[1].dropFirst("d-i preseed/early_command string ".count))
        let shell = try TestServer.run("/bin/sh", ["-c", command])
        #expect(shell.status == 0 && shell.stdout == Self.oneLine(value), "\(command) -> \(shell.stdout)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/pwned-by-template"))
    }

    /// Kickstart: the same line rule.
    @Test(arguments: hostile)
    func aHostileValueStaysOnItsKickstartLine(value: String) throws {
        let file = try AnswerFile(path: "t.ks", servedName: "t.ks", format: .kickstart, source: "network --hostname={{hostname}}\nrootpw --lock\n")
        let rendered = file.render(Self.variables(hostname: value))
        #expect(rendered == "network --hostname=\(Self.oneLine(value))\nrootpw --lock\n")
    }

    /// JSON (Ignition) and YAML (cloud-init): a value inside double quotes is that string
    /// exactly, to a real parser of each (StrictJSON; Debian's python3-yaml).
    @Test(arguments: hostile)
    func aHostileValueIsExactlyItsStringInJSONAndYAML(value: String) throws {
        let json = try AnswerFile(path: "t.ign", servedName: "t.ign", format: .json,
                                  source: #"{"storage": {"files": [{"path": "/etc/hostname", "contents": {"source": "data:,{{hostname}}"}}]}, "note": "{{vars.note}}"}"#)
        let parsed = try JSONParser.parse(Array(json.render(Self.variables(hostname: value, vars: ["note": value])).utf8))
        #expect(parsed["note"] == .string(value))

        let yaml = try AnswerFile(path: "t.yaml", servedName: "t.yaml", format: .yaml, source: "hostname: \"{{hostname}}\"\nruncmd:\n  - \"{{vars.note}}\"\nlast: end\n")
        let rendered = yaml.render(Self.variables(hostname: value, vars: ["note": value]))
        let reader = "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"
        let result = try Self.runWithInput("/usr/bin/python3", ["-c", reader], input: rendered)
        try #require(result.status == 0, "\(result.stderr)\n\(rendered)")
        let document = try JSONParser.parse(Array(result.stdout.utf8))
        #expect(document["hostname"] == .string(value), "\(rendered)")
        #expect(document["runcmd"] == .array([.string(value)]))
        #expect(document["last"] == .string("end"))
    }

    static func runWithInput(_ path: String, _ arguments: [String], input: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let (stdin, stdout, stderr) = (Pipe(), Pipe(), Pipe())
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    /// `${provision_url}` is the one `${` a command line may hold.
    @Test func theAnswerURLPlaceholderIsTheOnlyExpansionACommandLineMayHold() {
        #expect(IPXEText.commandLineProblem("auto=true url=${provision_url}") == nil)
        #expect(IPXEText.commandLineProblem("url=${provision_url} x=${net0/ip}") != nil)
        #expect(IPXEText.commandLineProblem("url=${provision_url") != nil)
    }
}
