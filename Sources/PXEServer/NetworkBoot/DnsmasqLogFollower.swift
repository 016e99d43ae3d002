import BackgroundServices
import BootScripts
import Foundation
import Locking
import Logging
import PXEHosts

/// Follows dnsmasq's log file (`dhcp.log_file`) on a thread of its own and puts what dnsmasq
/// answered each machine (DHCP, TFTP) into the boot log, so that `/boots` and `/hosts/{mac}`
/// show a machine that never got past DHCP. It starts at the file's end (history before the
/// worker started is not replayed), follows rotation (a new file at the path, as the shipped
/// logrotate configuration does it) and truncation (noticed when the file is shorter than what
/// was read),
/// waits for a file that is not there yet, reads at most `chunkBytes` per turn and drops lines
/// longer than `maximumLineBytes`: dnsmasq never waits for it, and a hostile log costs bounded
/// memory. It stops within one poll when asked.
final class DnsmasqLogFollower: BackgroundService, Sendable {
    let name = "dnsmasq-log"
    static let pollInterval: useconds_t = 250_000
    static let chunkBytes = 256 * 1024
    static let maximumLineBytes = 8192

    let path: String
    private let bootLog: BootLog
    private let logger: Logger
    private let readerTemplate: DnsmasqLogReader
    private let nextBoots: NextBootBook?
    private let stopping = Locked(false)
    private let thread = Locked<ServiceThread?>(nil)

    /// `nextBoots`: the one-shots a machine takes when GRUB fetches its entry's kernel by TFTP.
    init(path: String, reader: DnsmasqLogReader, bootLog: BootLog, nextBoots: NextBootBook? = nil, logger: Logger) {
        self.path = path
        readerTemplate = reader
        self.bootLog = bootLog
        self.nextBoots = nextBoots
        self.logger = logger
    }

    /// The follower for `configuration` (nil when `dhcp.mode` is off).
    static func make(_ configuration: Configuration, bootLog: BootLog, nextBoots: NextBootBook? = nil, logger: Logger) -> DnsmasqLogFollower? {
        guard configuration.dhcp.mode != .off else { return nil }
        let reader = DnsmasqLogReader(loaders: .init(bios: configuration.dhcp.biosLoader, uefi: configuration.dhcp.uefiFirstLoader),
                                      tftpRoot: configuration.effectiveTFTPRoot, neighbour: NeighbourTable.mac(of:))
        return DnsmasqLogFollower(path: configuration.dhcp.logFile, reader: reader, bootLog: bootLog, nextBoots: nextBoots, logger: logger)
    }

    func start() {
        // Where reading starts is decided now, not when the thread first looks: the end of the
        // file that is there (history before this worker is not replayed), or the start of one
        // that appears later.
        var info = stat()
        let startAt = stat(path, &info) == 0 ? (inode: UInt64(info.st_ino), offset: off_t(info.st_size)) : nil
        thread.withLock { $0 = ServiceThread(name: name) { [self] in run(startAt: startAt) } }
    }

    /// Stops within one poll; waits for the thread until `deadline`.
    func stop(deadline: ContinuousClock.Instant) -> Bool {
        stopping.withLock { $0 = true }
        return thread.withLock { $0 }?.waitUntilFinished(deadline: deadline) ?? true
    }

    /// `stop(deadline:)` with 5 seconds.
    func stop() { _ = stop(deadline: .now + .seconds(5)) }

    private var isStopping: Bool { stopping.withLock { $0 } }

