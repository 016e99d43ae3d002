import Foundation
import StrictJSON
import TestSupport
import Testing

/// The README's first boot, as a newcomer runs it: `deploy/dev/run.sh` (what `make run` runs)
/// serves the demo catalog on loopback, then `pxe-catalog try-boot URL` (what `make boot-demo`
/// runs) with no entry boots a QEMU machine through the menu. It must come up running the demo's
/// Linux entry, and say so on its last line, on BIOS and on UEFI.
@Suite(.serialized, .enabled(if: FirmwareAvailability.canRun, "needs root, qemu-system-x86_64, Debian's ipxe-qemu ROM and ovmf"))
struct DemoBootTests {
    /// `run.sh` in its own process group (it stops nginx and the worker on SIGTERM), on a free port.
    final class DemoStack {
        let state = TemporaryDirectory("pxe-catalog-demo")
        let port = TestServer.freePort()
        let process = Process()
        var log: String { (try? String(contentsOfFile: state.path + "/run.log", encoding: .utf8)) ?? "" }

        init() throws {
            try #require(FileManager.default.fileExists(atPath: IPXEFirmwareTests.bootParts + "/vmlinuz"),
                         "make boot-parts (part of make test) builds the kernel and initramfs")
            (process.executableURL, process.arguments) = TestServer.withSignalsUnblocked(TestServer.repositoryRoot + "/deploy/dev/run.sh", [TestServer.binary])
            var environment = ProcessInfo.processInfo.environment
            environment["PORT"] = String(port)
            environment["STATE_DIR"] = state.path + "/state"
            environment["CATALOG_DIR"] = nil
            environment["LISTEN"] = nil
            process.environment = environment
            process.currentDirectoryURL = URL(fileURLWithPath: TestServer.repositoryRoot)
            _ = FileManager.default.createFile(atPath: state.path + "/run.log", contents: nil)
            let log = FileHandle(forWritingAtPath: state.path + "/run.log")
            process.standardOutput = log
            process.standardError = log
            try process.run()
        }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                if !TestServer.waitFor(seconds: 20, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
            }
            process.waitUntilExit()
        }

        func get(_ path: String) -> JSONValue? {
            guard let result = try? TestServer.run("/usr/bin/curl", ["-s", "--max-time", "5", "http://127.0.0.1:\(port)\(path)"]),
                  result.status == 0 else { return nil }
            return try? JSONParser.parse(Array(result.stdout.utf8))
        }
    }

    func bootTheDemo(uefi: Bool) throws {
        let demo = try DemoStack()
        // Up, and the Linux entry prepared (a newcomer types the next command a few seconds later).
        let ready = TestServer.waitFor(seconds: 120) {
            guard case let .array(entries)? = demo.get("/pxe")?["pxe_containers"] else { return false }
            return entries.contains { $0["name"]?.stringValue == "Demo Linux (Debian kernel, busybox)" && $0["boot"]?["ready"] == .bool(true) }
        }
        try #require(ready, "the demo did not come up with its Linux entry ready:\n\(demo.log)")
        let index = try #require(demo.get("/"))
        #expect(index["config"]?["menu_default"]?.stringValue?.count == 12, "the demo's menu default is an entry, not the local disk")

        let result = try TestServer.run(TestServer.binary, ["try-boot", "http://127.0.0.1:\(demo.port)/", "--timeout", "300"] + (uefi ? ["--uefi"] : []))
        let lastLine = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(result.status == 0, "try-boot failed:\n\(result.stdout.suffix(3000))\n\(result.stderr)")
        #expect(lastLine.hasPrefix("try-boot: \"Demo Linux (Debian kernel, busybox)\" came up on \(uefi ? "UEFI" : "BIOS") in "), "\(lastLine)")
        #expect(lastLine.contains("PXE-CATALOG-BOOTED name=demo-linux"), "\(lastLine)")
    }

    @Test func makeBootDemoBootsTheDemoLinuxOnBIOS() throws {
        try bootTheDemo(uefi: false)
    }

    @Test func makeBootDemoBootsTheDemoLinuxOnUEFI() throws {
        try bootTheDemo(uefi: true)
    }

    /// What the demo lists: every entry that looks like an operating system boots, and the
    /// examples of what never boots say so in their names.
    @Test func theDemoCatalogNamesItsExamplesAsExamples() throws {
        let directory = TemporaryDirectory()
        let written = try TestServer.run(TestServer.binary, ["demo-catalog", directory.path, "--boot-parts", IPXEFirmwareTests.bootParts])
        #expect(written.status == 0, "\(written.stderr)")
        // It prints the id and path of each container that boots.
        let booting = written.stdout.split(separator: "\n").map { $0.split(separator: "\t").last.map(String.init) ?? "" }
        #expect(booting.map { ($0 as NSString).lastPathComponent } == ["demo-linux.rts.png", "demo-disk.rts.png"])
        let scanned = try TestServer.run(TestServer.binary, ["scan", directory.path])
        guard case let .array(items)? = try JSONParser.parse(Array(scanned.stdout.utf8))["containers"] else {
            Issue.record("scan printed no containers: \(scanned.stdout)")
            return
        }
        let names = items.compactMap { $0["name"]?.stringValue }.sorted()
        #expect(names == ["Demo Linux (Debian kernel, busybox)", "Demo disk (boot sector)", "Example: half-copied file",
                          "Example: metadata only, nothing to boot", "Example: plain PNG with text keys, nothing to boot",
                          "Example, file name with spaces, é and #3"].sorted())
        #expect(!items.contains { $0["distro"]?.stringValue != nil && $0["name"]?.stringValue?.hasPrefix("Demo") == false },
                "no example claims a distribution")
    }
}

