import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

/// Answer files through the real nginx and worker: the URL an entry script carries, what it
/// gives once and refuses after, the admin's listing and preview, the boot log, and a template
/// that breaks refused by check-config and by SIGHUP (which keeps the running set).
@Suite struct ProvisionEndToEndTests {
    static let admin = ["Authorization: Bearer \(TestServer.adminToken)"]
    static let mac = "52:54:00:66:00:01"
    static let macPath = "52-54-00-66-00-01"

    @Test func anEntryScriptsURLGivesTheMachinesAnswersOnceAndABrokenTemplateIsRefused() throws {
        let bootParts = IPXEFirmwareTests.bootParts
        try #require(FileManager.default.fileExists(atPath: bootParts + "/vmlinuz"), "make boot-parts (part of make test) builds the kernel and initramfs")
        let server = TestServer()
        let directory = server.directory.path
        let container = server.catalogRoot + "/installer.rts.png"
        let packed = try TestServer.run(TestServer.binary, ["pack", container, "--kernel", bootParts + "/vmlinuz", "--initrd", bootParts + "/initrd.img", "--name", "Installer"])
        try #require(packed.status == 0, "\(packed.stderr)")
        let id = CatalogEntry.id(forRealPath: container)
        let template = directory + "/answers/debian.preseed"
        try FileManager.default.createDirectory(atPath: directory + "/answers", withIntermediateDirectories: true)
        try "d-i netcfg/get_hostname string {{hostname}}\nd-i mirror/country string {{labels.country}}\n".write(toFile: template, atomically: true, encoding: .utf8)
        try """
            {"entries": [{"id": "\(id)", "cmdline": "auto=true priority=critical url=${provision_url}", "answers": "debian"}],
             "hosts": {"rules": [{"name": "web", "match": {"mac": "\(Self.mac)"}, "vars": {"hostname": "web-1"}}],
                       "labels": {"\(Self.mac)": {"country": "NL"}}}}
            """.write(toFile: directory + "/menu.json", atomically: true, encoding: .utf8)
        server.extraConfig = #""menu": {"file": "\#(directory)/menu.json"}, "provision": {"templates": "\#(directory)/answers"}"#
        try server.start()
        defer { server.stop() }
        try #require(TestServer.waitFor(seconds: 120) {
            (try? server.request("GET", "/pxe/\(id)/boot.ipxe").text.contains("initrd --name initrd")) == true
        }, "the container was prepared")

        // The admin's view: the template, who uses it, and what the machine would get.
        #expect(try server.request("GET", "/provision/templates").status == 401)
        let listing = try JSONParser.parse(server.request("GET", "/provision/templates", headers: Self.admin).body)
        #expect(listing["templates"]?[0]?["name"] == .string("debian") && listing["templates"]?[0]?["entries"] == .array([.string(id)]), "\(listing)")
        let preview = try server.request("GET", "/provision/preview/\(id)?mac=\(Self.macPath)", headers: Self.admin)
        #expect(preview.status == 200 && preview.text == "d-i netcfg/get_hostname string web-1\nd-i mirror/country string NL\n", "\(preview.text)")
        #expect(try server.request("GET", "/provision/preview/\(id)?mac=\(Self.macPath)").status == 401)

        // The machine's entry script carries its URL; nginx passes the fetch to the worker.
        let script = try server.request("GET", "/pxe/\(id)/boot.ipxe?mac=\(Self.macPath)").text
        let url = try #require(script.split(separator: " ").first { $0.hasPrefix("url=http://") }.map { String($0.dropFirst(4)) }, "\(script)")
        let path = try #require(url.range(of: "/provision/").map { String(url[$0.lowerBound...]) })
        #expect(path.hasPrefix("/provision/\(Self.macPath)/") && path.hasSuffix("/debian.preseed"))
        let served = try server.request("GET", path)
        #expect(served.status == 200 && served.text == preview.text && served.headers["cache-control"] == "no-store")
        #expect(served.headers["content-type"] == "text/plain; charset=utf-8")
        let again = try server.request("GET", path)
        let refusal = try JSONParser.parse(again.body)["error"]?.stringValue ?? ""
        #expect(again.status == 410 && refusal.contains("already used"), "\(refusal)")
        let other = try server.request("GET", path.replacingOccurrences(of: Self.macPath, with: "52-54-00-66-00-02"))
        #expect(other.status == 403 && !other.text.contains("web-1"))
        #expect(try server.request("GET", "/provision/\(Self.macPath)/\(String(repeating: "f", count: 32))/debian.preseed").status == 404)
        // "This machine fetched its answers at ...": the machine's own page.
        let host = try JSONParser.parse(server.request("GET", "/hosts/\(Self.mac)", headers: Self.admin).body)
        guard case let .array(boots)? = host["recent_boots"] else { Issue.record("no boots: \(host)"); return }
        #expect(boots.contains { $0["kind"] == .string("answers") && $0["status"] == .int(200) && $0["outcome"] == .string("served debian.preseed (debian)") },
                "\(boots)")
        #expect(!server.workerLog.contains("web-1"), "answer bodies are never logged")

        // A template broken on disk: check-config names file and line; SIGHUP keeps the running set.
        try "d-i netcfg/get_hostname string {{hostname}}\nd-i netcfg/get_domain string {{domian}}\n".write(toFile: template, atomically: true, encoding: .utf8)
        let check = try TestServer.run(TestServer.binary, ["check-config", "--config", server.configPath])
        #expect(check.status != 0 && check.stderr.contains("debian.preseed") && check.stderr.contains("line 2: {{domian}}"), "\(check.stderr)")
        let worker = try #require(server.workerProcess)
        kill(worker.processIdentifier, SIGHUP)
        #expect(TestServer.waitFor(seconds: 20) { server.workerLog.contains("Keeping the running configuration") }, "\(server.workerLog)")
        #expect(server.workerLog.contains("line 2: {{domian}}"))
        #expect(try server.request("GET", "/provision/preview/\(id)?mac=\(Self.macPath)", headers: Self.admin).text == preview.text)
    }
}