    private func run(startAt: (inode: UInt64, offset: off_t)?) {
        var reader = readerTemplate
        var file: (fd: Int32, inode: UInt64)?
        var pending: [UInt8] = []
        var skippingLongLine = false
        var firstOpen = true
        var warnedMissing = false
        var buffer = [UInt8](repeating: 0, count: Self.chunkBytes)
        defer { if let file { close(file.fd) } }

        while !isStopping {
            if file == nil {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                if fd >= 0 {
                    var info = stat()
                    fstat(fd, &info)
                    if firstOpen, let startAt, startAt.inode == UInt64(info.st_ino) { lseek(fd, startAt.offset, SEEK_SET) }
                    file = (fd, UInt64(info.st_ino))
                    firstOpen = false
                    warnedMissing = false
                } else if !warnedMissing {
                    logger.notice("waiting for dnsmasq's log \(path) (dhcp.log_file): DHCP and TFTP events reach the boot log once pxe-catalog-dnsmasq writes it")
                    warnedMissing = true
                    firstOpen = false
                }
            }
            var readSomething = false
            if let current = file {
                let count = buffer.withUnsafeMutableBytes { read(current.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    readSomething = true
                    let now = Date().timeIntervalSince1970
                    var start = 0
                    for index in 0..<count where buffer[index] == UInt8(ascii: "\n") {
                        if !skippingLongLine {
                            pending += buffer[start..<index]
                            record(reader.read(line: Substring(String(decoding: pending, as: UTF8.self)), now: now))
                        }
                        pending.removeAll(keepingCapacity: true)
                        skippingLongLine = false
                        start = index + 1
                    }
                    if !skippingLongLine { pending += buffer[start..<count] }
                    if pending.count > Self.maximumLineBytes {
                        pending.removeAll()
                        skippingLongLine = true
                    }
                } else {
                    // At the end: a truncated file starts over, a rotated one (another file at
                    // the path now) is read from its start once the old one is drained.
                    var onDisk = stat(), open = stat()
                    fstat(current.fd, &open)
                    let offset = lseek(current.fd, 0, SEEK_CUR)
                    if offset > open.st_size {
                        lseek(current.fd, 0, SEEK_SET)
                        pending.removeAll()
                    } else if stat(path, &onDisk) != 0 || UInt64(onDisk.st_ino) != current.inode {
                        close(current.fd)
                        file = nil
                        pending.removeAll()
                    }
                }
            }
            record(reader.flush(now: Date().timeIntervalSince1970))
            if !readSomething { usleep(Self.pollInterval) }
        }
        record(reader.flush(now: Date().timeIntervalSince1970, force: true))
    }

    private func record(_ events: [NetworkBootEvent]) {
        for event in events {
            bootLog.record(event)
            if let (entry, part) = Self.bootPart(event) { recordBootPart(event, entry: entry, part: part) }
        }
    }

    /// The entry and part (`kernel`, `initrd`) of a boot part GRUB fetched by TFTP
    /// (`pxe-catalog/<id>/kernel`); nil for any other event.
    static func bootPart(_ event: NetworkBootEvent) -> (entry: String, part: String)? {
        guard event.kind == .tftp, let given = event.given, given.hasPrefix(GRUBScripts.partsDirectory + "/") else { return nil }
        let pieces = given.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count == 3, pieces[2] == "kernel" || pieces[2] == "initrd" else { return nil }
        return (String(pieces[1]), String(pieces[2]))
    }

    /// A kernel or initrd sent by TFTP is a step of a boot, as its HTTP download is; the kernel
    /// takes the machine's one-shot when it is for that entry (once: its file goes back to the
    /// shared menu, which the GRUB tree writer sees).
    private func recordBootPart(_ event: NetworkBootEvent, entry: String, part: String) {
        var outcome = "tftp"
        if part == "kernel", event.status == 200, let nextBoots, nextBoots.pending[event.mac]?.entry == entry,
           nextBoots.take(mac: event.mac) != nil {
            outcome = "tftp, next-boot"
        }
        bootLog.record(MachineIdentity(mac: event.mac, platform: "efi"), kind: part == "kernel" ? .kernel : .initrd, entry: entry,
                       status: event.status, outcome: outcome, address: event.address)
    }
}

/// The kernel's IPv4 neighbour table (`/proc/net/arp`): the MAC behind an address that talked
/// to this host, for TFTP transfers to machines whose address the site's DHCP server gave.
enum NeighbourTable {
    static func mac(of address: String) -> String? {
        guard let table = ProcessTuning.procFile("/proc/net/arp") else { return nil }
        // IP address  HW type  Flags  HW address  Mask  Device
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 4, fields[0] == address, fields[3] != "00:00:00:00:00:00" {
                return MachineIdentity.normalisedMAC(String(fields[3]))
            }
        }
        return nil
    }
}