/// `make lab` and `make boot-demo NET=lab UEFI=1` as the README says them: deploy/dev/lab.sh
/// starts the namespace, the stack and dnsmasq; try-boot --lab boots a UEFI machine on its bridge
/// through real DHCP; stopping the lab removes the namespace.
@Suite(.serialized, .enabled(if: LabMachine.canRun, "needs root, QEMU, OVMF, dnsmasq and Debian's ipxe"))
struct LabScriptTests {
    @Test func theLabBootsAUEFIMachineAndLeavesNothingBehind() throws {
        let state = TemporaryDirectory("pxe-catalog-lab")
        let namespace = "pxe-lab-test-\(getpid())"
        let process = Process()
        (process.executableURL, process.arguments) = TestServer.supervised(TestServer.repositoryRoot + "/deploy/dev/lab.sh", [TestServer.binary])
        var environment = ProcessInfo.processInfo.environment
        environment["LAB_NAMESPACE"] = namespace
        environment["STATE_DIR"] = state.path + "/state"
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: TestServer.repositoryRoot)
        let log = state.path + "/lab.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                if !TestServer.waitFor(seconds: 30, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
            }
            process.waitUntilExit()
            _ = try? TestServer.run("/usr/sbin/ip", ["netns", "del", namespace])
        }
        func text() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        try #require(TestServer.waitFor(seconds: 120) { text().contains("The lab is up") || !process.isRunning }, "the lab did not come up:\n\(text())")
        try #require(process.isRunning, "\(text())")
        // The demo's Linux entry prepared (a person types the next command a few seconds later).
        _ = TestServer.waitFor(seconds: 60) { text().contains("prepared demo-linux.rts.png") }
        let boot = try TestServer.run(TestServer.binary, ["try-boot", "http://10.77.0.1/", "--lab", namespace, "--uefi", "--quiet", "--timeout", "300"])
        #expect(boot.status == 0, "\(boot.stdout)\(boot.stderr)\n\(text().suffix(2000))")
        #expect(boot.stdout.contains("try-boot: \"Demo Linux (Debian kernel, busybox)\" came up on UEFI"), "\(boot.stdout)")
        let leases = (try? String(contentsOfFile: state.path + "/state/state/dnsmasq.leases", encoding: .utf8)) ?? ""
        #expect(leases.contains("52:54:00:12:34:56"), "the machine got its address from the lab's dnsmasq")

        kill(process.processIdentifier, SIGTERM)
        #expect(TestServer.waitFor(seconds: 30) { !process.isRunning })
        let namespaces = try TestServer.run("/usr/sbin/ip", ["netns", "list"]).stdout
        #expect(!namespaces.contains(namespace), "the lab's namespace is removed")
        #expect(text().contains("lab stopped"))
    }
}
