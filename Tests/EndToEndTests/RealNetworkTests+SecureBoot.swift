import Foundation
import PXECatalog
import StrictJSON
import TestSupport
import Testing

/// UEFI machines with Secure Boot on: the firmware (OVMF with Microsoft's keys) loads Debian's
/// signed shim by TFTP, shim loads Debian's signed network GRUB, GRUB reads the menu the worker
/// keeps in the TFTP root and loads the entry's kernel and initrd by TFTP.
extension RealNetworkTests {
    static var secureBootLoaders: String { TestServer.repositoryRoot + "/.build/secure-boot" }

    static var shimGRUB: String {
        // The default uefi_boot, with the loaders `make secure-boot-loaders` unpacked (nothing installed).
        #""shim_loader": "\#(secureBootLoaders)/shimx64.efi.signed", "grub_loader": "\#(secureBootLoaders)/grubnetx64.efi.signed""#
    }

    @Test func aSecureBootMachineBootsTheSignedKernelThroughShimAndGRUB() throws {
        try #require(FileManager.default.fileExists(atPath: Self.secureBootLoaders + "/shimx64.efi.signed"),
                     "make secure-boot-loaders (part of make test) unpacks Debian's signed shim and GRUB")
        let lab = try NetworkLab()
        let stack = try Self.stack(lab, dhcp: Self.serverMode + ", " + Self.shimGRUB)
        defer { stack.server.stop() }
        let tftp = stack.server.directory.path + "/tftp"
        // The worker keeps GRUB's menu and the entry's parts in the TFTP root.
        try #require(TestServer.waitFor(seconds: 30) {
            ((try? String(contentsOfFile: tftp + "/grub/grub.cfg", encoding: .utf8)) ?? "").contains("linux /pxe-catalog/\(stack.linux)/kernel")
        }, "grub/grub.cfg offers the Linux entry")
        #expect(FileManager.default.fileExists(atPath: tftp + "/pxe-catalog/\(stack.linux)/kernel"))
        let mac = "52:54:00:77:30:01"
        var machine = LabMachine(.uefiSecureBootPXE, mac: mac)
        // With 256 MiB the kernel's EFI stub (6.1.0-57) fails to decompress itself after
        // shim and GRUB: "XZ-compressed data is corrupt". 1 GiB boots.
        machine.memoryMiB = 1024
        let serial = try LabMachine.boot([machine], in: lab, directory: stack.server.directory.path, seconds: 300) {
            LabMachine.hasLine(Self.marker, in: $0)
        }[0]
        #expect(serial.contains(Self.marker), "serial:\n\(serial.suffix(4000))")
        #expect(serial.contains("Secure boot enabled"), "the kernel says Secure Boot is on")
        let events = Self.waitForBootLog(stack.server, mac: mac) { events in
            events.contains { $0["outcome"]?.stringValue == "pxe-catalog/\(stack.linux)/initrd" }
        }
        let sent = events.filter { $0["kind"]?.stringValue == "tftp" && $0["status"] == .int(200) }.compactMap { $0["outcome"]?.stringValue }
        for file in ["shimx64.efi", "grubx64.efi", "grub/grub.cfg", "pxe-catalog/\(stack.linux)/kernel", "pxe-catalog/\(stack.linux)/initrd"] {
            #expect(sent.contains(file), "dnsmasq sent \(file): \(Self.summary(events))")
        }
        #expect(events.first { $0["kind"]?.stringValue == "dhcp" }?["outcome"]?.stringValue == "uefi: shimx64.efi", "\(Self.summary(events))")
    }

    /// A copy of `kernel` without its Authenticode signature: the PE certificate table's entry
    /// (data directory 4) zeroed and the table cut off the end, as an unsigned build would be.
    static func unsignedCopy(of kernel: String, to path: String) throws {
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: kernel)))
        func u32(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
        let pe = u32(0x3C)
        try #require(Array(bytes[pe..<pe + 4]) == [0x50, 0x45, 0, 0], "a PE image")
        let optional = pe + 24
        try #require(bytes[optional] == 0x0B && bytes[optional + 1] == 0x02, "PE32+")
        let entry = optional + 112 + 4 * 8
        let (offset, size) = (u32(entry), u32(entry + 4))
        try #require(offset > 0 && size > 0 && offset + size <= bytes.count, "Debian's kernel is signed")
        for index in entry..<entry + 8 { bytes[index] = 0 }
        bytes.removeSubrange(offset..<min(offset + size, bytes.count))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static let unsignedMarker = "PXE-CATALOG-BOOTED name=lab-unsigned"

    /// The stack with a second container whose kernel is unsigned, and a one-shot that boots it
    /// on `mac`; answers its id once GRUB's tree has the machine's file.
    static func unsignedOneShot(_ stack: Stack, mac: String) throws -> String {
        let bootParts = IPXEFirmwareTests.bootParts
        let server = stack.server
        let kernel = server.directory.path + "/vmlinuz-unsigned"
        try unsignedCopy(of: bootParts + "/vmlinuz", to: kernel)
        let container = server.catalogRoot + "/unsigned.rts.png"
        let packed = try TestServer.run(TestServer.binary, ["pack", container, "--kernel", kernel, "--initrd", bootParts + "/initrd.img",
                                                            "--cmdline", "console=ttyS0 panic=-1 no_timer_check pxe_name=lab-unsigned", "--name", "Unsigned Linux"])
        try #require(packed.status == 0, "\(packed.stderr)")
        // POSTs carry the admin token by themselves.
        _ = try server.request("POST", "/catalog/refresh", body: "")
        let id = CatalogEntry.id(forRealPath: container)
        let tftp = server.directory.path + "/tftp"
        try #require(TestServer.waitFor(seconds: 120) { FileManager.default.fileExists(atPath: tftp + "/pxe-catalog/\(id)/kernel") }, "the unsigned container was prepared")
        let set = try server.request("POST", "/hosts/\(mac)/next-boot", headers: ["Content-Type: application/json"], body: #"{"entry": "\#(id)"}"#)
        try #require(set.status == 200, "\(set.text)")
        let own = tftp + "/grub/host-" + mac.replacingOccurrences(of: ":", with: "-") + ".cfg"
        try #require(TestServer.waitFor(seconds: 10) {
            ((try? String(contentsOfFile: own, encoding: .utf8)) ?? "").contains("set timeout=0")
        }, "the machine's own GRUB menu boots the one-shot at once")
        return id
    }

    /// The one-shot was taken when GRUB fetched its kernel: the boot log says so, the machine's
    /// file is gone and the shared menu no longer sends it there.
    static func expectOneShotTaken(_ stack: Stack, mac: String, entry: String) throws {
        let events = waitForBootLog(stack.server, mac: mac) { events in
            events.contains { $0["kind"]?.stringValue == "kernel" && $0["outcome"]?.stringValue == "tftp, next-boot" }
        }
        #expect(events.contains { $0["kind"]?.stringValue == "kernel" && $0["entry_id"]?.stringValue == entry && $0["outcome"]?.stringValue == "tftp, next-boot" },
                "\(summary(events))")
        let host = try JSONParser.parse(stack.server.request("GET", "/hosts/\(mac)", headers: ["Authorization: Bearer \(TestServer.adminToken)"]).body)
        #expect(host["next_boot"] == .null, "taken once")
        let tftp = stack.server.directory.path + "/tftp"
        #expect(TestServer.waitFor(seconds: 10) {
            !FileManager.default.fileExists(atPath: tftp + "/grub/host-" + mac.replacingOccurrences(of: ":", with: "-") + ".cfg")
        }, "its next boot gets the shared menu")
    }

    @Test func aSecureBootMachineRefusesAnUnsignedKernelAndSaysSo() throws {
        let lab = try NetworkLab()
        let stack = try Self.stack(lab, dhcp: Self.serverMode + ", " + Self.shimGRUB)
        defer { stack.server.stop() }
        let mac = "52:54:00:77:30:02"
        let unsigned = try Self.unsignedOneShot(stack, mac: mac)
        // The catalog says which kernel is signed, and the shared menu marks the other.
        let listing = try JSONParser.parse(stack.server.request("GET", "/containers").body)
        guard case let .array(containers)? = listing["containers"] else { Issue.record("no containers"); return }
        let boot = { (id: String) in containers.first { $0["id"]?.stringValue == id }?["boot"] }
        #expect(boot(stack.linux)?["secure_boot"] == .string("signed"))
        #expect(boot(stack.linux)?["secure_boot_signer"]?.stringValue?.contains("Debian Secure Boot") == true)
        #expect(boot(unsigned)?["secure_boot"] == .string("unsigned") && boot(unsigned)?["secure_boot_signer"] == .null)
        let shared = try String(contentsOfFile: stack.server.directory.path + "/tftp/grub/grub.cfg", encoding: .utf8)
        #expect(shared.contains("Unsigned Linux (unsigned kernel: needs Secure Boot off)'"), "\(shared)")
        var machine = LabMachine(.uefiSecureBootPXE, mac: mac)
        machine.memoryMiB = 1024
        let serial = try LabMachine.boot([machine], in: lab, directory: stack.server.directory.path, seconds: 300) {
            $0.contains("bad shim signature") || $0.contains("PXE-CATALOG-BOOTED")
        }[0]
        #expect(serial.contains("bad shim signature"), "shim refused it, on the console:\n\(serial.suffix(3000))")
        #expect(!serial.contains("PXE-CATALOG-BOOTED"))
        try Self.expectOneShotTaken(stack, mac: mac, entry: unsigned)
    }

    /// Secure Boot off: the same shim and GRUB boot both kernels, the unsigned one (a one-shot)
    /// and the signed one (the menu's default), on two machines at once.
    @Test func withSecureBootOffShimAndGRUBBootSignedAndUnsignedKernels() throws {
        let lab = try NetworkLab()
        let stack = try Self.stack(lab, dhcp: Self.serverMode + ", " + Self.shimGRUB)
        defer { stack.server.stop() }
        let mac = "52:54:00:77:30:03"
        let unsigned = try Self.unsignedOneShot(stack, mac: mac)
        var machines = [LabMachine(.uefiPXE, mac: mac), LabMachine(.uefiPXE, mac: "52:54:00:77:30:04")]
        for index in machines.indices { machines[index].memoryMiB = 1024 }
        let serials = try LabMachine.boot(machines, in: lab, directory: stack.server.directory.path, seconds: 300) {
            LabMachine.hasLine("PXE-CATALOG-BOOTED", in: $0)
        }
        #expect(serials[0].contains(Self.unsignedMarker), "the one-shot's unsigned kernel:\n\(serials[0].suffix(3000))")
        #expect(serials[1].contains(Self.marker), "the menu's signed kernel:\n\(serials[1].suffix(3000))")
        #expect(serials.allSatisfy { $0.contains("NBP filename is shimx64.efi") && !$0.contains("Secure boot enabled") })
        try Self.expectOneShotTaken(stack, mac: mac, entry: unsigned)
    }
}
