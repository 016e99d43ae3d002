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
        #""uefi_boot": "shim-grub", "shim_loader": "\#(secureBootLoaders)/shimx64.efi.signed", "grub_loader": "\#(secureBootLoaders)/grubnetx64.efi.signed""#
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
}
