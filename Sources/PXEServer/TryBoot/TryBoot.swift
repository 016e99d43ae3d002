import ArgumentParser
import Foundation

/// `pxe-catalog try-boot`: boots a virtual machine with Debian's iPXE from a running server and
/// says whether what it booted came up.
///
/// The guest gets QEMU's user network in restricted mode: it can reach nothing but one forwarded
/// address, 10.0.2.100:80, which leads to the server under test (a per-connection forwarder,
/// `pxe-catalog forward`, started by QEMU). That isolates the guest without root, and reaches a
/// server on the host's loopback, which a private network namespace could not.
struct TryBoot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "try-boot",
        abstract: "Boot a QEMU machine with iPXE from a running server, show its console, and report whether it came up.",
        discussion: """
        Exit status 0 when the guest reports success: a pxe-catalog marker line (the demo \
        containers print one) or a Linux kernel's banner for other containers; 1 with the reason \
        on timeout, on a failed boot, or when QEMU stops first. Needs qemu-system-x86 and \
        ipxe-qemu (and ovmf for --uefi); software emulation unless --kvm.

        Examples:
          pxe-catalog try-boot http://127.0.0.1:8080/                  # the menu and its default
          pxe-catalog try-boot http://127.0.0.1:8080/ --entry 59cae45cc56e --uefi
        """)

    @Argument(help: ArgumentHelp("The server, as clients reach it: http://HOST[:PORT][/PATH].", valueName: "url")) var url: String
    @Option(help: ArgumentHelp("Boot this entry (its id) instead of going through the menu.", valueName: "id")) var entry: String?
    @Flag(help: "Boot with UEFI firmware (Debian's OVMF and iPXE's EFI ROM) instead of BIOS.") var uefi = false
    @Option(help: ArgumentHelp("Seconds to wait for the guest.", valueName: "seconds")) var timeout = 240
    @Option(help: ArgumentHelp("The machine's MAC address.", valueName: "mac")) var mac = "52:54:00:12:34:56"
    @Option(help: ArgumentHelp("Memory of the machine in MiB (default 256; 1024 for --lab --uefi, whose machines boot Debian's shim and GRUB: a Debian kernel does not unpack itself in 256 MiB after them).", valueName: "mib"))
    var memory: Int?
    @Option(name: .customLong("success"), help: ArgumentHelp("Another line that means success; repeat for more.", valueName: "text"))
    var successMarkers: [String] = []
    @Flag(help: "Do not show the console, only the verdict.") var quiet = false
    @Flag(help: "Use KVM instead of software emulation (where /dev/kvm works: inside some VMs it exists but crashes the guest).") var kvm = false
    @Option(help: ArgumentHelp("Boot on the bridge of this network namespace (`make lab` makes `pxe-lab`): the machine's firmware asks the lab's DHCP server, as on a real network, instead of QEMU's user network handing iPXE the URL. Needs root.", valueName: "namespace"))
    var lab: String?
    @Option(help: ArgumentHelp("With --lab: the bridge the machine's tap joins.", valueName: "bridge")) var bridge = "pxelab0"
    @Option(help: ArgumentHelp("With --lab --uefi: the OVMF variable store to start from (one with an HTTP Boot BootNext makes the machine boot by UEFI HTTP Boot).", valueName: "file"))
    var uefiVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
    @Flag(help: "With --lab --uefi: Secure Boot on (Debian's OVMF with Microsoft's keys enrolled); the machine boots Debian's signed shim and GRUB.")
    var secureBoot = false

    static let defaultSuccessMarkers = ["PXE-CATALOG-BOOTED", "PXE-CATALOG-DISK-BOOTED"]
    /// A kernel that starts is success for containers that print no marker of ours: after its
    /// banner, a marker is awaited this long (or until the guest powers off).
    static let kernelBanner = "Linux version "
    static let markerGrace: TimeInterval = 45
    static let failureMarkers = ["could not boot", "Could not boot", "is not ready to boot", "No bootable device", "Exec format error"]
    static let guestAddress = "10.0.2.100"

    func validate() throws {
        if lab != nil && entry != nil { throw ValidationError("--entry cannot go with --lab: the lab's DHCP server decides what the machine boots (the menu).") }
        if let memory, !(64...65536).contains(memory) { throw ValidationError("--memory \(memory) is not a machine's memory: give 64 to 65536 MiB.") }
        if secureBoot && (lab == nil || !uefi) { throw ValidationError("--secure-boot goes with --lab and --uefi: Secure Boot machines boot Debian's shim and GRUB from the lab's TFTP server.") }
        if let lab, lab.isEmpty || !lab.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) { throw ValidationError("--lab \(lab) is not a network namespace name.") }
        guard Self.target(url) != nil else { throw ValidationError("\(url) is not an http:// URL with a host (https is not something iPXE here can boot from).") }
        if let entry, !entry.allSatisfy({ $0.isHexDigit }) || entry.count != 12 { throw ValidationError("--entry \(entry) is not a 12-hex-digit entry id.") }
        guard mac.split(separator: ":").count == 6, mac.split(separator: ":").allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }) else {
            throw ValidationError("--mac \(mac) is not a MAC address such as 52:54:00:12:34:56.")
        }
    }

    /// Host, port and path prefix of an http:// URL.
    static func target(_ url: String) -> (host: String, port: Int, path: String)? {
        guard url.hasPrefix("http://") else { return nil }
        var rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        rest = rest[slash...]
        var path = String(rest)
        while path.hasSuffix("/") { path.removeLast() }
        var host = String(authority), port = 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65535).contains(number) else { return nil }
            host = String(authority[..<colon])
            port = number
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port, path)
    }

    func run() throws {
        let (host, port, path) = Self.target(url)!
        let qemu = "/usr/bin/qemu-system-x86_64"
        guard FileManager.default.isExecutableFile(atPath: qemu) else {
            PXECatalogCommand.printError("try-boot needs QEMU: install qemu-system-x86 and ipxe-qemu.")
            throw ExitCode.failure
        }
        let efiROM = "/usr/lib/ipxe/qemu/efi-e1000.rom", ovmf = "/usr/share/ovmf/OVMF.fd"
        if uefi, !FileManager.default.fileExists(atPath: ovmf) || !FileManager.default.fileExists(atPath: efiROM) {
            PXECatalogCommand.printError("--uefi needs \(ovmf) (Debian's ovmf) and \(efiROM) (ipxe-qemu).")
            throw ExitCode.failure
        }
        let scratch = NSTemporaryDirectory() + "/pxe-catalog-try-boot-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let serialPath = scratch + "/serial.log"
        var bootFile = "http://\(Self.guestAddress)\(path)/pxe/\(entry.map { "\($0)/" } ?? "")boot.ipxe"
        let memoryMiB = memory ?? (lab != nil && uefi ? 1024 : 256)
        var arguments = ["-m", String(memoryMiB), "-display", "none", "-monitor", "none", "-serial", "file:\(serialPath)", "-boot", "n", "-no-reboot"]
        var executable = qemu
        var tap: String?
        if let lab {
            // A real network: a tap on the lab's bridge; the firmware does DHCP itself. UEFI: OVMF
            // with its own network stack (no option ROM); BIOS: the NIC's iPXE ROM.
            let name = "pxetry\(getpid() % 100_000)"
            try Self.ip(["-n", lab, "tuntap", "add", "dev", name, "mode", "tap"])
            tap = name
            try Self.ip(["-n", lab, "link", "set", name, "master", bridge, "up"])
            bootFile = "(the lab's DHCP server)"
            if uefi && secureBoot {
                try FileManager.default.copyItem(atPath: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", toPath: scratch + "/vars.fd")
                arguments += ["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on",
                              "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.ms.fd",
                              "-drive", "if=pflash,format=raw,unit=1,file=\(scratch)/vars.fd"]
            } else if uefi {
                try FileManager.default.copyItem(atPath: uefiVars, toPath: scratch + "/vars.fd")
                arguments += ["-machine", "q35", "-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                              "-drive", "if=pflash,format=raw,file=\(scratch)/vars.fd"]
            } else {
                arguments += ["-machine", "pc,graphics=off", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
            }
            arguments += ["-netdev", "tap,id=net0,ifname=\(name),script=no,downscript=no",
                          "-device", "virtio-net-pci,netdev=net0,mac=\(mac)" + (uefi ? ",romfile=" : "")]
            executable = "/usr/sbin/ip"
            arguments = ["netns", "exec", lab, qemu] + arguments
        } else {
            let myself = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            // QEMU splits -netdev options at commas: the forwarder's command must not hold one.
            let forwarder = "\(myself) forward \(host) \(port)"
            arguments += uefi
                ? ["-machine", "q35", "-bios", ovmf]
                : ["-machine", "pc,graphics=off", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
            arguments += [
                "-netdev", "user,id=net0,restrict=on,bootfile=\(bootFile),guestfwd=tcp:\(Self.guestAddress):80-cmd:\(forwarder)",
                "-device", "e1000,netdev=net0,mac=\(mac)" + (uefi ? ",romfile=\(efiROM)" : ""),
            ]
        }
        defer { if let lab, let tap { try? Self.ip(["-n", lab, "link", "del", tap]) } }
        if kvm { arguments += ["-accel", "kvm"] }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: scratch + "/qemu.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: scratch + "/qemu.log")
        if !quiet { FileHandle.standardOutput.write(Data("try-boot: \(uefi ? "UEFI" : "BIOS") machine \(mac) boots \(bootFile) (= \(url)); console follows.\n".utf8)) }
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                for _ in 0..<200 where process.isRunning { usleep(25_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            process.waitUntilExit()
        }
        let started = Date()
        let verdict = watch(serialPath: serialPath, process: process, markers: Self.defaultSuccessMarkers + successMarkers)
        switch verdict {
        case let .success(line, booted):
            // The last line says what came up: the entry the menu (or the entry script) booted.
            let seconds = Int(Date().timeIntervalSince(started).rounded())
            let what = booted.map { "\"\($0)\"" } ?? "the guest"
            FileHandle.standardOutput.write(Data("\ntry-boot: \(what) came up on \(uefi ? "UEFI" : "BIOS") in \(seconds) s: \(line)\n".utf8))
        case let .failure(reason):
            let qemuLog = (try? String(contentsOfFile: scratch + "/qemu.log", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            PXECatalogCommand.printError("\ntry-boot: \(reason)\(qemuLog.isEmpty ? "" : "\nQEMU said: \(qemuLog)")")
            throw ExitCode.failure
        }
    }

    /// Runs `ip arguments`; throws with ip's own message when it fails.
    static func ip(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            PXECatalogCommand.printError("try-boot: ip \(arguments.joined(separator: " ")) failed: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
            throw ExitCode.failure
        }
    }

    enum Verdict: Equatable {
        /// The line that showed success, and the entry's name as the boot script announced it.
        case success(String, booted: String?)
        case failure(String)
    }

    /// The name in the line iPXE prints before it boots an entry (`echo Booting NAME ...`,
    /// from the menu or an entry's script).
    static func bootedName(_ line: String) -> String? {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("Booting "), text.hasSuffix(" ..."), text != "Booting from local disk ..." else { return nil }
        let name = text.dropFirst("Booting ".count).dropLast(" ...".count)
        return name.isEmpty ? nil : String(name)
    }

    /// Follows the serial console until a marker, QEMU's exit or the timeout.
    func watch(serialPath: String, process: Process, markers: [String]) -> Verdict {
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        var shown = 0
        var text = ""
        var banner: (line: String, at: Date)?
        var booted: String?
        while true {
            // Checked before the console is read: output written just before QEMU exits is seen.
            let stopped = !process.isRunning
            if let data = FileManager.default.contents(atPath: serialPath), data.count > shown {
                let fresh = data[shown...]
                shown = data.count
                if !quiet { FileHandle.standardOutput.write(fresh) }
                text += String(decoding: fresh, as: UTF8.self)
                // Whole lines only (a marker may arrive in two pieces), unless QEMU is gone.
                var complete = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
                if !stopped, !(text.last?.isNewline ?? true) { complete.removeLast() }
                let lines = complete.map { $0.replacingOccurrences(of: "\u{1B}\\[[0-9;?]*[A-Za-z]", with: "", options: .regularExpression) }
                if let name = lines.compactMap(Self.bootedName).last { booted = name }
                if let line = lines.first(where: { line in markers.contains { line.contains($0) } }) { return .success(line.trimmingCharacters(in: .whitespaces), booted: booted) }
                if banner == nil, let line = lines.first(where: { $0.contains(Self.kernelBanner) }) {
                    banner = (String(line[line.range(of: Self.kernelBanner)!.lowerBound...]), Date())
                }
                if let line = lines.first(where: { line in Self.failureMarkers.contains { line.contains($0) } }) {
                    return .failure("the boot failed: \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
            if let banner, stopped || Date().timeIntervalSince(banner.at) > Self.markerGrace { return .success(banner.line, booted: booted) }
            if stopped { return .failure("QEMU stopped (status \(process.terminationStatus)) before the guest reported success.") }
            if Date() > deadline {
                let tail = text.split(whereSeparator: \.isNewline).suffix(5).joined(separator: "\n")
                return .failure("no success within \(timeout) s. Last console lines:\n\(tail)")
            }
            usleep(100_000)
        }
    }
}

/// `pxe-catalog forward HOST PORT` (for QEMU's guest forwarding): copies standard input to a TCP
/// connection and the connection to standard output, until both sides are done.
struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pipe standard input and output to a TCP connection (used by try-boot).",
                                                    shouldDisplay: false)

    @Argument var host: String
    @Argument var port: Int

    func run() throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else { throw ExitCode.failure }
        defer { freeaddrinfo(found) }
        var connected: Int32 = -1
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let candidate = cursor, connected < 0 {
            let fd = socket(candidate.pointee.ai_family, candidate.pointee.ai_socktype, candidate.pointee.ai_protocol)
            if fd >= 0, connect(fd, candidate.pointee.ai_addr, candidate.pointee.ai_addrlen) == 0 { connected = fd } else if fd >= 0 { close(fd) }
            cursor = candidate.pointee.ai_next
        }
        guard connected >= 0 else { throw ExitCode.failure }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var inputOpen = true, outputOpen = true
        while outputOpen {
            var fds = [pollfd(fd: connected, events: Int16(POLLIN), revents: 0)]
            if inputOpen { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 || errno == EINTR else { break }
            if fds[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(connected, $0.baseAddress, $0.count) }
                if n <= 0 { outputOpen = false } else if !Self.writeAll(1, buffer, n) { break }
            }
            if fds.count > 1, fds[1].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                if n <= 0 {
                    inputOpen = false
                    shutdown(connected, Int32(SHUT_WR))
                } else if !Self.writeAll(connected, buffer, n) {
                    break
                }
            }
        }
        close(connected)
    }

    static func writeAll(_ fd: Int32, _ buffer: [UInt8], _ count: Int) -> Bool {
        var done = 0
        while done < count {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + done, count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }
}
