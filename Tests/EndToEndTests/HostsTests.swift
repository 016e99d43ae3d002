import Foundation
import PXECatalog
import PixelRTS
import StrictJSON
import TestSupport
import Testing

/// Per-machine policy, one-shot next boots and the boot log through nginx and the real worker.
@Suite(.serialized) struct HostsTests {
    static let admin = ["Authorization: Bearer \(TestServer.adminToken)"]
    static let staff = "mac=52-54-00-00-00-01&platform=pcbios"
    static let student = "mac=52-54-00-00-00-02&platform=pcbios"

    static func rules(default choice: String, _ ids: [String]) -> String {
        #"[{"name": "students", "match": {"mac": "52:54:00:00:00:02"}, "default": "\#(choice)", "entries": ["\#(ids[1])"]}]"#
    }

    @Test func machinesGetTheirPolicyAOneShotIsUsedOnceAndSurvivesARestart() throws {
        let files = TemporaryDirectory()
        let inputs = files.subdirectory("inputs")
        let catalog = files.subdirectory("catalog")
        var kernel = PixelRTSFixtures.noise(count: 300_000, seed: 41)
        kernel.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        files.write(kernel, to: "inputs/vmlinuz")
        files.write(PixelRTSFixtures.noise(count: 100_000, seed: 42), to: "inputs/initrd.img")
        for name in ["a", "b"] {
            let result = try TestServer.run(TestServer.binary, ["pack", catalog + "/\(name).rts.png", "--kernel", inputs + "/vmlinuz",
                                                                "--initrd", inputs + "/initrd.img", "--name", name.uppercased()])
            try #require(result.status == 0, "pack failed: \(result.stderr)")
        }
        let ids = ["a", "b"].map { CatalogEntry.id(forRealPath: catalog + "/\($0).rts.png") }
        let withRules = TestServer(extraConfig: #""hosts": {"rules": \#(Self.rules(default: ids[1], ids))}"#, catalogRoot: catalog)
        try withRules.start()
        defer { withRules.stop() }
        #expect(TestServer.waitFor(seconds: 120) { (try? withRules.request("GET", "/pxe/menu.ipxe").text.contains("2. B (")) == true })

        // boot.ipxe asks iPXE for the machine's identity.
        #expect(try withRules.request("GET", "/pxe/boot.ipxe").text.contains("menu.ipxe?mac=${net0/mac:hexhyp}&uuid=${uuid}&serial=${serial:hexhyp}"))
        let staffMenu = try withRules.request("GET", "/pxe/menu.ipxe?\(Self.staff)").text
        let studentMenu = try withRules.request("GET", "/pxe/menu.ipxe?\(Self.student)").text
        #expect(staffMenu.contains("set pxe_default local") && staffMenu.contains("1. A (") && staffMenu.contains("2. B ("))
        #expect(studentMenu.contains("set pxe_default entry1") && studentMenu.contains("1. B (") && !studentMenu.contains(". A ("))

        // A kernel fetched with the identity the menu hands on is attributed.
        let kernelResponse = try withRules.request("GET", "/containers/\(ids[1])/kernel?mac=52%3A54%3A00%3A00%3A00%3A02")
        #expect(kernelResponse.status == 200 && kernelResponse.body == kernel)
        let boots = try JSONParser.parse(withRules.request("GET", "/boots?limit=5", headers: Self.admin).body)
        #expect(boots["boots"]?[0]?["kind"] == .string("kernel") && boots["boots"]?[0]?["mac"] == .string("52:54:00:00:00:02"))
        #expect(boots["boots"]?[1]?["outcome"] == .string("rule:students"))
        #expect(try withRules.request("GET", "/boots").status == 401)

        // A one-shot, set, then the worker restarted before the machine boots.
        let set = try withRules.request("POST", "/hosts/52:54:00:00:00:01/next-boot", body: #"{"entry": "\#(ids[1])", "expires_in": 3600}"#)
        #expect(set.status == 200, "\(set.text)")
        #expect(withRules.signalWorker(SIGTERM) == 0)
        try withRules.startWorker()
        let host = try JSONParser.parse(withRules.request("GET", "/hosts/52-54-00-00-00-01", headers: Self.admin).body)
        #expect(host["next_boot"]?["entry_id"] == .string(ids[1]), "kept across the restart")
        // While the restarted worker prepares the entry again, the one-shot waits.
        #expect(TestServer.waitFor(seconds: 120) { (try? withRules.request("GET", "/pxe/menu.ipxe").text.contains("2. B (")) == true })
        let answers = LockedBox<[String]>([])
        let threads = (0..<20).map { _ in
            Thread { if let text = try? withRules.request("GET", "/pxe/menu.ipxe?\(Self.staff)").text { answers.update { $0.append(text) } } }
        }
        for thread in threads { thread.start() }
        #expect(TestServer.waitFor(seconds: 120) { answers.value.count == 20 })
        #expect(answers.value.filter { $0.contains("chain --replace --autofree \(ids[1])/boot.ipxe?mac=52%3A54%3A00%3A00%3A00%3A01") }.count == 1,
                "exactly one of 20 racing requests boots the one-shot")
        #expect(try withRules.request("DELETE", "/hosts/52:54:00:00:00:01/next-boot").status == 404, "used up")
        // Machine summaries are kept in the settings store: those seen before the restart are
        // still known, with their boots counted then (the kernel fetch of ...:02).
        let hosts = try JSONParser.parse(withRules.request("GET", "/hosts", headers: Self.admin).body)
        #expect(hosts["hosts"]?[0]?["mac"] == .string("52:54:00:00:00:01"), "the most recently seen first")
        guard case let .array(known)? = hosts["hosts"] else { Issue.record("no hosts: \(hosts)"); return }
        let student = known.first { $0["mac"] == .string("52:54:00:00:00:02") }
        #expect(student?["boots"] == .int(1) && student?["last_entry"] == .string(ids[1]), "kept across the restart: \(known)")

        // SIGHUP with changed rules applies them to the next menu.
        let original = try String(contentsOfFile: withRules.configPath, encoding: .utf8)
        try original.replacingOccurrences(of: #""default": "\#(ids[1])""#, with: #""default": "local""#)
            .write(toFile: withRules.configPath, atomically: true, encoding: .utf8)
        let worker = try #require(withRules.workerProcess)
        kill(worker.processIdentifier, SIGHUP)
        #expect(TestServer.waitFor(seconds: 20) {
            (try? withRules.request("GET", "/pxe/menu.ipxe?\(Self.student)").text.contains("set pxe_default local")) == true
        })

        // A rule made through the API (kept in the store, listed with its source) shapes the
        // machine's next menu; removed, the machine's policy is the configuration's again.
        let kiosk = "mac=52-54-00-00-00-07"
        #expect(try withRules.request("GET", "/pxe/menu.ipxe?\(kiosk)").text.contains("set pxe_default local"))
        let made = try withRules.request("PUT", "/host-rules/kiosk-7", headers: ["Content-Type: application/json"],
                                         body: #"{"match": {"mac": "52:54:00:00:00:07"}, "default": "\#(ids[0])"}"#)
        #expect(made.status == 201, "\(made.text)")
        #expect(try withRules.request("GET", "/pxe/menu.ipxe?\(kiosk)").text.contains("set pxe_default entry1"))
        let rules = try JSONParser.parse(withRules.request("GET", "/host-rules", headers: Self.admin).body)
        #expect(rules["rules"]?[0]?["source"] == .string("config") && rules["rules"]?[1]?["name"] == .string("kiosk-7")
                && rules["rules"]?[1]?["source"] == .string("api"), "\(rules)")
        #expect(try withRules.request("PUT", "/host-rules/students", headers: ["Content-Type: application/json"], body: "{}").status == 409)
        #expect(try withRules.request("DELETE", "/host-rules/kiosk-7").status == 200)
        #expect(try withRules.request("GET", "/pxe/menu.ipxe?\(kiosk)").text.contains("set pxe_default local"))
    }
}
