import Foundation

/// A QEMU machine (software emulation) on a lab's bridge, booting from the network the way a
/// real one does: its firmware's own PXE (UEFI: OVMF with a virtio NIC and no option ROM), UEFI
/// HTTP Boot, or a BIOS with the NIC's iPXE ROM (QEMU's default). Serial console to a file.
public struct LabMachine: Sendable {
    public enum Firmware: String, Sendable {
        case uefiPXE = "UEFI PXE", uefiHTTPBoot = "UEFI HTTP Boot", bios = "BIOS"
        /// OVMF with Microsoft's keys enrolled and Secure Boot on (SMM, secure flash).
        case uefiSecureBootPXE = "UEFI PXE, Secure Boot"
    }

    public var firmware: Firmware
    public var mac: String
    public var memoryMiB = 256
    /// BIOS only: boot this kernel, initrd and command line straight away (QEMU's `-kernel`),
    /// with the network card on the bridge, as a machine does that was handed a boot earlier.
    public var directKernel: (kernel: String, initrd: String, commandLine: String)?

    public init(_ firmware: Firmware, mac: String) {
        self.firmware = firmware
        self.mac = mac
    }

    public static var canRun: Bool {
        ProcessInfo.processInfo.environment["E2E_SANITIZER"] == nil && geteuid() == 0
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/dnsmasq")
            && FileManager.default.fileExists(atPath: "/usr/share/OVMF/OVMF_CODE_4M.fd")
            && FileManager.default.fileExists(atPath: "/usr/lib/ipxe/snponly.efi")
    }

    /// The serial output, without terminal escape sequences.
    static func plainText(_ raw: String) -> String {
        raw.replacingOccurrences(of: "\u{1B}\\[[0-9;?]*[A-Za-z]", with: " ", options: .regularExpression)
    }

    /// Boots `machines` at once on `lab`'s bridge until `done` holds for each one's serial
    /// output (or `seconds` pass), then stops them by PID. Returns each serial output.
    public static func boot(_ machines: [LabMachine], in lab: NetworkLab, directory: String, seconds: Double,
                            until done: @escaping (String) -> Bool) throws -> [String] {
        var processes: [(Process, String)] = []
        defer {
            for (qemu, _) in processes where qemu.isRunning {
                kill(qemu.processIdentifier, SIGTERM)
                if !TestServer.waitFor(seconds: 5, { !qemu.isRunning }) { kill(qemu.processIdentifier, SIGKILL) }
            }
            for (qemu, _) in processes { qemu.waitUntilExit() }
        }
        for (index, machine) in machines.enumerated() {
            let tap = try lab.tap()
            let name = "\(directory)/machine-\(index)-\(machine.mac.replacingOccurrences(of: ":", with: ""))"
            let serial = name + ".serial"
            var arguments = ["-m", String(machine.memoryMiB), "-display", "none", "-monitor", "none", "-serial", "file:\(serial)", "-no-reboot",
                             "-netdev", "tap,id=n0,ifname=\(tap),script=no,downscript=no"]
            switch machine.firmware {
            case .bios:
                arguments += ["-machine", "pc,graphics=off", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                              "-device", "virtio-net-pci,netdev=n0,mac=\(machine.mac)"]
                if let direct = machine.directKernel {
                    arguments += ["-kernel", direct.kernel, "-initrd", direct.initrd, "-append", direct.commandLine]
                } else {
                    arguments += ["-boot", "n"]
                }
            case .uefiSecureBootPXE:
                let variables = name + ".vars.fd"
                try FileManager.default.copyItem(atPath: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", toPath: variables)
                arguments += ["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on",
                              "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.ms.fd",
                              "-drive", "if=pflash,format=raw,unit=1,file=\(variables)",
                              "-device", "virtio-net-pci,netdev=n0,mac=\(machine.mac),romfile="]
            case .uefiPXE, .uefiHTTPBoot:
                let variables = name + ".vars.fd"
                if machine.firmware == .uefiHTTPBoot {
                    let made = try TestServer.run(TestServer.repositoryRoot + "/.build/tools/bin/python",
                                                  [TestServer.repositoryRoot + "/Tests/Scripts/http_boot_vars.py", "/usr/share/OVMF/OVMF_VARS_4M.fd", variables])
                    guard made.status == 0 else { throw TestServerError(message: "http_boot_vars.py failed: \(made.stderr)") }
                } else {
                    try FileManager.default.copyItem(atPath: "/usr/share/OVMF/OVMF_VARS_4M.fd", toPath: variables)
                }
                // No option ROM (`romfile=`): the firmware's own network stack boots.
                arguments += ["-machine", "q35",
                              "-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                              "-drive", "if=pflash,format=raw,file=\(variables)",
                              "-device", "virtio-net-pci,netdev=n0,mac=\(machine.mac),romfile="]
            }
            let qemu = try lab.start("/usr/bin/qemu-system-x86_64", arguments, log: name + ".qemu.log")
            processes.append((qemu, serial))
        }
        func serials() -> [String] { processes.map { plainText((try? String(contentsOfFile: $0.1, encoding: .isoLatin1)) ?? "") } }
        _ = TestServer.waitFor(seconds: seconds) { serials().allSatisfy(done) || processes.allSatisfy { !$0.0.isRunning } }
        return serials()
    }

    /// Whether `serial` holds a whole line (ended) containing `text`: the console is read while
    /// the machine is still writing it.
    public static func hasLine(_ text: String, in serial: String) -> Bool {
        guard let found = serial.range(of: text) else { return false }
        return serial[found.upperBound...].contains("\n")
    }
}
