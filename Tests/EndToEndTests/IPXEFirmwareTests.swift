import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

/// Real boots: Debian's iPXE ROM in QEMU (software emulation) boots a real Debian kernel and a
/// busybox initramfs, or a disk image's boot sector, from the real nginx + worker. Server and
/// machines run in a network namespace of the test's own with only loopback, so a guest (whose
/// host is 10.0.2.2 through QEMU's user networking) reaches nothing but the test server.
@Suite(.serialized, .enabled(if: FirmwareAvailability.canRun, "needs root, qemu-system-x86_64, Debian's ipxe-qemu ROM and ovmf"))
struct IPXEFirmwareTests {
    /// A namespace with loopback up; removed by `deinit`.
    final class Namespace {
        let name = "pxe-e2e-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        init() throws {
            try #require(try TestServer.run("/usr/sbin/ip", ["netns", "add", name]).status == 0)
            try #require(try TestServer.run("/usr/sbin/ip", ["netns", "exec", name, "ip", "link", "set", "lo", "up"]).status == 0)
        }
        deinit { _ = try? TestServer.run("/usr/sbin/ip", ["netns", "del", name]) }
    }

    struct Machine {
        var mac = "52:54:00:12:34:56"
        var uefi = false
        /// The first script the firmware fetches (below the server's root).
        var bootFile = "/pxe/boot.ipxe"
    }

    /// Boots machines at once until `done` holds for each one's serial output (or `seconds`
    /// pass); stops QEMU by PID. Returns each serial output.
    func boot(_ server: TestServer, _ machines: [Machine], seconds: Double, until done: @escaping (String) -> Bool) throws -> [String] {
        var processes: [(Process, String)] = []
        defer {
            for (qemu, _) in processes where qemu.isRunning {
                kill(qemu.processIdentifier, SIGTERM)
                if !TestServer.waitFor(seconds: 5, { !qemu.isRunning }) { kill(qemu.processIdentifier, SIGKILL) }
            }
            for (qemu, _) in processes { qemu.waitUntilExit() }
        }
        for (index, machine) in machines.enumerated() {
            let serialPath = server.directory.path + "/serial-\(index)-\(UUID().uuidString).log"
            var arguments = machine.uefi
                ? ["-machine", "q35", "-bios", "/usr/share/ovmf/OVMF.fd"]
                : ["-machine", "pc,graphics=off", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
            arguments += ["-m", "256", "-display", "none", "-monitor", "none", "-serial", "file:\(serialPath)", "-boot", "n", "-no-reboot",
                          "-netdev", "user,id=net0,bootfile=http://10.0.2.2:\(server.port)\(machine.bootFile)",
                          "-device", "e1000,netdev=net0,mac=\(machine.mac)" + (machine.uefi ? ",romfile=/usr/lib/ipxe/qemu/efi-e1000.rom" : "")]
            let qemu = Process()
            (qemu.executableURL, qemu.arguments) = server.inNamespace("/usr/bin/qemu-system-x86_64", arguments)
            qemu.standardOutput = FileHandle.nullDevice
            qemu.standardError = FileHandle.nullDevice
            try qemu.run()
            processes.append((qemu, serialPath))
        }
        func serials() -> [String] { processes.map { Self.plainText((try? String(contentsOfFile: $0.1, encoding: .isoLatin1)) ?? "") } }
        _ = TestServer.waitFor(seconds: seconds) { serials().allSatisfy(done) }
        return serials()
    }

    /// Serial output without terminal escape sequences.
    static func plainText(_ raw: String) -> String {
        raw.replacingOccurrences(of: "\u{1B}\\[[0-9;?]*[A-Za-z]", with: " ", options: .regularExpression)
    }

    static var bootParts: String { TestServer.repositoryRoot + "/.build/boot-parts" }

    /// A server in `namespace` with a Linux container (Debian's kernel, the busybox initramfs,
    /// `pxe_name=<name>` on its command line), a disk image, a tampered copy of the Linux one,
    /// and every entry prepared. Returns the server and the entries' ids by name.
    static func server(namespace: Namespace, extraConfig: String, hostsConfig: (_ linuxID: String) -> String = { _ in "" }) throws -> (TestServer, [String: String]) {
        try #require(FileManager.default.fileExists(atPath: bootParts + "/vmlinuz"), "make boot-parts (part of make test) builds the kernel and initramfs")
        let server = TestServer(extraConfig: extraConfig, namespace: namespace.name)
        let linux = server.catalogRoot + "/linux.rts.png"
        // no_timer_check: under software emulation on a busy host the guest's timer ticks come
        // late, and the kernel's IO-APIC timer check panics ("IO-APIC + timer doesn't work!").
        let packed = try TestServer.run(TestServer.binary, ["pack", linux, "--kernel", bootParts + "/vmlinuz", "--initrd", bootParts + "/initrd.img",
                                                            "--cmdline", "console=ttyS0 panic=-1 no_timer_check pxe_name=test-linux", "--name", "Test Linux"])
        try #require(packed.status == 0, "\(packed.stderr)")
        let demo = TemporaryDirectory()
        _ = try TestServer.run(TestServer.binary, ["demo-catalog", demo.path])
        try FileManager.default.copyItem(atPath: demo.path + "/demo-disk.rts.png", toPath: server.catalogRoot + "/disk.rts.png")
        var tampered = [UInt8](try Data(contentsOf: URL(fileURLWithPath: linux)))
        tampered[tampered.count / 3] ^= 0x20
        server.directory.write(tampered, to: "catalog/tampered.rts.png")
        let hosts = hostsConfig(CatalogEntry.id(forRealPath: linux))
        if !hosts.isEmpty { server.extraConfig += ", " + hosts }
        try server.start()
        let ids = ["linux": CatalogEntry.id(forRealPath: linux), "disk": CatalogEntry.id(forRealPath: server.catalogRoot + "/disk.rts.png"),
                   "tampered": CatalogEntry.id(forRealPath: server.catalogRoot + "/tampered.rts.png")]
        // Every entry prepared (or refused) before a machine asks for it.
        try #require(TestServer.waitFor(seconds: 120) {
            guard let body = try? server.request("GET", "/containers").body, case let .array(items)? = try? JSONParser.parse(body)["containers"] else { return false }
            return items.count == 3 && items.allSatisfy { !["pending", "preparing"].contains($0["boot"]?["state"]?.stringValue ?? "pending") }
        })
        return (server, ids)
    }

    static let marker = "PXE-CATALOG-BOOTED"

    /// Whether `serial` holds a whole line (ended) containing `text`: the console is read while
    /// the machine is still writing it.
    static func hasLine(_ text: String, in serial: String) -> Bool {
        guard let found = serial.range(of: text) else { return false }
        return serial[found.upperBound...].contains("\n")
    }

    /// The menu's default (the Linux entry) after a one-second timeout: kernel and initrd come
    /// through nginx, and the kernel runs with the entry's override and the configured append.
    @Test func theMenuDefaultBootsLinuxWithTheOverrideAndTheAppend() throws {
        let namespace = try Namespace()
        let (server, ids) = try Self.server(namespace: namespace, extraConfig: #""menu": {"default": "first", "timeout": 1}, "boot": {"cmdline_append": "pxe_append=configured"}"#)
        defer { server.stop() }
        let linux = try #require(ids["linux"])
        #expect(try server.request("POST", "/pxe/\(linux)/menu", body: #"{"cmdline": "console=ttyS0 panic=-1 no_timer_check pxe_name=overridden", "boot_order": 0}"#).status == 200)
        let menu = try server.request("GET", "/pxe/menu.ipxe").text
        #expect(!menu.contains(try #require(ids["tampered"])), "a container that fails verification is not in the menu")

        let serial = try boot(server, [Machine()], seconds: 240) { Self.hasLine(Self.marker, in: $0) }[0]
        #expect(serial.contains("PXE-CATALOG-BOOTED name=overridden cmdline=[initrd=initrd console=ttyS0 panic=-1 no_timer_check pxe_name=overridden pxe_append=configured]"),
                "serial:\n\(serial.suffix(2000))")
        let access = server.accessLog
        // Every request of the boot carries the machine's identity: boot.ipxe chains the menu with
        // what iPXE knows (as hex), the menu hands the parsed identity on to every URI.
        let machine = "?mac=52%3A54%3A00%3A12%3A34%3A56&"
        let lines = access.split(separator: "\n")
        #expect(lines.contains { $0.contains("\"GET /pxe/menu.ipxe?mac=52-54-00-12-34-56&") && $0.contains(" HTTP/1.1\" 200 ") }, "access log:\n\(access)")
        #expect(lines.contains { $0.contains("\"GET /containers/\(linux)/kernel\(machine)") && $0.contains(" HTTP/1.1\" 200 8") }, "the kernel came through nginx")
        #expect(lines.contains { $0.contains("\"GET /containers/\(linux)/initrd\(machine)") && $0.contains(" HTTP/1.1\" 200 ") })
    }

    /// A disk entry's own script: iPXE's HTTP SAN boot (Range requests) runs its boot sector.
    @Test func aDiskEntryBootsItsBootSectorBySANBoot() throws {
        let namespace = try Namespace()
        let (server, ids) = try Self.server(namespace: namespace, extraConfig: #""menu": {"timeout": 1}"#)
        defer { server.stop() }
        let disk = try #require(ids["disk"])
        let serial = try boot(server, [Machine(bootFile: "/pxe/\(disk)/boot.ipxe")], seconds: 120) { Self.hasLine("PXE-CATALOG-DISK-BOOTED", in: $0) }[0]
        #expect(serial.contains("PXE-CATALOG-DISK-BOOTED name=demo-disk"), "serial:\n\(serial.suffix(2000))")
        #expect(server.accessLog.contains("\"GET /containers/\(disk)/disk HTTP/1.1\" 206"), "SAN boot reads ranges")
    }

    /// A container that fails verification: its entry script says why and boots nothing.
    @Test func aContainerThatFailsVerificationDoesNotBoot() throws {
        let namespace = try Namespace()
        let (server, ids) = try Self.server(namespace: namespace, extraConfig: #""menu": {"timeout": 1}"#)
        defer { server.stop() }
        let tampered = try #require(ids["tampered"])
        let serial = try boot(server, [Machine(bootFile: "/pxe/\(tampered)/boot.ipxe")], seconds: 120) { Self.hasLine("is not ready to boot", in: $0) }[0]
        #expect(serial.contains("is not ready to boot: "), "serial:\n\(serial.suffix(2000))")
        #expect(!serial.contains(Self.marker))
        #expect(!server.accessLog.contains("/containers/\(tampered)/kernel"), "nothing of it was fetched")
    }

    /// Eight machines at once, each with its own MAC, boot the Linux entry; every one comes up.
    @Test func eightMachinesAtOnceAllBootTheLinuxEntry() throws {
        let namespace = try Namespace()
        let (server, ids) = try Self.server(namespace: namespace, extraConfig: #""menu": {"timeout": 1}"#)
        defer { server.stop() }
        let linux = try #require(ids["linux"])
        let machines = (0..<8).map { Machine(mac: String(format: "52:54:00:00:00:%02x", $0 + 1), bootFile: "/pxe/\(linux)/boot.ipxe") }
        let serials = try boot(server, machines, seconds: 480) { Self.hasLine(Self.marker, in: $0) }
        for (index, serial) in serials.enumerated() {
            #expect(serial.contains("PXE-CATALOG-BOOTED name=test-linux"), "machine \(index):\n\(serial.suffix(1500))")
        }
        #expect(server.accessLog.components(separatedBy: "GET /containers/\(linux)/kernel HTTP/1.1\" 200").count == 9)
    }

    /// The same Linux entry on UEFI firmware (OVMF with iPXE's EFI ROM): Debian's kernel has an
    /// EFI stub; there the command line starts with the image's name.
    @Test func theLinuxEntryBootsOnUEFITooAndTheDiskEntrySaysItNeedsABIOS() throws {
        let namespace = try Namespace()
        let (server, ids) = try Self.server(namespace: namespace, extraConfig: #""menu": {"timeout": 1}"#)
        defer { server.stop() }
        let linux = try #require(ids["linux"]), disk = try #require(ids["disk"])
        let serials = try boot(server, [Machine(uefi: true, bootFile: "/pxe/\(linux)/boot.ipxe"),
                                        Machine(mac: "52:54:00:00:00:99", uefi: true, bootFile: "/pxe/\(disk)/boot.ipxe")], seconds: 300) {
            Self.hasLine(Self.marker, in: $0) || Self.hasLine("does not boot with a BIOS", in: $0)
        }
        #expect(serials[0].contains("PXE-CATALOG-BOOTED name=test-linux cmdline=[kernel initrd=initrd console=ttyS0"), "serial:\n\(serials[0].suffix(2000))")
        #expect(serials[1].contains("this machine does not boot with a BIOS"), "serial:\n\(serials[1].suffix(2000))")
    }

    /// Two machines at once, told apart by MAC: a host rule boots the first one's entry at once
    /// (no menu), the second one gets the site's menu and goes to its local disk.
    @Test func twoMachinesAtOnceOneBootsItsEntryDirectlyTheOtherGoesThroughTheMenu() throws {
        let namespace = try Namespace()
        let (server, ids) = try Self.server(namespace: namespace, extraConfig: #""menu": {"default": "local", "timeout": 2}"#) { linux in
            #""hosts": {"rules": [{"name": "reinstall", "match": {"mac": "52:54:00:00:01:01"}, "boot": "\#(linux)", "cmdline_append": "pxe_host=reinstall"}]}"#
        }
        defer { server.stop() }
        let linux = try #require(ids["linux"])
        let serials = try boot(server, [Machine(mac: "52:54:00:00:01:01"), Machine(mac: "52:54:00:00:01:02")], seconds: 300) {
            Self.hasLine(Self.marker, in: $0) || Self.hasLine("Booting from local disk", in: $0)
        }
        #expect(serials[0].contains("PXE-CATALOG-BOOTED name=test-linux cmdline=[initrd=initrd console=ttyS0 panic=-1 no_timer_check pxe_name=test-linux pxe_host=reinstall]"),
                "serial:\n\(serials[0].suffix(2000))")
        #expect(!serials[0].contains("pxe-catalog boot menu"), "no menu was shown")
        #expect(serials[1].contains("Booting from local disk") && serials[1].contains("pxe-catalog boot menu"), "serial:\n\(serials[1].suffix(2000))")
        #expect(!serials[1].contains(Self.marker))
        // Every request of the first machine's boot after boot.ipxe (the DHCP boot file, fetched
        // before the machine has said anything) is attributed to it.
        let access = server.accessLog
        #expect(access.contains("GET /containers/\(linux)/kernel?mac=52%3A54%3A00%3A00%3A01%3A01"), "access log:\n\(access)")
        let boots = try JSONParser.parse(server.request("GET", "/boots", headers: ["Authorization: Bearer \(TestServer.adminToken)"]).body)
        guard case let .array(events)? = boots["boots"] else { Issue.record("no boots"); return }
        let first = events.filter { $0["mac"] == .string("52:54:00:00:01:01") }.compactMap { $0["kind"]?.stringValue }
        #expect(Set(first).isSuperset(of: ["menu", "entry_script", "kernel", "initrd"]), "\(first)")
        #expect(events.contains { $0["mac"] == .string("52:54:00:00:01:01") && $0["outcome"] == .string("direct:reinstall") })
        #expect(events.contains { $0["mac"] == .string("52:54:00:00:01:02") && $0["outcome"] == .string("menu") })
    }

    @Test func localDefaultBootsFromTheLocalDisk() throws {
        let namespace = try Namespace()
        let (server, _) = try Self.server(namespace: namespace, extraConfig: #""menu": {"default": "local", "timeout": 1}"#)
        defer { server.stop() }
        let serial = try boot(server, [Machine()], seconds: 120) { Self.hasLine("Booting from local disk", in: $0) }[0]
        #expect(serial.contains("Booting from local disk"))
        #expect(!server.accessLog.contains("/kernel HTTP"), "no kernel was fetched")
    }

    /// `pxe-catalog try-boot` against a server on the host's loopback (no namespace: the guest is
    /// isolated by QEMU's restricted user network and reaches only the forwarded server).
    @Test func tryBootSeesTheGuestComeUp() throws {
        let server = TestServer(extraConfig: #""menu": {"default": "first", "timeout": 1}"#)
        try #require(FileManager.default.fileExists(atPath: Self.bootParts + "/vmlinuz"))
        let packed = try TestServer.run(TestServer.binary, ["pack", server.catalogRoot + "/linux.rts.png", "--kernel", Self.bootParts + "/vmlinuz",
                                                            "--initrd", Self.bootParts + "/initrd.img", "--cmdline", "console=ttyS0 panic=-1 no_timer_check pxe_name=try-boot"])
        try #require(packed.status == 0)
        try server.start()
        defer { server.stop() }
        #expect(TestServer.waitFor(seconds: 120) { (try? server.request("GET", "/pxe/menu.ipxe").text.contains(":entry1")) == true })
        let result = try TestServer.run(TestServer.binary, ["try-boot", "http://127.0.0.1:\(server.port)/", "--quiet", "--timeout", "240"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // The last line names the entry the menu booted (its display name: the file's name).
        let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("try-boot: \"linux\" came up on BIOS in ") && last.contains(" s: PXE-CATALOG-BOOTED name=try-boot "), "\(last)")
        let failing = try TestServer.run(TestServer.binary, ["try-boot", "http://127.0.0.1:\(server.port)/", "--entry", "ffffffffffff", "--quiet", "--timeout", "120"])
        #expect(failing.status == 1)
        #expect(failing.stderr.contains("try-boot: "), "\(failing.stderr)")
    }
}

enum FirmwareAvailability {
    /// Not under a sanitizer (the ThreadSanitizer pass sets E2E_SANITIZER): these boots ran in the plain pass.
    static var canRun: Bool {
        ProcessInfo.processInfo.environment["E2E_SANITIZER"] == nil && geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64")
            && FileManager.default.fileExists(atPath: "/usr/lib/ipxe/qemu/efi-e1000.rom")
            && FileManager.default.fileExists(atPath: "/usr/share/ovmf/OVMF.fd")
    }
}
